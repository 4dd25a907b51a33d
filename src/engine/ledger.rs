//! Balances: every contract's account in the [`Ledger`], the wallet
//! layout, plus the issuance counters that make conservation checkable.

use bevy_ecs::prelude::Resource;

use super::ids::{AccountId, AssetId, SlotId};

/// The most wallet slots (assets plus positions) a scenario may declare.
///
/// Fixed so a contract's account is a flat `Copy` array; an agent's
/// wallet is exactly as wide as the scenario's slots
/// ([`Wallets`](super::wallets::Wallets)).
pub const MAX_SLOTS: usize = 8;

/// What a wallet slot holds.
#[derive(Clone, Debug, PartialEq)]
pub enum SlotKind {
    /// A transferable asset, conserved across the whole system.
    Asset,
    /// A position in a contract (e.g. tokens staked in a pool); its backing
    /// assets sit in that contract's account.
    Position {
        /// Name of the contract the position lives in.
        contract: String,
        /// The asset that backs each unit one for one in the contract's
        /// account (staked or locked tokens), if any. A population may
        /// start with a backed position; the backing is issued to the
        /// contract.
        backing: Option<AssetId>,
    },
}

/// One wallet slot: its output column name and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotDef {
    /// Name as written in the scenario (`DAI`, `staked`).
    pub name: String,
    /// Asset or position.
    pub kind: SlotKind,
}

/// The wallet layout of a world: assets are slots `0..n_assets`, positions
/// follow.
#[derive(Resource, Clone, Debug, Default)]
pub struct SlotTable {
    /// All slots in index order.
    pub slots: Vec<SlotDef>,
    /// How many of the leading slots are assets.
    pub n_assets: usize,
}

impl SlotTable {
    /// Asset ids in index order.
    pub fn assets(&self) -> impl Iterator<Item = AssetId> + '_ {
        (0..self.n_assets).map(|i| AssetId(i as u8))
    }

    /// Name of `slot`.
    pub fn name(&self, slot: impl Into<SlotId>) -> &str {
        &self.slots[slot.into().0 as usize].name
    }

    /// Output column name of a slot: lower snake case (`DAI` → `dai`).
    pub fn column(&self, slot: impl Into<SlotId>) -> String {
        column_name(self.name(slot))
    }
}

/// Lower-cases a name and replaces anything not alphanumeric by `_`, so it
/// is a friendly Parquet/Polars column name.
pub fn column_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// The per-agent table's columns that are not slots: no asset or position
/// may have one of these column names.
pub const AGENT_ROW_KEYS: [&str; 3] = ["run_id", "tick", "agent_id"];

/// Why `name` cannot name a new wallet slot beside `slots`, if it cannot:
/// slots are columns of the per-agent table (by [`column_name`]), so two
/// with one column name, or one named like a key column, would collide.
pub fn slot_name_clash(slots: &[SlotDef], name: &str) -> Option<String> {
    let column = column_name(name);
    if let Some(other) = slots.iter().find(|s| column_name(&s.name) == column) {
        return Some(if other.name == name {
            format!("a wallet slot called `{name}` already exists; choose another name")
        } else {
            format!(
                "`{name}` and the wallet slot `{}` would both be column `{column}`; choose another name",
                other.name
            )
        });
    }
    AGENT_ROW_KEYS.contains(&column.as_str()).then(|| {
        format!(
            "`{name}` would be column `{column}`, a key column of every per-agent row ({}); choose another name",
            AGENT_ROW_KEYS.join(", ")
        )
    })
}

/// A non-agent account: a contract's own balances or a named holder such as
/// `hatch`.
#[derive(Clone, Debug)]
pub struct Account {
    /// Account name (the contract's name for contract accounts).
    pub name: String,
    /// Balance per asset slot.
    pub balances: [f64; MAX_SLOTS],
}

/// All non-agent accounts, and per asset how much exists in total.
///
/// `issued[a]` grows by genesis balances and mints and shrinks by burns, so
/// "every unit of `a` held anywhere sums to `issued[a]`" is the conservation
/// law the engine checks every tick.
#[derive(Resource, Clone, Debug, Default)]
pub struct Ledger {
    /// Accounts by [`AccountId`].
    pub accounts: Vec<Account>,
    /// Total outstanding amount of each asset.
    pub issued: [f64; MAX_SLOTS],
    /// Everything ever created of each asset (genesis and mints, burns not
    /// subtracted): its change over a tick is that tick's issuance,
    /// whichever contract minted, so metrics built on it agree between
    /// contracts sharing a token.
    pub minted: [f64; MAX_SLOTS],
}

impl Ledger {
    /// Balance of `asset` in `account`.
    #[inline]
    pub fn balance(&self, account: AccountId, asset: AssetId) -> f64 {
        self.accounts[account.0 as usize].balances[asset.0 as usize]
    }

    /// Mutable balance of `asset` in `account`.
    #[inline]
    pub fn balance_mut(&mut self, account: AccountId, asset: AssetId) -> &mut f64 {
        &mut self.accounts[account.0 as usize].balances[asset.0 as usize]
    }

    /// Moves `amount` of `asset` between two accounts.
    #[inline]
    pub fn transfer(&mut self, from: AccountId, to: AccountId, asset: AssetId, amount: f64) {
        *self.balance_mut(from, asset) -= amount;
        *self.balance_mut(to, asset) += amount;
    }

    /// Creates `amount` of `asset` in `account` (mint or genesis).
    #[inline]
    pub fn issue(&mut self, account: AccountId, asset: AssetId, amount: f64) {
        *self.balance_mut(account, asset) += amount;
        self.issued[asset.0 as usize] += amount;
        self.minted[asset.0 as usize] += amount;
    }

    /// Records that `amount` of `asset` was minted straight into an agent
    /// wallet (the caller credits the wallet).
    #[inline]
    pub fn record_mint(&mut self, asset: AssetId, amount: f64) {
        self.issued[asset.0 as usize] += amount;
        self.minted[asset.0 as usize] += amount;
    }

    /// Records that `amount` of `asset` was burnt from an agent wallet (the
    /// caller debits the wallet).
    #[inline]
    pub fn record_burn(&mut self, asset: AssetId, amount: f64) {
        self.issued[asset.0 as usize] -= amount;
    }

    /// Looks an account up by name.
    pub fn find(&self, name: &str) -> Option<AccountId> {
        self.accounts.iter().position(|a| a.name == name).map(|i| AccountId(i as u16))
    }
}
