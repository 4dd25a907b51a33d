//! Putting a population's agents into the world with all their components
//! at once, a step of agents at a time.
//!
//! bevy keeps a table per set of components and never gives a table's
//! memory back. Spawning every agent with its base bundle, then inserting
//! each behaviour into all of them, would leave one table per stage holding
//! the whole population. Here agents go through the stages [`STEP`] at a
//! time, so the intermediate tables only ever hold one step, and each
//! behaviour's components are sampled ([`Pending`]) just before their step
//! is inserted, so no population-sized list of them exists either.

use bevy_ecs::bundle::{Bundle, NoBundleEffect};
use bevy_ecs::prelude::*;
use rand_pcg::Pcg64Mcg;

/// Agents moved through the intermediate tables at a time.
const STEP: usize = 16_384;

/// A behaviour's components, made one per agent in id order when their
/// agents are spawned.
pub(crate) trait PendingColumn {
    /// Inserts the components of the next `entities.len()` agents.
    fn insert_next(&mut self, world: &mut World, entities: &[Entity]);
}

/// Makes the components of one behaviour type from its own generator.
pub(crate) struct Pending<F> {
    make: F,
    rng: Pcg64Mcg,
}

impl<F> Pending<F> {
    /// Components from `make(&mut rng)`, called once per agent in id order.
    pub(crate) fn new(rng: Pcg64Mcg, make: F) -> Self {
        Pending { make, rng }
    }
}

impl<B: Component, F: FnMut(&mut Pcg64Mcg) -> B> PendingColumn for Pending<F> {
    fn insert_next(&mut self, world: &mut World, entities: &[Entity]) {
        let Pending { make, rng } = self;
        world.insert_batch(entities.iter().map(|&e| (e, make(rng))));
    }
}

/// The entities of a world's agents, allocated together.
pub(crate) struct Reserved {
    /// Entity index of agent 0.
    pub first: u32,
    /// The last agent's entity, already spawned with no components.
    empty: Entity,
}

/// Allocates the entities of `n` agents, consecutive indices (`None` if
/// the allocator handed out anything else, or `n` is 0), and spawns the
/// last one empty: bevy then sizes its entity records to exactly these
/// agents instead of a doubled, fully written capacity (16 bytes an agent
/// at ten million).
pub(crate) fn reserve_agents(world: &mut World, n: u32) -> Option<Reserved> {
    let mut first = None;
    let mut consecutive = true;
    for (i, e) in world.entity_allocator().alloc_many(n).enumerate() {
        let start = *first.get_or_insert(e.index_u32());
        consecutive &= Some(e) == agent_entity(start, i as u32);
    }
    let first = first.filter(|_| consecutive)?;
    let empty = agent_entity(first, n - 1)?;
    world.spawn_at(empty, ()).ok()?;
    Some(Reserved { first, empty })
}

/// The entity of agent `i` when agent 0 is entity index `first`.
fn agent_entity(first: u32, i: u32) -> Option<Entity> {
    Entity::from_raw_u32(first.checked_add(i)?)
}

/// Spawns agents `ids` of `reserved` with the bundle `base` returns for
/// each in turn, and gives them every pending column's components,
/// [`STEP`] agents at a time. Agents end up in their final table in id
/// order.
pub(crate) fn spawn_agents<Base>(
    world: &mut World,
    reserved: &Reserved,
    ids: std::ops::Range<u32>,
    mut base: impl FnMut() -> Base,
    columns: &mut [Box<dyn PendingColumn + '_>],
) where
    Base: Bundle<Effect: NoBundleEffect>,
{
    let mut step = Vec::with_capacity(STEP.min(ids.len()));
    let mut next = ids.start;
    while next < ids.end {
        let k = (ids.end - next).min(STEP as u32);
        step.clear();
        step.extend((next..next + k).filter_map(|i| agent_entity(reserved.first, i)));
        for &e in &step {
            if e == reserved.empty {
                world.entity_mut(e).insert(base());
            } else {
                world.spawn_at(e, base()).expect("a reserved entity spawns");
            }
        }
        for column in columns.iter_mut() {
            column.insert_next(world, &step);
        }
        next += k;
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
        use rand::RngExt;
        let mut world = World::new();
        let n = 2 * STEP + 5;
        let mut k = 0;
        let mut kc = 0u32;
        let mut columns: Vec<Box<dyn PendingColumn>> = vec![
            Box::new(Pending::new(Pcg64Mcg::new(7), |rng: &mut Pcg64Mcg| B(rng.random()))),
            Box::new(Pending::new(Pcg64Mcg::new(8), move |_: &mut Pcg64Mcg| {
                kc += 1;
                C(kc)
            })),
        ];
        let reserved = reserve_agents(&mut world, n as u32).expect("a fresh world allocates consecutively");
        let first = reserved.first;
        spawn_agents(
            &mut world,
            &reserved,
            0..n as u32,
            || {
                k += 1;
                A(k)
            },
            &mut columns,
        );
        // Agent i (in id order) has the i-th draw of B's own generator,
        // whichever step it was spawned in.
        let mut draws = Pcg64Mcg::new(7);
        let mut q = world.query::<(Entity, &A, &B, &C)>();
        let mut rows: Vec<(u32, u64, u64, u32)> =
            q.iter(&world).map(|(e, a, b, c)| (e.index_u32(), a.0, b.0, c.0)).collect();
        // Table order is id order: the passes over tables see agents by id.
        assert!(rows.windows(2).all(|w| w[0].1 + 1 == w[1].1), "table in id order");
        rows.sort();
        for (i, &(index, a, b, c)) in rows.iter().enumerate() {
            let id = i as u64 + 1;
            assert_eq!((index, a, b, u64::from(c)), (first + i as u32, id, draws.random::<u64>(), id));
        }
        assert_eq!(rows.len(), n);
    }

    #[test]
    fn reserving_sizes_the_entity_records_to_the_agents() {
        let mut world = World::new();
        world.spawn_empty();
        let first = reserve_agents(&mut world, 1000).expect("consecutive").first;
        // Only the last agent exists yet, with no components.
        assert!(
            world
                .get_entity(agent_entity(first, 999).unwrap())
                .is_ok_and(|e| e.archetype().component_count() == 0)
        );
        assert!(world.get_entity(agent_entity(first, 998).unwrap()).is_err());
        // The records end with it: the next entity is the first after the agents.
        assert_eq!(world.spawn_empty().id().index_u32(), first + 1000);
        assert!(reserve_agents(&mut world, 0).is_none());
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
        let sim =
            Simulation::new(&scenario, &crate::engine::registry::Registry::builtin(), &RunSpec::single(1))
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
