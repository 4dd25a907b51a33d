//! The documentation's examples work: every complete scenario shown in
//! README.md validates, and every shipped scenario validates.

use crate::common::*;

/// The ```toml blocks of README.md.
fn readme_toml_blocks() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(block), l) if l.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn readme_scenario_example_validates() {
    let blocks = readme_toml_blocks();
    let complete: Vec<&String> =
        blocks.iter().filter(|b| b.contains("ticks =") && b.contains("assets =")).collect();
    assert!(!complete.is_empty(), "README shows a complete scenario");
    let dir = tempdir();
    for (i, block) in complete.iter().enumerate() {
        let path = write_file(dir.path(), &format!("readme{i}.toml"), block);
        let out = run(&["validate", path_str(&path)]);
        assert_eq!(code(&out), 0, "README scenario #{i} does not validate:\n{block}\n{}", describe(&out));
    }
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("scenarios/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = run(&["validate", path_str(&path)]);
            assert_eq!(code(&out), 0, "{}: {}", path.display(), describe(&out));
            n += 1;
        }
    }
    assert!(n >= 2, "found {n} scenarios");
}

#[test]
fn the_parameter_reference_is_current() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md"));
    let checked_in = std::fs::read_to_string(path).expect("docs/reference.md");
    let generated = tokensim::registry::Registry::builtin().reference_markdown();
    assert!(
        checked_in == generated,
        "docs/reference.md is stale: regenerate it with `cargo run -- list --markdown > docs/reference.md`"
    );
    // Every registered kind has a section, and every parameter a row.
    let registry = tokensim::registry::Registry::builtin();
    for (name, params) in registry
        .mechanisms()
        .map(|k| (k.name(), k.params()))
        .chain(registry.behaviours().map(|k| (k.name(), k.params())))
    {
        assert!(generated.contains(&format!("### `{name}`")), "{name}");
        for p in params {
            assert!(!p.doc.is_empty() && !p.ty.is_empty(), "{name}.{} is documented", p.name);
            assert!(generated.contains(&format!("| `{}` |", p.name)), "{name}.{}", p.name);
        }
    }
}
