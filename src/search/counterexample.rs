//! `counterexample.toml`: the base scenario's own text with the failing
//! values set (comments and layout kept, via `toml_edit`), `runs` set to
//! the search's replicates, and `[sweep]`, `[variants]` and `[search]`
//! removed, so that `tokensim run` replays exactly the failing runs.

use toml_edit::DocumentMut;

use crate::scenario::rewrite::rewrite;

/// The scenario text `text` with every `(dotted path, value)` of
/// `overrides` set, `runs = replicates`, no sweep, variants or search
/// table, and `header` (comment lines) on top.
pub fn scenario_text(
    text: &str,
    overrides: &[(String, toml::Value)],
    replicates: u32,
    header: &str,
) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("cannot re-read the scenario: {e}"))?;
    for key in ["sweep", "variants", "search"] {
        doc.remove(key);
    }
    let mut values = overrides.to_vec();
    values.push(("runs".into(), toml::Value::Integer(i64::from(replicates))));
    let body = rewrite(&doc.to_string(), &values)?;
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(if line.is_empty() { "#\n" } else { "# " });
        if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    out.push_str(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_values_keeps_comments_and_drops_the_experiment_tables() {
        let text = "# A market.\nseed = 3\nruns = 8\n[contracts.feed]\nkind = \"price_feed\" # the feed\nshocks = [{ tick = 4, factor = 0.7 }]  # one crash\n[contracts.m]\nbonus = 0.05   # the bonus\n[populations.p]\ncount = 10\nbehaviours.b = { p = 0.1 }\n[sweep]\n\"contracts.m.bonus\" = [0.1]\n[variants.a]\n\"contracts.m.bonus\" = 0.2\n[search]\n\"contracts.m.bonus\" = { low = 0.0, high = 1.0 }\n";
        let set = |p: &str, v: toml::Value| (p.to_string(), v);
        let out = scenario_text(
            text,
            &[
                set("contracts.feed.shocks.0.factor", toml::Value::Float(0.25)),
                set("contracts.m.bonus", toml::Value::Float(0.125)),
                set("populations.p.count", toml::Value::Integer(40)),
                set("populations.p.behaviours.b.p", toml::Value::Float(0.5)),
                set("populations.p.behaviours.b.q", toml::Value::Float(1.5)),
            ],
            3,
            "Found by a search.\n\nSecond line.",
        )
        .unwrap();
        assert!(out.starts_with("# Found by a search.\n#\n# Second line.\n\n# A market.\n"), "{out}");
        let t: toml::Table = toml::from_str(&out).unwrap();
        let get = |p: &str| crate::scenario::get_path(&t, p).cloned();
        assert_eq!(get("contracts.feed.shocks.0.factor"), Some(toml::Value::Float(0.25)));
        assert_eq!(get("contracts.feed.shocks.0.tick"), Some(toml::Value::Integer(4)));
        assert_eq!(get("contracts.m.bonus"), Some(toml::Value::Float(0.125)));
        assert_eq!(get("populations.p.count"), Some(toml::Value::Integer(40)));
        assert_eq!(get("populations.p.behaviours.b.q"), Some(toml::Value::Float(1.5)));
        assert_eq!(get("runs"), Some(toml::Value::Integer(3)));
        assert!(t.get("sweep").is_none() && t.get("variants").is_none() && t.get("search").is_none());
        assert!(out.contains("bonus = 0.125   # the bonus") && out.contains("# one crash"), "{out}");
        let e = scenario_text(text, &[set("contracts.feed.shocks.2.factor", toml::Value::Float(0.1))], 1, "")
            .unwrap_err();
        assert!(e.contains("shocks.2.factor"), "{e}");
    }
}
