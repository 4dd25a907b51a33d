//! The registry of mechanism and behaviour kinds. Scenario files name kinds
//! by string; built-ins are registered through the same public API a
//! user's crate uses ([`Registry::add_mechanism`], [`Registry::add_behaviour`]).

use crate::engine::build::{ContractBuilder, PopulationBuilder};
use crate::engine::contract::Contract;
use crate::error::ScenarioError;

/// Documentation of one parameter, shown by `tokensim list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamDoc {
    /// Key in the scenario table.
    pub name: &'static str,
    /// Type as a user would write it (`float in [0, 1)`, `contract name`).
    pub ty: &'static str,
    /// Default value, or `None` if required.
    pub default: Option<&'static str>,
    /// What it means.
    pub doc: &'static str,
}

/// A kind of contract that scenarios can instantiate with `kind = "…"`.
pub trait MechanismKind: Send + Sync + 'static {
    /// The `kind` string (`bonding_curve`).
    fn name(&self) -> &'static str;
    /// One sentence on what it models.
    fn summary(&self) -> &'static str;
    /// Its parameters.
    fn params(&self) -> &'static [ParamDoc];
    /// Reads and validates its parameters and creates the contract.
    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError>;
}

/// A kind of agent behaviour that populations can carry.
pub trait BehaviourKind: Send + Sync + 'static {
    /// The key under `[populations.<name>.behaviours]` (`noise_trader`).
    fn name(&self) -> &'static str;
    /// One sentence on what the agent does.
    fn summary(&self) -> &'static str;
    /// Its parameters.
    fn params(&self) -> &'static [ParamDoc];
    /// Reads its parameters and gives every agent of the population the
    /// behaviour component (see [`PopulationBuilder::spawn`]).
    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError>;
}

/// Every kind a scenario may name.
#[derive(Default)]
pub struct Registry {
    mechanisms: Vec<Box<dyn MechanismKind>>,
    behaviours: Vec<Box<dyn BehaviourKind>>,
}

impl Registry {
    /// A registry with nothing in it.
    pub fn empty() -> Self {
        Registry::default()
    }

    /// The built-in mechanisms and behaviours.
    pub fn builtin() -> Self {
        let mut r = Registry::empty();
        crate::mechanisms::register(&mut r);
        crate::behaviours::register(&mut r);
        r
    }

    /// Registers a mechanism kind; a later kind with the same name replaces
    /// the earlier one.
    pub fn add_mechanism(&mut self, kind: impl MechanismKind) -> &mut Self {
        self.mechanisms.retain(|k| k.name() != kind.name());
        self.mechanisms.push(Box::new(kind));
        self
    }

    /// Registers a behaviour kind. Behaviours decide in registration order,
    /// so an agent with several emits their intents in that order.
    pub fn add_behaviour(&mut self, kind: impl BehaviourKind) -> &mut Self {
        self.behaviours.retain(|k| k.name() != kind.name());
        self.behaviours.push(Box::new(kind));
        self
    }

    /// The mechanism kind called `name`.
    pub fn mechanism(&self, name: &str) -> Option<&dyn MechanismKind> {
        self.mechanisms.iter().find(|k| k.name() == name).map(|k| k.as_ref())
    }

    /// The behaviour kind called `name`, with its registration index.
    pub fn behaviour(&self, name: &str) -> Option<(usize, &dyn BehaviourKind)> {
        self.behaviours.iter().enumerate().find(|(_, k)| k.name() == name).map(|(i, k)| (i, k.as_ref()))
    }

    /// All mechanism kinds in registration order.
    pub fn mechanisms(&self) -> impl Iterator<Item = &dyn MechanismKind> {
        self.mechanisms.iter().map(|k| k.as_ref())
    }

    /// All behaviour kinds in registration order.
    pub fn behaviours(&self) -> impl Iterator<Item = &dyn BehaviourKind> {
        self.behaviours.iter().map(|k| k.as_ref())
    }

    /// A Markdown reference of every kind and parameter (what
    /// `tokensim list --markdown` prints and `docs/reference.md` holds).
    pub fn reference_markdown(&self) -> String {
        fn cell(text: &str) -> String {
            text.replace('|', "\\|")
        }
        fn kind(out: &mut String, name: &str, summary: &str, params: &[ParamDoc]) {
            out.push_str(&format!("### `{name}`\n\n{summary}\n\n"));
            if params.is_empty() {
                out.push_str("No parameters.\n\n");
                return;
            }
            out.push_str("| parameter | type | default | meaning |\n| --- | --- | --- | --- |\n");
            for p in params {
                let default = p.default.map_or("required".to_string(), |d| format!("`{d}`"));
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} |\n",
                    p.name,
                    cell(p.ty),
                    cell(&default),
                    cell(p.doc)
                ));
            }
            out.push('\n');
        }
        let mut out = String::from(
            "# Mechanisms and behaviours\n\nGenerated by `tokensim list --markdown` from the registered kinds; \
             a test keeps it current. Per-agent parameters take a number or \
             `{ dist = \"constant|uniform|normal|lognormal\", ... }`.\n\n## Mechanisms (`[contracts.<name>] kind = ...`)\n\n",
        );
        for m in self.mechanisms() {
            kind(&mut out, m.name(), m.summary(), m.params());
        }
        out.push_str("## Behaviours (`[populations.<name>.behaviours.<behaviour>]`)\n\n");
        for b in self.behaviours() {
            kind(&mut out, b.name(), b.summary(), b.params());
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    }

    /// Comma-separated mechanism names, for error messages.
    pub fn mechanism_names(&self) -> String {
        self.mechanisms.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    }

    /// Comma-separated behaviour names, for error messages.
    pub fn behaviour_names(&self) -> String {
        self.behaviours.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    }
}
