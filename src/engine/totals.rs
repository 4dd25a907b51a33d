//! Per-slot sums and minima over every agent's wallet: computed once a
//! tick by the Accrue pass, read by the Check phase. Its own module so
//! that `accrue` and `check` depend on it and not on each other.

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::ledger::MAX_SLOTS;
use super::wallets::{WalletSlice, Wallets, with_width};

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
        with_width!(wallets.width(), W => self.add_rows(wallets.rows::<W>()))
    }

    /// [`add`](Self::add) for rows of a known width: the sums and minima
    /// stay in registers, each sum still adds the rows in id order.
    fn add_rows<const W: usize>(&mut self, rows: &[[f64; W]]) {
        let mut sum: [f64; W] = std::array::from_fn(|s| self.sum[s]);
        let mut min: [f64; W] = std::array::from_fn(|s| self.min[s]);
        for row in rows {
            for s in 0..W {
                sum[s] += row[s];
                // As `f64::min`: a NaN balance never becomes the minimum.
                if row[s] < min[s] {
                    min[s] = row[s];
                }
            }
        }
        self.sum[..W].copy_from_slice(&sum);
        self.min[..W].copy_from_slice(&min);
    }

    /// Totals over every wallet. Sums fixed-size chunks in parallel and
    /// adds the partial sums in order, so the result does not depend on
    /// the number of threads.
    pub fn compute(wallets: &Wallets) -> AgentTotals {
        let parts: Vec<AgentTotals> = wallets.all().par_chunks(CHUNK).map(AgentTotals::of).collect();
        parts.iter().fold(AgentTotals::EMPTY, AgentTotals::merge)
    }
}
