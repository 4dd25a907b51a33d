//! The registry of mechanism and behaviour kinds. Scenario files name kinds
//! by string; built-ins are registered through the same public API a
//! user's crate uses ([`Registry::add_mechanism`], [`Registry::add_behaviour`]).
//! The built-in registry itself is assembled above the mechanisms and
//! behaviours, in `builtin.rs`, so this module and the engine do not
//! depend on them.

use crate::engine::builder::{ContractBuilder, PopulationBuilder};
use crate::engine::contract::{Contract, MetricDef, Timing};
use crate::engine::params::Param;
use crate::error::ScenarioError;

/// A kind of contract that scenarios can instantiate with `kind = "…"`.
pub trait MechanismKind: Send + Sync + 'static {
    /// The `kind` string (`bonding_curve`).
    fn name(&self) -> &'static str;
    /// One sentence on what it models.
    fn summary(&self) -> &'static str;
    /// Its parameters, declared once: the builder reads and checks the
    /// scenario table against them before [`build`](Self::build).
    fn params(&self) -> &'static [Param];
    /// Every metric its contracts may report, in column order (which of
    /// them one contract reports may depend on its parameters): what
    /// `tokensim list` and `docs/reference.md` show. The same
    /// [`MetricDef`]s its contracts' [`Contract::metrics`] return.
    fn metrics(&self) -> &'static [MetricDef] {
        &[]
    }
    /// Resolves its (already checked) parameters and creates the contract.
    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError>;
}

/// A kind of agent behaviour that populations can carry.
pub trait BehaviourKind: Send + Sync + 'static {
    /// The key under `[populations.<name>.behaviours]` (`noise_trader`).
    fn name(&self) -> &'static str;
    /// One sentence on what the agent does.
    fn summary(&self) -> &'static str;
    /// Its parameters, declared once: the builder reads and checks the
    /// scenario table against them before [`attach`](Self::attach).
    fn params(&self) -> &'static [Param];
    /// Its decision rule in words, as exact as the code: when an agent
    /// acts, how much, in which order (what `tokensim list` and
    /// `docs/reference.md` show).
    fn rule(&self) -> &'static str {
        ""
    }
    /// Resolves its (already checked) parameters and gives every agent of the population the
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

    /// Every file path the scenario `table` names, as `(dotted path, path as
    /// written)`: `orders.file`, `observed.file`, and each contract's and
    /// behaviour's file parameters (those its kind declares as
    /// [`Ty::File`](crate::engine::params::Ty::File)). Relative paths are relative
    /// to the scenario's directory, so a scenario written elsewhere must
    /// re-root them.
    pub fn file_paths(&self, table: &toml::Table) -> Vec<(String, std::path::PathBuf)> {
        let mut out = Vec::new();
        let mut add = |key: String, value: Option<&toml::Value>| {
            if let Some(toml::Value::String(s)) = value {
                out.push((key, std::path::PathBuf::from(s)));
            }
        };
        for section in ["orders", "observed"] {
            add(format!("{section}.file"), table.get(section).and_then(|t| t.get("file")));
        }
        let files = |params: &[Param]| -> Vec<&'static str> {
            params
                .iter()
                .filter(|p| matches!(p.ty, crate::engine::params::Ty::File))
                .map(|p| p.name)
                .collect()
        };
        let tables = |key: &str| table.get(key).and_then(toml::Value::as_table).into_iter().flatten();
        for (name, c) in tables("contracts") {
            let kind = c.get("kind").and_then(toml::Value::as_str).and_then(|k| self.mechanism(k));
            for param in kind.map(|k| files(k.params())).unwrap_or_default() {
                add(format!("contracts.{name}.{param}"), c.get(param));
            }
        }
        for (name, p) in tables("populations") {
            let behaviours = p.get("behaviours").and_then(toml::Value::as_table).into_iter().flatten();
            for (b, params) in behaviours {
                for param in self.behaviour(b).map(|(_, k)| files(k.params())).unwrap_or_default() {
                    add(format!("populations.{name}.behaviours.{b}.{param}"), params.get(param));
                }
            }
        }
        out
    }

    /// A Markdown reference of every kind, parameter, metric, decision
    /// rule and action (what `tokensim list --markdown` prints and
    /// `docs/reference.md` holds).
    pub fn reference_markdown(&self) -> String {
        use crate::engine::intent::Action;
        use crate::engine::metric_info::{ENGINE_METRICS, KEY_COLUMNS};
        fn cell(text: &str) -> String {
            text.replace('|', "\\|")
        }
        fn kind(out: &mut String, name: &str, summary: &str, params: &[Param]) {
            out.push_str(&format!("### `{name}`\n\n{summary}\n\n"));
            if params.is_empty() {
                out.push_str("No parameters.\n\n");
                return;
            }
            out.push_str("| parameter | type | default | meaning |\n| --- | --- | --- | --- |\n");
            for p in params {
                let default = p.default_text().map_or("required".to_string(), |d| format!("`{d}`"));
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} |\n",
                    p.name,
                    cell(&p.type_text()),
                    cell(&default),
                    cell(&p.doc_text())
                ));
            }
            out.push('\n');
        }
        fn metrics(out: &mut String, defs: &[MetricDef]) {
            if defs.is_empty() {
                return;
            }
            out.push_str(
                "| metric | unit | stock/flow | measured | meaning |\n| --- | --- | --- | --- | --- |\n",
            );
            for d in defs {
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} | {} |\n",
                    d.name,
                    cell(d.unit),
                    d.nature.name(),
                    d.measured.name(),
                    cell(d.doc)
                ));
            }
            out.push('\n');
        }
        let mut out = String::from(
            "# Mechanisms, behaviours, metrics and actions\n\nGenerated by `tokensim list --markdown` from the registered kinds; \
             a test keeps it current. Per-agent parameters take a number or \
             `{ dist = \"constant|uniform|normal|lognormal\", ... }`.\n\n## Mechanisms (`[contracts.<name>] kind = ...`)\n\n\
             A mechanism's metrics are the columns `<contract>_<metric>` of `ticks.parquet` (or what `[metrics]` renames them to); \
             which of them a contract reports can depend on its parameters. A unit `{param}` is the asset that parameter names \
             (`tokensim metrics SCENARIO` and `manifest.json` give the scenario's asset names); `1` is a pure number. \
             *stock*: a level at that moment; *flow*: an amount over this tick only (sum ticks for a total).\n\n",
        );
        for m in self.mechanisms() {
            kind(&mut out, m.name(), m.summary(), m.params());
            metrics(&mut out, m.metrics());
        }
        out.push_str("## Behaviours (`[populations.<name>.behaviours.<behaviour>]`)\n\n");
        for b in self.behaviours() {
            kind(&mut out, b.name(), b.summary(), b.params());
            if !b.rule().is_empty() {
                out.push_str(&format!("**Rule.** {}\n\n", b.rule()));
            }
        }
        out.push_str("## When a metric is taken\n\n| measured | when |\n| --- | --- |\n");
        for t in Timing::ALL {
            out.push_str(&format!("| {} | {} |\n", t.name(), t.text()));
        }
        out.push_str(
            "\n## Columns every `ticks.parquet` has\n\n| column | unit | stock/flow | measured | meaning |\n| --- | --- | --- | --- | --- |\n",
        );
        for d in KEY_COLUMNS.iter().chain(&ENGINE_METRICS) {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                d.name,
                d.unit,
                d.nature.name(),
                d.measured.name(),
                cell(d.doc)
            ));
        }
        out.push_str(
            "\nPopulation metrics (`[metrics] name = { population = …, of = …, stat = … }`) are stocks taken at `end` over every \
             agent's wallet, in the unit of `of` (share_below and gini: `1`). With `[observed]` data, `observed_<metric>` \
             holds the data's value of the tick.\n\n",
        );
        out.push_str(
            "## Actions\n\nWhat an intent's (or a replayed order's) `amount` counts, and what `amount_in` / `amount_out` \
             of a filled transaction are in `events.parquet` (a rejected one records the units asked as `amount_in`, 0 for \
             a fraction, and 0 as `amount_out`).\n\n| action | amount | amount_in | amount_out |\n| --- | --- | --- | --- |\n",
        );
        for a in Action::BUILTIN {
            let (amount_in, amount_out) = a.amounts();
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                a.name(),
                cell(a.amount_of()),
                cell(amount_in),
                cell(amount_out)
            ));
        }
        out.push_str(
            "\n## Orders files (`[orders] file = …`, CSV or Parquet)\n\nEvery row is one transaction in units, settled at its \
             tick before the agents' own intents, in file order; a bad row is an error naming its line (CSV) or row (Parquet).\n\n\
             | column | meaning |\n| --- | --- |\n",
        );
        for (column, doc) in crate::engine::replay::COLUMN_DOCS {
            out.push_str(&format!("| `{column}` | {} |\n", cell(doc)));
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
