//! A scenario file's text and the position of every key in it, so that
//! errors found long after parsing (validation, build) still point at a
//! line and column.

use std::collections::HashMap;
use std::fmt::Display;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::error::{Error, ScenarioError};

/// A loaded scenario file: its path, text and key positions.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it was read from.
    pub path: PathBuf,
    text: String,
    spans: HashMap<String, Range<usize>>,
    overrides: HashMap<String, String>,
}

impl Source {
    /// Reads and parses `path`, returning the source and its value tree.
    /// A path that is not a regular file (`/dev/zero`, a FIFO) is refused
    /// before reading, and text that is not UTF-8 is an error at the line
    /// and column of its first bad byte.
    pub fn load(path: &Path) -> Result<(Source, toml::Table), Error> {
        regular_file(path).map_err(|message| Error::Data { path: path.to_path_buf(), message })?;
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| utf8_error(path, &e))?;
        Source::parse(path, text)
    }

    /// Parses scenario text that claims to come from `path`.
    pub fn parse(path: &Path, text: String) -> Result<(Source, toml::Table), Error> {
        let mut source =
            Source { path: path.to_path_buf(), text, spans: HashMap::new(), overrides: HashMap::new() };
        let doc = DeTable::parse(&source.text).map_err(|e| source.toml_error(&e))?;
        let mut spans = HashMap::new();
        index_table(doc.get_ref(), "", &mut spans);
        let table: toml::Table = toml::from_str(&source.text).map_err(|e| source.toml_error(&e))?;
        source.spans = spans;
        Ok((source, table))
    }

    /// Marks `field` as set by `origin`, so errors about it say so: a flag
    /// (`--set`), or a key of this file (`sweep.contracts.curve.slope`),
    /// whose line errors then point at.
    pub fn note_override(&mut self, field: &str, origin: &str) {
        let key = join(origin, field);
        let origin = if self.spans.contains_key(&key) { key } else { origin.to_string() };
        self.overrides.insert(field.to_string(), origin);
    }

    /// Length of the source text in bytes.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// A [`ScenarioError`] about `field`, located at the field or, if it is
    /// absent from the file, at its nearest written parent.
    pub fn error(&self, field: &str, message: impl Display) -> ScenarioError {
        // Set by an override of the field or of a table holding it.
        let mut set = Some(field);
        let overridden = loop {
            match set {
                Some(f) if self.overrides.contains_key(f) => break self.overrides.get(f),
                Some(f) => set = f.rfind('.').map(|i| &f[..i]),
                None => break None,
            }
        };
        if let Some(origin) = overridden {
            // Set by a sweep or variant entry of this file: point at it.
            if let Some(span) = self.spans.get(origin) {
                let (line, col) = self.line_col(span.start);
                return ScenarioError {
                    file: self.path.clone(),
                    line,
                    col,
                    field: field.to_string(),
                    message: format!("{message} (set by `{origin}`)"),
                };
            }
            return ScenarioError {
                file: PathBuf::from(origin),
                line: 0,
                col: 0,
                field: field.to_string(),
                message: message.to_string(),
            };
        }
        let mut probe = field;
        let offset = loop {
            if let Some(span) = self.spans.get(probe) {
                break span.start;
            }
            match probe.rfind('.') {
                Some(i) => probe = &probe[..i],
                None => break 0,
            }
        };
        let (line, col) = self.line_col(offset);
        let mut message = message.to_string();
        if let Some(hint) = self.misplaced_top_level(field, &message) {
            message = format!("{message}; {hint}");
        }
        ScenarioError { file: self.path.clone(), line, col, field: field.to_string(), message }
    }

    /// The hint for an error about a key of the top level (`runs`, `seed`,
    /// …) written on its own line after a `[table]` header, where TOML puts
    /// it in that table: when the table does not know it, or takes any key
    /// (`[sweep]`, `[metrics]`, `[variants.*]`).
    fn misplaced_top_level(&self, field: &str, message: &str) -> Option<String> {
        let (table, key) = field.rsplit_once('.')?;
        if !super::TOP_LEVEL_KEYS.contains(&key) {
            return None;
        }
        let start = self.spans.get(field)?.start;
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        if !self.text[line_start..start].trim().is_empty() {
            return None;
        }
        let free_form = matches!(table.split('.').next(), Some("sweep" | "metrics" | "variants"));
        (message.contains("unknown") || free_form).then(|| {
            format!(
                "`{key}` is a top-level key, but it is written after the [{table}] header and TOML puts every key after a header in that table: move `{key} = …` above the first [table]"
            )
        })
    }

    /// Converts a serde error raised while deserialising the value at
    /// `base` (a dotted path) into a located error. `inner` is the path
    /// inside that value reported by `serde_path_to_error`.
    pub fn serde_error(&self, base: &str, inner: &str, message: &str) -> ScenarioError {
        let mut field = join(base, inner);
        // serde names an unknown or missing field only in its message.
        for marker in ["unknown field `", "missing field `"] {
            if let Some(rest) = message.strip_prefix(marker)
                && let Some(name) = rest.split('`').next()
                && !field.ends_with(name)
            {
                field = join(&field, name);
            }
        }
        // The toml deserialiser appends "in `path`"; the field already says it.
        self.error(&field, message.lines().next().unwrap_or(message).trim())
    }

    /// A TOML syntax error, located, with the text it is about where the
    /// parser's own message does not say (the key written twice; an
    /// integer outside TOML's 64-bit range).
    fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let (line, col) = e.span().map(|s| self.line_col(s.start)).unwrap_or((0, 0));
        let quoted = e.span().and_then(|s| self.text.get(s)).map(str::trim).filter(|t| !t.is_empty());
        let raw = e.message().trim();
        let message = match quoted {
            Some(key) if raw == "duplicate key" => {
                format!("duplicate key `{key}`: it is set earlier in its table")
            }
            Some(number) if raw.contains("too large") || raw.contains("as i128") => format!(
                "`{number}` is outside the integers TOML can hold ({} to {}); write it as a float (`{number}.0`) if it is one",
                i64::MIN,
                i64::MAX
            ),
            _ => raw.to_string(),
        };
        ScenarioError { file: self.path.clone(), line, col, field: String::new(), message }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
        (line, col)
    }
}

/// Refuses a path that exists but is not a regular file: a directory, or a
/// device, FIFO or socket, which reading could never finish (`/dev/zero`)
/// or block on. A missing path passes, for the caller's own message. The
/// message does not repeat the path.
pub fn regular_file(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err("is a directory; name a file".into()),
        Ok(m) if !m.is_file() => {
            Err("is not a regular file (a device, a FIFO or a socket), so it is not read; name a file".into())
        }
        _ => Ok(()),
    }
}

/// The error of a file that is not UTF-8, at the line and column of its
/// first invalid byte (columns count characters).
fn utf8_error(path: &Path, e: &std::string::FromUtf8Error) -> Error {
    let bytes = e.as_bytes();
    let at = e.utf8_error().valid_up_to();
    // The prefix up to `at` is valid UTF-8 by definition of `valid_up_to`.
    let before = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Error::Scenario(ScenarioError {
        file: path.to_path_buf(),
        line,
        col,
        field: String::new(),
        message: format!("byte 0x{:02x} is not valid UTF-8; a scenario must be UTF-8 text", bytes[at]),
    })
}

/// `a.b` from `a` and `b`, skipping empty parts.
pub fn join(base: &str, name: &str) -> String {
    match (base.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}.{name}"),
    }
}

fn index_table(table: &DeTable<'_>, prefix: &str, spans: &mut HashMap<String, Range<usize>>) {
    for (key, value) in table.iter() {
        // Not `join`: an empty key (`"" = …`) is a field of its own.
        let path =
            if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
        spans.entry(path.clone()).or_insert_with(|| key.span());
        index_value(value.get_ref(), &path, spans);
    }
}

fn index_value(value: &DeValue<'_>, path: &str, spans: &mut HashMap<String, Range<usize>>) {
    match value {
        DeValue::Table(t) => index_table(t, path, spans),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}.{i}");
                spans.entry(p.clone()).or_insert_with(|| item.span());
                index_value(item.get_ref(), &p, spans);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_keys_and_falls_back_to_parent() {
        let text = "ticks = 3\n\n[contracts.curve]\nkind = \"x\"\nslope = 2.0\n";
        let (src, _) = Source::parse(Path::new("s.toml"), text.into()).unwrap();
        let e = src.error("contracts.curve.slope", "bad");
        assert_eq!((e.line, e.col), (5, 1));
        let e = src.error("contracts.curve.missing", "bad");
        assert_eq!(e.line, 3, "falls back to the table header");
        assert_eq!(e.to_string(), "s.toml:3:12: `contracts.curve.missing`: bad");
    }

    #[test]
    fn invalid_utf8_is_located_at_its_first_bad_byte() {
        let bytes = "a = 1\nb = \"é\u{0}".as_bytes().iter().copied().map(|b| if b == 0 { 0xff } else { b });
        let e = String::from_utf8(bytes.collect()).unwrap_err();
        let Error::Scenario(e) = utf8_error(Path::new("s.toml"), &e) else { panic!() };
        // Line 2: `b = "é` is six characters, so the bad byte is column 7.
        assert_eq!((e.line, e.col), (2, 7), "{e}");
        assert!(e.message.contains("0xff"), "{e}");
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = Source::parse(Path::new("s.toml"), "ticks = \n".into()).unwrap_err();
        let Error::Scenario(e) = err else { panic!("{err}") };
        assert_eq!(e.line, 1);
    }
}
