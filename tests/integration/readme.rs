//! The README walk: every fenced `sh`, `bash` and `console` block of the
//! README's "Quick start" and "A tour" sections runs, in order, in a fresh
//! copy of the repository with this build's `tokensim` first on the PATH
//! (standing in for the set-up block, marked ```` ```sh setup ````), and
//! exits 0. A `console` block's commands are its `$ ` lines.
//!
//! With `TOKENSIM_README_PYTHON=/path/to/python` (an interpreter with
//! polars and matplotlib), the sections' `python` blocks run too, after the
//! commands before them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common::*;

/// The sections walked, by the start of their `## ` heading.
const WALKED: [&str; 2] = ["Quick start", "A tour"];

/// A fenced block: the section it is in, its info string, its text.
struct Block {
    section: String,
    info: String,
    text: String,
}

fn blocks(readme: &str) -> Vec<Block> {
    let (mut section, mut out, mut open): (String, Vec<Block>, Option<Block>) =
        (String::new(), Vec::new(), None);
    for line in readme.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block { section: section.clone(), info: info.trim().into(), text: String::new() })
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {
                if let Some(h) = line.strip_prefix("## ") {
                    section = h.trim().to_string();
                }
            }
        }
    }
    out
}

/// The script a block runs, or `None` if the walk does not run it.
fn script(block: &Block, python: bool) -> Option<String> {
    let mut words = block.info.split_whitespace();
    let lang = words.next().unwrap_or("");
    if words.any(|w| w == "setup") {
        return None;
    }
    match lang {
        "sh" | "bash" => Some(block.text.clone()),
        "console" => {
            // `$ ` lines, with their `\` continuations.
            let (mut s, mut continued) = (String::new(), false);
            for line in block.text.lines() {
                if let Some(cmd) = line.strip_prefix("$ ").or(if continued { Some(line) } else { None }) {
                    s.push_str(cmd);
                    s.push('\n');
                    continued = cmd.trim_end().ends_with('\\');
                }
            }
            Some(s)
        }
        "python" if python => Some(block.text.clone()),
        _ => None,
    }
}

/// Copies the repository's files (tracked and untracked, not ignored) to `to`.
fn fresh_copy(to: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .expect("git is on the PATH (the walk copies the files git lists)");
    assert!(listed.status.success(), "git ls-files failed: {}", String::from_utf8_lossy(&listed.stderr));
    for name in listed.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).expect("UTF-8 file name");
        let (from, dest) = (root.join(name), to.join(name));
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        std::fs::create_dir_all(dest.parent().expect("a parent")).expect("create dir");
        std::fs::copy(&from, &dest).unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
}

#[test]
fn readme_quick_start_and_tour_run_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let python = std::env::var_os("TOKENSIM_README_PYTHON").map(PathBuf::from);
    let walked: Vec<Block> =
        blocks(&readme).into_iter().filter(|b| WALKED.iter().any(|w| b.section.starts_with(w))).collect();
    for w in WALKED {
        assert!(
            walked.iter().any(|b| b.section.starts_with(w)),
            "README has no `## {w}` section with blocks"
        );
    }
    assert!(
        walked.iter().any(|b| b.info.split_whitespace().any(|w| w == "setup")),
        "the quick start's set-up block is marked ```sh setup"
    );
    let dir = tempdir();
    let clone = dir.path().join("tokensim");
    fresh_copy(&clone);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tokensim")).parent().expect("bin dir").to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let started = Instant::now();
    let mut ran = 0;
    for block in &walked {
        let Some(script) = script(block, python.is_some()) else { continue };
        assert!(
            !script.lines().any(|l| l.trim_start().starts_with("cargo ")),
            "a walked block runs cargo (keep cargo commands in the set-up block):\n{script}"
        );
        let mut cmd = match (&python, block.info.split_whitespace().next()) {
            (Some(py), Some("python")) => {
                let mut c = Command::new(py);
                c.args(["-c", &script]);
                c
            }
            _ => {
                let mut c = Command::new("bash");
                c.args(["-e", "-o", "pipefail", "-c", &script]);
                c
            }
        };
        let t = Instant::now();
        let out = cmd
            .current_dir(&clone)
            .env("PATH", &path)
            .env_remove("TOKENSIM_PYTHON")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("spawn");
        eprintln!("README [{}] block in {:.1} s:\n{script}", block.section, t.elapsed().as_secs_f64());
        assert!(
            out.status.success(),
            "README block in `{}` failed:\n{script}\n{}",
            block.section,
            describe(&out)
        );
        ran += 1;
    }
    assert!(ran >= 3, "the walk ran only {ran} blocks");
    eprintln!("README walk: {ran} blocks in {:.1} s", started.elapsed().as_secs_f64());
}
