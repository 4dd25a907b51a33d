//! Putting a population's agents into the world with all their components
//! at once, a step of agents at a time.
//!
//! bevy keeps a table per set of components and never gives a table's
//! memory back. Spawning every agent with its wallet, then inserting each
//! behaviour into all of them, would leave one table per stage holding the
//! whole population (≈ 650 bytes per agent for `market` instead of ≈ 200).
//! Here behaviours are sampled first ([`Pending`]), then agents go through
//! the stages [`STEP`] at a time, so the intermediate tables only ever hold
//! one step.

use bevy_ecs::bundle::{Bundle, NoBundleEffect};
use bevy_ecs::prelude::*;

/// Agents moved through the intermediate tables at a time.
const STEP: usize = 16_384;

/// Bytes of sampled components per block of a [`Pending`] column: large
/// enough that the allocator maps each block on its own and returns it to
/// the system when it is dropped.
const BLOCK_BYTES: usize = 64 << 20;

/// A behaviour's components, one per agent in id order, waiting to be
/// inserted.
pub(crate) trait PendingColumn {
    /// Inserts the components of the next `entities.len()` agents.
    fn insert_next(&mut self, world: &mut World, entities: &[Entity]);
}

/// The components of one behaviour type, in blocks freed as they are
/// inserted.
pub(crate) struct Pending<B> {
    /// Blocks not started, the next one last.
    blocks: Vec<Vec<B>>,
    current: std::vec::IntoIter<B>,
}

impl<B> Pending<B> {
    /// `n` components from `make`, called once per agent in id order.
    pub(crate) fn sample(n: usize, make: impl FnMut() -> B) -> Self {
        Self::sample_in_blocks(n, (BLOCK_BYTES / size_of::<B>().max(1)).max(1), make)
    }

    fn sample_in_blocks(n: usize, per_block: usize, mut make: impl FnMut() -> B) -> Self {
        let mut blocks = Vec::with_capacity(n.div_ceil(per_block));
        let mut left = n;
        while left > 0 {
            let k = left.min(per_block);
            blocks.push((0..k).map(|_| make()).collect());
            left -= k;
        }
        blocks.reverse();
        Pending { blocks, current: Vec::new().into_iter() }
    }

    fn next(&mut self) -> B {
        loop {
            if let Some(b) = self.current.next() {
                return b;
            }
            self.current = self.blocks.pop().expect("one component per agent").into_iter();
        }
    }
}

impl<B: Component> PendingColumn for Pending<B> {
    fn insert_next(&mut self, world: &mut World, entities: &[Entity]) {
        world.insert_batch(entities.iter().map(|&e| (e, self.next())));
    }
}

/// Spawns `entities` (allocated, not spawned yet, in id order) with the
/// bundle `base` returns for each in turn, then gives them every pending
/// column's components, [`STEP`] agents at a time. Agents end up in their
/// final table in id order.
pub(crate) fn spawn_agents<Base>(
    world: &mut World,
    entities: &[Entity],
    mut base: impl FnMut() -> Base,
    columns: &mut [Box<dyn PendingColumn + '_>],
) where
    Base: Bundle<Effect: NoBundleEffect>,
{
    for step in entities.chunks(STEP) {
        for &e in step {
            world.spawn_at(e, base()).expect("an allocated entity spawns");
        }
        for column in columns.iter_mut() {
            column.insert_next(world, step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Component, Clone, Copy, Debug, PartialEq)]
    struct A(u64);
    #[derive(Component, Clone, Copy, Debug, PartialEq)]
    struct B(u64);
    #[derive(Component, Clone, Copy, Debug, PartialEq)]
    struct C(u32);

    #[test]
    fn every_agent_gets_its_own_components_in_one_final_table() {
        let mut world = World::new();
        let n = 2 * STEP + 5;
        let entities: Vec<Entity> = world.entity_allocator().alloc_many(n as u32).collect();
        let mut k = 0;
        let (mut kb, mut kc) = (0u64, 0u32);
        let mut columns: Vec<Box<dyn PendingColumn>> = vec![
            Box::new(Pending::sample(n, || {
                kb += 1;
                B(kb * 10)
            })),
            Box::new(Pending::sample(n, || {
                kc += 1;
                C(kc)
            })),
        ];
        spawn_agents(
            &mut world,
            &entities,
            || {
                k += 1;
                A(k)
            },
            &mut columns,
        );
        let mut q = world.query::<(&A, &B, &C)>();
        for (i, &e) in entities.iter().enumerate() {
            let (a, b, c) = q.get(&world, e).expect("all three components");
            let id = i as u64 + 1;
            assert_eq!((a.0, b.0, u64::from(c.0)), (id, 10 * id, id));
        }
        // Table order is id order: the passes over tables see agents by id.
        let in_table: Vec<u64> = q.iter(&world).map(|(a, _, _)| a.0).collect();
        assert_eq!(in_table, (1..=n as u64).collect::<Vec<_>>());
    }

    #[test]
    fn blocks_hand_out_rows_in_order_across_block_boundaries() {
        let mut k = 0u32;
        let mut p = Pending::sample_in_blocks(7, 3, || {
            k += 1;
            k
        });
        assert_eq!(p.blocks.len(), 3);
        for i in 1..=7 {
            assert_eq!(p.next(), i);
        }
    }

    #[test]
    fn a_built_world_keeps_no_population_sized_intermediate_table() {
        use crate::engine::build::RunSpec;
        use crate::engine::sim::Simulation;
        let n = 10 * STEP;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/market.toml");
        let scenario = crate::scenario::LoadedScenario::load(&path)
            .expect("market")
            .with_overrides(&[("populations.traders.count".into(), toml::Value::Integer(n as i64))], "test")
            .expect("override");
        let sim = Simulation::new(&scenario, &crate::registry::Registry::builtin(), &RunSpec::single(1))
            .expect("builds");
        let tables = sim.world.storages().tables.iter();
        let mut big: Vec<(u32, usize)> =
            tables.map(|t| (t.entity_count(), t.capacity())).filter(|&(_, cap)| cap > STEP).collect();
        // One table (the agents' final one) holds them all; every table a
        // step went through on the way keeps at most a step's capacity.
        assert_eq!(big.len(), 1, "{big:?}");
        let (count, _) = big.pop().expect("one");
        assert_eq!(count as usize, n);
    }
}
