//! Per-slot sums and minima over every agent's wallet: computed once a
//! tick by the Accrue pass, read by the Check phase. Its own module so
//! that `accrue` and `check` depend on it and not on each other.

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::ledger::MAX_SLOTS;
use super::wallets::{WalletSlice, Wallets};

/// Wallets per chunk of the parallel passes over every wallet (fixed, so
/// sums do not depend on the number of threads).
pub(crate) const CHUNK: usize = 8192;

/// Per-slot sum and minimum over all agents, computed by the Accrue
/// phase's pass over every wallet for the tick in `tick`.
#[derive(Resource, Clone, Copy, Debug)]
pub struct AgentTotals {
    /// Sum of each slot.
    pub sum: [f64; MAX_SLOTS],
    /// Smallest value of each slot (`+inf` with no agents).
    pub min: [f64; MAX_SLOTS],
    /// The tick these totals describe (0: none yet).
    pub tick: u32,
}

impl Default for AgentTotals {
    fn default() -> Self {
        AgentTotals::EMPTY
    }
}

impl AgentTotals {
    const EMPTY: AgentTotals =
        AgentTotals { sum: [0.0; MAX_SLOTS], min: [f64::INFINITY; MAX_SLOTS], tick: 0 };

    /// Combines the totals of two disjoint sets of wallets.
    pub fn merge(mut self, other: &AgentTotals) -> AgentTotals {
        for i in 0..MAX_SLOTS {
            self.sum[i] += other.sum[i];
            self.min[i] = self.min[i].min(other.min[i]);
        }
        self
    }

    /// Totals of one chunk of wallets.
    pub fn of(chunk: WalletSlice<'_>) -> AgentTotals {
        let mut t = AgentTotals::EMPTY;
        t.add(chunk);
        t
    }

    /// Adds `wallets` to these totals, one after the other (so adding a
    /// chunk in pieces gives the same sums as adding it whole).
    pub fn add(&mut self, wallets: WalletSlice<'_>) {
        for w in wallets.iter() {
            for ((sum, min), &b) in self.sum.iter_mut().zip(&mut self.min).zip(w.balances()) {
                *sum += b;
                *min = min.min(b);
            }
        }
    }

    /// Totals over every wallet. Sums fixed-size chunks in parallel and
    /// adds the partial sums in order, so the result does not depend on
    /// the number of threads.
    pub fn compute(wallets: &Wallets) -> AgentTotals {
        let parts: Vec<AgentTotals> = wallets.all().par_chunks(CHUNK).map(AgentTotals::of).collect();
        parts.iter().fold(AgentTotals::EMPTY, AgentTotals::merge)
    }
}
