//! Intents: what agents ask the contracts to do. Behaviours write them in
//! Decide; the Settle phase applies them in a deterministic order.

use bevy_ecs::prelude::Component;

use super::ids::ContractId;

/// How much an intent moves: a fraction of the agent's balance at
/// settlement time, or an absolute amount.
///
/// Fractions let a decision made in parallel before the block stay valid
/// after the agent's earlier transactions in the same block settle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    /// Fraction in `[0, 1]` of the relevant balance when the intent settles.
    Fraction(f64),
    /// Absolute amount in the relevant unit (reserve asset for buys, tokens
    /// for sells and stakes).
    Units(f64),
}

impl Amount {
    /// The absolute amount given the balance it refers to.
    #[inline]
    pub fn resolve(self, balance: f64) -> f64 {
        match self {
            Amount::Fraction(f) => f * balance,
            Amount::Units(u) => u,
        }
    }
}

/// The kinds of action a contract may accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Pay reserve asset, receive tokens (bonding curve, AMM).
    Buy,
    /// Pay tokens, receive reserve asset.
    Sell,
    /// Lock liquid tokens into a position.
    Stake,
    /// Release a position back to liquid tokens.
    Unstake,
    /// A user-defined action; the code is the contract's business.
    Custom(u16),
}

impl Action {
    /// Lower-case name used in output and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::Buy => "buy",
            Action::Sell => "sell",
            Action::Stake => "stake",
            Action::Unstake => "unstake",
            Action::Custom(_) => "custom",
        }
    }
}

/// One transaction an agent wants to send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intent {
    /// The contract it is addressed to.
    pub contract: ContractId,
    /// What to do.
    pub action: Action,
    /// How much.
    pub amount: Amount,
}

const INLINE: usize = 4;

/// An agent's intents for the current tick, in the order it emitted them.
///
/// Up to four live inline (no allocation in the hot path); more spill to a
/// vector. Settlement drains it every tick.
#[derive(Component, Clone, Debug, Default)]
pub struct Intents {
    inline: [Option<Intent>; INLINE],
    len: u8,
    spill: Vec<Intent>,
}

impl Intents {
    /// Appends an intent.
    #[inline]
    pub fn push(&mut self, intent: Intent) {
        if (self.len as usize) < INLINE {
            self.inline[self.len as usize] = Some(intent);
            self.len += 1;
        } else {
            self.spill.push(intent);
        }
    }

    /// Whether there is nothing to settle.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pending intents.
    pub fn len(&self) -> usize {
        self.len as usize + self.spill.len()
    }

    /// Intent `i` in emission order.
    #[inline]
    pub fn get(&self, i: usize) -> Intent {
        if i < INLINE {
            self.inline[i].expect("intent index within len")
        } else {
            self.spill[i - INLINE]
        }
    }

    /// Forgets all intents (keeps the spill allocation).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }
}
