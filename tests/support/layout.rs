//! The layout stays readable: no import circle between the files of a crate (a module
//! may use its ancestors' items; naming its own children is the tree, not a circle), and
//! no code file over 700 lines before its tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use libtest_mimic::Trial;

use super::{TestResult, root};

/// The crates' source trees, each with its root module file's directory.
const TREES: &[&str] = &["src", "sim/src", "xtask/src", "tests"];
const MAX_LINES: usize = 700;

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("layout::checker_finds_circles", checker_finds_circles),
        Trial::test("layout::no_import_circle", no_import_circle),
        Trial::test(
            "layout::no_file_over_700_lines_before_its_tests",
            files_are_short,
        ),
    ]
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `a/b/mod.rs` and `a/b.rs` are module `a::b`; a crate's root file (`lib.rs`,
/// `main.rs`, the test harness `checks.rs`) is the root.
fn module_of(tree: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(tree).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    let root_file = parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main" | "checks");
    if root_file || parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without its unit tests.
fn code_of(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Every module path a file names: `crate::a::b`, `super::c`, `child::d`, and the items of
/// `use crate::{x, y}` groups, resolved to the longest known module.
fn references(module: &str, code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let chars: Vec<char> = code.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':');
        if !(boundary && is_ident(chars[i])) {
            i += 1;
            continue;
        }
        // A path: identifiers joined by `::`, possibly ending in a `{...}` group.
        let mut segments: Vec<String> = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && is_ident(chars[j]) {
                j += 1;
            }
            segments.push(chars[start..j].iter().collect());
            if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
                j += 2;
                if chars.get(j) == Some(&'{') {
                    let end = chars[j..].iter().position(|c| *c == '}').map(|p| p + j);
                    let group: String = chars[j + 1..end.unwrap_or(j + 1)].iter().collect();
                    for item in group.split(',') {
                        let first = item.trim().split("::").next().unwrap_or_default();
                        let first = first.split_whitespace().next().unwrap_or_default();
                        let mut path = segments.clone();
                        path.push(first.to_string());
                        if let Some(m) = resolve(module, &path, modules) {
                            out.insert(m);
                        }
                    }
                    j = end.unwrap_or(j) + 1;
                    segments.clear();
                    break;
                }
                if j < chars.len() && is_ident(chars[j]) {
                    continue;
                }
            }
            break;
        }
        if segments.len() > 1
            && let Some(m) = resolve(module, &segments, modules)
        {
            out.insert(m);
        }
        i = j.max(i + 1);
    }
    out.remove(module);
    out
}

fn resolve(module: &str, path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    let mut base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_string).collect()
    };
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &path[1..];
        }
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        Some("self") => rest = &path[1..],
        Some(first) => {
            // A bare path names a child module, or nothing of this crate.
            let child = if module.is_empty() {
                first.to_string()
            } else {
                format!("{module}::{first}")
            };
            if !modules.contains(&child) {
                return None;
            }
        }
        None => return None,
    }
    let full: Vec<String> = base.into_iter().chain(rest.iter().cloned()).collect();
    (0..=full.len())
        .rev()
        .map(|k| full[..k].join("::"))
        .find(|m| modules.contains(m))
}

/// A cycle in `edges`, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if state.get(node).copied().unwrap_or(0) == 0
            && let Some(c) = visit(node, edges, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

fn no_import_circle() -> TestResult {
    let mut circles = Vec::new();
    for tree in TREES {
        let dir = root().join(tree);
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        let modules: BTreeMap<String, PathBuf> = files
            .iter()
            .map(|f| (module_of(&dir, f), f.clone()))
            .collect();
        let names: BTreeSet<String> = modules.keys().cloned().collect();
        let mut edges = BTreeMap::new();
        for (module, file) in &modules {
            let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
            let refs = references(module, code_of(&text), &names);
            // Naming one's own descendants is the tree itself.
            let prefix = format!("{module}::");
            let refs: BTreeSet<String> = refs
                .into_iter()
                .filter(|r| !(module.is_empty() || r.starts_with(&prefix)))
                .collect();
            edges.insert(module.clone(), refs);
        }
        if let Some(cycle) = find_cycle(&edges) {
            circles.push(format!("{tree}: {}", cycle.join(" -> ")));
        }
    }
    crate::ensure!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
    Ok(())
}

fn files_are_short() -> TestResult {
    let mut long = Vec::new();
    for tree in TREES.iter().chain(["benches"].iter()) {
        let mut files = Vec::new();
        rust_files(&root().join(tree), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| e.to_string())?;
            let lines = code_of(&text).lines().count();
            if lines > MAX_LINES {
                long.push(format!("{} ({lines} lines)", f.display()));
            }
        }
    }
    crate::ensure!(
        long.is_empty(),
        "files over {MAX_LINES} lines before their tests: {long:?}"
    );
    Ok(())
}

/// The checker itself: paths resolve to modules, a circle is found, the tree is not one.
fn checker_finds_circles() -> TestResult {
    let modules: BTreeSet<String> = ["", "a", "a::x", "b"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let refs = references(
        "a",
        "use crate::b::Thing;\nuse super::a::x::{f, g};\nx::call();",
        &modules,
    );
    crate::ensure!(
        refs == ["a::x", "b"].iter().map(|s| s.to_string()).collect(),
        "{refs:?}"
    );
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    crate::ensure!(find_cycle(&edges).is_some(), "a circle of two");
    edges.insert("b".to_string(), BTreeSet::new());
    crate::ensure!(find_cycle(&edges).is_none(), "no circle");
    Ok(())
}
