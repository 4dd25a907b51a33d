//! The built-in registry, assembled here, above the engine, the registry
//! and the built-in mechanisms and behaviours, so that none of those
//! depends on the others' concrete kinds.

use crate::engine::registry::Registry;

impl Registry {
    /// The built-in mechanisms and behaviours.
    pub fn builtin() -> Self {
        let mut r = Registry::empty();
        crate::mechanisms::register(&mut r);
        crate::behaviours::register(&mut r);
        r
    }
}
