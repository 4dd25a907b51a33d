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

const INLINE: usize = 2;

/// An agent's intents for the current tick, in the order it emitted them.
///
/// Two live inline and more spill to the heap, so the component stays 48
/// bytes: Decide and Settle touch it for every agent every tick, and its
/// size is what keeps a large population in cache. Settlement drains it
/// every tick.
#[derive(Component, Clone, Debug, Default)]
pub struct Intents {
    inline: [Packed; INLINE],
    len: u8,
    spill: Option<Box<Vec<Intent>>>,
}

/// An [`Intent`] in 16 bytes (the enum layout takes 24).
#[derive(Clone, Copy, Debug, Default)]
struct Packed {
    value: f64,
    contract: u16,
    custom: u16,
    action: u8,
    fraction: bool,
}

impl Packed {
    #[inline]
    fn pack(i: Intent) -> Packed {
        let (action, custom) = match i.action {
            Action::Buy => (0, 0),
            Action::Sell => (1, 0),
            Action::Stake => (2, 0),
            Action::Unstake => (3, 0),
            Action::Custom(c) => (4, c),
        };
        let (value, fraction) = match i.amount {
            Amount::Fraction(f) => (f, true),
            Amount::Units(u) => (u, false),
        };
        Packed { value, contract: i.contract.0, custom, action, fraction }
    }

    #[inline]
    fn unpack(self) -> Intent {
        let action = match self.action {
            0 => Action::Buy,
            1 => Action::Sell,
            2 => Action::Stake,
            3 => Action::Unstake,
            _ => Action::Custom(self.custom),
        };
        let amount = if self.fraction { Amount::Fraction(self.value) } else { Amount::Units(self.value) };
        Intent { contract: ContractId(self.contract), action, amount }
    }
}

impl Intents {
    /// Appends an intent.
    #[inline]
    pub fn push(&mut self, intent: Intent) {
        if (self.len as usize) < INLINE {
            self.inline[self.len as usize] = Packed::pack(intent);
        } else {
            self.spill.get_or_insert_default().push(intent);
        }
        self.len = self.len.saturating_add(1);
    }

    /// Whether there is nothing to settle.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pending intents.
    pub fn len(&self) -> usize {
        INLINE.min(self.len as usize) + self.spill.as_ref().map_or(0, |s| s.len())
    }

    /// Intent `i` in emission order.
    #[inline]
    pub fn get(&self, i: usize) -> Intent {
        if i < INLINE {
            self.inline[i].unpack()
        } else {
            self.spill.as_ref().expect("spilled intents")[i - INLINE]
        }
    }

    /// Forgets all intents (keeps any spill allocation).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
        if let Some(spill) = &mut self.spill {
            spill.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_the_spill_and_stays_small() {
        let mut it = Intents::default();
        let actions = [Action::Buy, Action::Sell, Action::Stake, Action::Unstake, Action::Custom(7)];
        let intent = |i: u16| Intent {
            contract: ContractId(i),
            action: actions[i as usize],
            amount: if i % 2 == 0 { Amount::Units(i as f64) } else { Amount::Fraction(0.5) },
        };
        for i in 0..5 {
            it.push(intent(i));
        }
        assert_eq!(it.len(), 5);
        assert_eq!((0..5).map(|i| it.get(i)).collect::<Vec<_>>(), (0..5).map(intent).collect::<Vec<_>>());
        it.clear();
        assert!(it.is_empty() && it.len() == 0);
        it.push(intent(4));
        assert_eq!((it.len(), it.get(0)), (1, intent(4)));
        assert!(std::mem::size_of::<Intents>() <= 48, "{}", std::mem::size_of::<Intents>());
    }
}
