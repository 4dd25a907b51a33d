//! `tokensim list`: every registered kind with its parameters, a
//! mechanism's metrics, a behaviour's decision rule, and what each action's
//! amounts mean (`--markdown` prints [`Registry::reference_markdown`]
//! instead).

use std::fmt::Write;

use crate::engine::contract::{MetricDef, Timing};
use crate::engine::intent::Action;
use crate::engine::params::Param;
use crate::engine::registry::Registry;

/// What `tokensim list` prints.
pub(super) fn text(registry: &Registry) -> String {
    let mut s = String::new();
    s.push_str("Mechanisms (contracts.<name>.kind):\n");
    for m in registry.mechanisms() {
        let _ = writeln!(s, "  {} — {}", m.name(), m.summary());
        params(&mut s, m.params());
        metrics(&mut s, m.metrics());
    }
    s.push_str("\nBehaviours (populations.<name>.behaviours.<behaviour>):\n");
    for b in registry.behaviours() {
        let _ = writeln!(s, "  {} — {}", b.name(), b.summary());
        params(&mut s, b.params());
        if !b.rule().is_empty() {
            let _ = writeln!(s, "    rule: {}", b.rule());
        }
    }
    s.push_str("\nActions (events.parquet amount_in / amount_out; orders files' side and amount):\n");
    for a in Action::BUILTIN {
        let (amount_in, amount_out) = a.amounts();
        let _ = writeln!(
            s,
            "  {}\n    amount: {}\n    amount_in: {amount_in}\n    amount_out: {amount_out}",
            a.name(),
            a.amount_of()
        );
    }
    s.push_str("\nWhen a metric is taken:\n");
    for t in Timing::ALL {
        let _ = writeln!(s, "  {:<8} {}", t.name(), t.text());
    }
    s.push_str("\nPer-agent params take a number or { dist = \"constant|uniform|normal|lognormal\", ... }.");
    s
}

fn params(s: &mut String, docs: &[Param]) {
    for p in docs {
        let default = p.default_text().map(|d| format!(" = {d}")).unwrap_or_else(|| " (required)".into());
        let _ = writeln!(s, "    {:<16} {:<28}{default}\n        {}", p.name, p.type_text(), p.doc_text());
    }
}

fn metrics(s: &mut String, defs: &[MetricDef]) {
    if defs.is_empty() {
        return;
    }
    s.push_str("    metrics (column <contract>_<name>; stock/flow, when, unit):\n");
    for d in defs {
        let _ = writeln!(
            s,
            "      {:<22} {:<5} {:<7} [{}]\n          {}",
            d.name,
            d.nature.name(),
            d.measured.name(),
            d.unit,
            d.doc
        );
    }
}
