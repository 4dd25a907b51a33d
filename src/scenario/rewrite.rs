//! Writing a scenario with new values into its own text (`toml_edit`), so
//! `calibrated.toml` and `counterexample.toml` keep the user's comments and
//! layout; and re-rooting relative file paths so they still point at the
//! same files from the directory such a file is written to.

use std::path::{Component, Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, Value};

/// Sets every `(dotted path, value)` in the TOML `text` (numeric keys index
/// arrays; missing tables and last keys are added), keeping each replaced
/// value's comments. Returns the new text.
///
/// ```
/// use tokensim::scenario::rewrite::rewrite;
/// let text = "[contracts.feed]\nvolatility = 0.5 # annual\nshocks = [{ tick = 3, factor = 0.5 }]\n";
/// let out = rewrite(text, &[
///     ("contracts.feed.volatility".into(), toml::Value::Float(0.75)),
///     ("contracts.feed.shocks.0.factor".into(), toml::Value::Float(0.25)),
/// ]).unwrap();
/// assert_eq!(out, "[contracts.feed]\nvolatility = 0.75 # annual\nshocks = [{ tick = 3, factor = 0.25 }]\n");
/// ```
pub fn rewrite(text: &str, values: &[(String, toml::Value)]) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    for (path, value) in values {
        let keys: Vec<&str> = path.split('.').collect();
        set(Node::Item(doc.as_item_mut()), &keys, to_edit(value)?).map_err(|m| format!("`{path}`: {m}"))?;
    }
    Ok(doc.to_string())
}

fn to_edit(value: &toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::from(*b),
        toml::Value::String(s) => Value::from(s.as_str()),
        other => {
            // Arrays, tables, dates: through their TOML text.
            let doc: DocumentMut = format!("v = {other}").parse().map_err(|e| format!("{e}"))?;
            doc["v"].as_value().cloned().ok_or("not a value")?
        }
    })
}

/// A place in a document: toml_edit keeps tables' entries as items and
/// inline tables' and arrays' entries as values.
enum Node<'a> {
    Item(&'a mut Item),
    Value(&'a mut Value),
    Table(&'a mut Table),
}

fn set(node: Node<'_>, keys: &[&str], value: Value) -> Result<(), String> {
    let (key, rest) = keys.split_first().ok_or("empty path")?;
    if rest.is_empty() {
        return assign(node, key, value);
    }
    let missing = || format!("no `{key}` in the scenario text");
    let index = || key.parse::<usize>().map_err(|_| missing());
    let next = match node {
        Node::Item(Item::Table(t)) | Node::Table(t) => {
            // A section the text lacks (a `--set output.events=false`) is added.
            Node::Item(t.entry(key).or_insert_with(|| {
                let mut table = Table::new();
                table.set_implicit(true);
                Item::Table(table)
            }))
        }
        Node::Item(Item::ArrayOfTables(a)) => Node::Table(a.get_mut(index()?).ok_or_else(missing)?),
        Node::Item(Item::Value(v)) | Node::Value(v) => match v {
            Value::InlineTable(t) => Node::Value(t.get_mut(key).ok_or_else(missing)?),
            Value::Array(a) => Node::Value(a.get_mut(index()?).ok_or_else(missing)?),
            _ => return Err(missing()),
        },
        Node::Item(_) => return Err(missing()),
    };
    set(next, rest, value)
}

fn assign(node: Node<'_>, key: &str, mut value: Value) -> Result<(), String> {
    let keep = |old: Option<&Value>, value: &mut Value| {
        if let Some(old) = old {
            *value.decor_mut() = old.decor().clone();
        }
    };
    match node {
        Node::Item(Item::Table(t)) | Node::Table(t) => {
            keep(t.get(key).and_then(Item::as_value), &mut value);
            t.insert(key, Item::Value(value));
        }
        Node::Item(Item::Value(v)) | Node::Value(v) => match v {
            Value::InlineTable(t) => {
                keep(t.get(key), &mut value);
                t.insert(key, value);
            }
            Value::Array(a) => {
                let i = key.parse::<usize>().ok().filter(|&i| i < a.len()).ok_or("index past the array")?;
                keep(a.get(i), &mut value);
                a.replace(i, value);
            }
            _ => return Err(format!("`{key}` is inside a value, not a table")),
        },
        Node::Item(_) => return Err(format!("no table to hold `{key}`")),
    }
    Ok(())
}

/// `(dotted path, new value)` for each relative file path of `files`
/// (written relative to the directory `from`), pointing at the same file
/// from the directory `to`: what a scenario written into `to` must say.
pub fn rerooted(files: &[(String, PathBuf)], from: &Path, to: &Path) -> Vec<(String, toml::Value)> {
    files
        .iter()
        .filter(|(_, p)| p.is_relative())
        .map(|(key, p)| {
            let new = relative_to(p, from, to);
            (key.clone(), toml::Value::String(new.to_string_lossy().replace('\\', "/")))
        })
        .collect()
}

/// `target` (a path relative to `from`) as a path relative to `to`, or
/// absolute if there is no relative way (another drive); absolute paths
/// stay as they are.
pub fn relative_to(target: &Path, from: &Path, to: &Path) -> PathBuf {
    if target.is_absolute() {
        return target.to_path_buf();
    }
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let target = normal(&absolute(&from.join(target)));
    let to = normal(&absolute(to));
    let (t, d): (Vec<Component>, Vec<Component>) = (target.components().collect(), to.components().collect());
    let common = t.iter().zip(&d).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return target;
    }
    let mut out = PathBuf::new();
    for _ in common..d.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_re_rooted_and_absolute_ones_kept() {
        let p =
            relative_to(Path::new("../data/x.csv"), Path::new("/r/scenarios"), Path::new("/r/results/fit"));
        assert_eq!(p, PathBuf::from("../../data/x.csv"));
        let p = relative_to(Path::new("x.csv"), Path::new("/r/a"), Path::new("/r/a"));
        assert_eq!(p, PathBuf::from("x.csv"));
        assert_eq!(
            relative_to(Path::new("/d/x.csv"), Path::new("/r"), Path::new("/s")),
            PathBuf::from("/d/x.csv")
        );
    }

    #[test]
    fn values_land_in_tables_arrays_of_tables_and_new_sections() {
        let text = "ticks = 5 # days\n[[contracts.c.steps]]\nat = 1\n[[contracts.c.steps]]\nat = 2\n";
        let out = rewrite(
            text,
            &[
                ("ticks".into(), toml::Value::Integer(9)),
                ("contracts.c.steps.1.at".into(), toml::Value::Integer(7)),
                ("output.events".into(), toml::Value::Boolean(false)),
            ],
        )
        .unwrap();
        let parsed: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(parsed["ticks"].as_integer(), Some(9));
        assert_eq!(parsed["contracts"]["c"]["steps"][1]["at"].as_integer(), Some(7));
        assert_eq!(parsed["output"]["events"].as_bool(), Some(false));
        assert!(out.contains("ticks = 9 # days"), "{out}");
        let e = rewrite(text, &[("contracts.c.steps.5.at".into(), toml::Value::Integer(1))]).unwrap_err();
        assert!(e.contains("steps.5.at") || e.contains("`5`"), "{e}");
    }
}
