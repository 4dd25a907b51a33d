//! Stable identifiers. Ids are small integers assigned in scenario order, so
//! they never depend on spawn history or thread timing.

use bevy_ecs::prelude::{Entity, Resource};

/// An agent's stable id: `0..n_agents`, assigned in population order.
///
/// Settlement order, RNG seeds and output rows key on this, never on
/// [`bevy_ecs::entity::Entity`] bits, which depend on spawn history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub u64);

impl AgentId {
    /// The sender id of transactions a contract sends itself
    /// ([`Contract::orders`](super::contract::Contract::orders)):
    /// `u64::MAX − contract index`, far above any agent's id.
    pub fn of_contract(contract: ContractId) -> AgentId {
        AgentId(u64::MAX - u64::from(contract.0))
    }
}

/// Which entity each agent is: agents' entities are allocated together,
/// in id order, so agent `i` is entity index `first + i` and no id is
/// stored per agent (it would cost 16 bytes each with its change ticks).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentEntities {
    /// Entity index of agent 0.
    pub first: u32,
}

impl AgentEntities {
    /// The id of agent entity `e`.
    #[inline]
    pub fn id(&self, e: Entity) -> AgentId {
        AgentId(u64::from(e.index_u32().wrapping_sub(self.first)))
    }
}

/// Index of a contract in the scenario (file order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContractId(pub u16);

/// Index of an asset in the scenario's `assets` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssetId(pub u8);

/// Index of a wallet slot: assets first, then per-agent positions
/// (for example a staking pool's staked balance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotId(pub u8);

impl From<AssetId> for SlotId {
    fn from(a: AssetId) -> Self {
        SlotId(a.0)
    }
}

/// Index of a non-agent account in the [`Ledger`](super::Ledger): one per
/// contract (same index as its [`ContractId`]) plus named accounts such as
/// `hatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u16);
