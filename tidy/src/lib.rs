//! strata-tidy: the repository's rules, checked by `cargo test -p strata-tidy` on the tree
//! itself, each failure naming the file and line.
//!
//! The rules: crates depend on each other only downwards ([`LAYERS`]); the crates that need
//! no `unsafe` forbid it ([`NO_UNSAFE`]) and the command line has none; every `unsafe` block
//! has a `// SAFETY:` comment just above it; libraries return typed errors, not
//! `Result<_, String>`; no `.rs` file is over [`MAX_LINES`] lines; every crate root starts with
//! `//!` documentation. Known exceptions sit in `tidy/allow/*.txt`, one path a line, and an
//! entry that no longer matches anything is itself reported, so the lists only shrink.
//!
//! Must not: build or run other crates, or need anything beyond reading files. Each check is
//! a pure function of a file's text, tested on planted violations.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The longest a `.rs` file may be, tests included.
pub const MAX_LINES: usize = 1200;

/// Each workspace crate and the workspace crates it may depend on (`[dependencies]` and
/// `[build-dependencies]`): the store at the bottom, the evaluator on it, the builder on both;
/// boot-loader files, activation, init and images above the store; the command line on top.
/// Dev-dependencies may use the same, plus [`EXTRA_DEV`].
pub const LAYERS: &[(&str, &[&str])] = &[
    ("strata-store", &[]),
    ("strata-lang", &["strata-store"]),
    (
        "strata-builder",
        &["strata-store", "strata-lang", "strata-activate"],
    ),
    ("strata-bootloader-cfg", &["strata-store"]),
    (
        "strata-activate",
        &["strata-store", "strata-bootloader-cfg"],
    ),
    ("strata-init", &["strata-store", "strata-activate"]),
    (
        "strata-images",
        &["strata-store", "strata-activate", "strata-bootloader-cfg"],
    ),
    ("strata-qemu-tests", &[]),
    (
        "strata-cli",
        &[
            "strata-store",
            "strata-lang",
            "strata-builder",
            "strata-bootloader-cfg",
            "strata-activate",
            "strata-init",
            "strata-images",
        ],
    ),
    ("strata-tidy", &[]),
];

/// Dev-dependencies beyond [`LAYERS`]: the QEMU harness serves only the CLI's tests.
pub const EXTRA_DEV: &[(&str, &[&str])] = &[("strata-cli", &["strata-qemu-tests"])];

/// Dependencies that must leave the dependency's default features off: the evaluator uses the
/// store's pure formats, without the SQLite local store.
pub const NO_DEFAULT_FEATURES: &[(&str, &str)] = &[("strata-lang", "strata-store")];

/// Crates (by directory) that need no `unsafe` and so must forbid it in every crate root.
/// Not here: `init` (PID 1's system calls) and `builder` (its sandbox).
pub const NO_UNSAFE: &[&str] = &[
    "store",
    "lang",
    "bootloader-cfg",
    "activate",
    "images",
    "qemu-tests",
    "cli",
    "tidy",
];

/// Crates (by directory) whose `src` must hold no `unsafe` at all, not even allowed.
pub const NEVER_UNSAFE: &[&str] = &["cli"];

/// Binary crates (by directory), which may use string errors (anyhow, in fact).
pub const BINARIES: &[&str] = &["cli"];

/// A broken rule, where it is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Relative to the repository root.
    pub file: PathBuf,
    /// 1-based; 0 when the whole file is meant.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

fn violation(file: &Path, line: usize, message: impl Into<String>) -> Violation {
    Violation {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Dependencies

/// One workspace crate's manifest.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its directory, relative to the root ("store").
    pub dir: String,
    /// Its `Cargo.toml`, as text.
    pub manifest: String,
}

/// A dependency as a manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dep {
    section: String,
    /// The package (after `package = ` renames).
    package: String,
    line: usize,
    default_features_off: bool,
}

fn table_deps(section: &str, table: &toml::Table, text: &str, out: &mut Vec<Dep>) {
    for (key, value) in table {
        let (package, default_features_off) = match value {
            toml::Value::Table(t) => (
                t.get("package")
                    .and_then(|p| p.as_str())
                    .unwrap_or(key)
                    .to_owned(),
                t.get("default-features")
                    .or_else(|| t.get("default_features"))
                    .and_then(|d| d.as_bool())
                    == Some(false),
            ),
            _ => (key.clone(), false),
        };
        out.push(Dep {
            section: section.to_owned(),
            package,
            line: dep_line(text, section, key),
            default_features_off,
        });
    }
}

/// The line declaring `key` in `[section]` (or `[section.key]`); 0 if not found.
fn dep_line(text: &str, section: &str, key: &str) -> usize {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            if h == format!("{section}.{key}") {
                return i + 1;
            }
            current = h.to_owned();
            continue;
        }
        if current == section {
            if let Some(rest) = t.strip_prefix(key) {
                let rest = rest.trim_start();
                if rest.starts_with('=') || rest.starts_with('.') {
                    return i + 1;
                }
            }
        }
    }
    0
}

fn deps_of(manifest: &str) -> Result<(String, Vec<Dep>), String> {
    let doc: toml::Table = manifest.parse().map_err(|e| format!("not TOML: {e}"))?;
    let name = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or("no [package] name")?
        .to_owned();
    let mut deps = Vec::new();
    for section in ["dependencies", "build-dependencies", "dev-dependencies"] {
        if let Some(t) = doc.get(section).and_then(|t| t.as_table()) {
            table_deps(section, t, manifest, &mut deps);
        }
    }
    Ok((name, deps))
}

fn lookup<'a>(table: &'a [(&str, &'a [&'a str])], name: &str) -> Option<&'a [&'a str]> {
    table.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// Checks every member's dependencies on other members against [`LAYERS`], [`EXTRA_DEV`] and
/// [`NO_DEFAULT_FEATURES`]; a member missing from the table is reported too.
pub fn check_dependencies(members: &[Member]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut parsed = Vec::new();
    for m in members {
        let file = PathBuf::from(&m.dir).join("Cargo.toml");
        match deps_of(&m.manifest) {
            Ok((name, deps)) => parsed.push((file, name, deps)),
            Err(e) => out.push(violation(&file, 0, e)),
        }
    }
    let names: BTreeSet<&str> = parsed.iter().map(|(_, n, _)| n.as_str()).collect();
    for (file, name, deps) in &parsed {
        let Some(allowed) = lookup(LAYERS, name) else {
            out.push(violation(
                file,
                0,
                format!("{name} is not in tidy's layering table (LAYERS): say what it may use"),
            ));
            continue;
        };
        let extra = lookup(EXTRA_DEV, name).unwrap_or(&[]);
        for d in deps {
            if !names.contains(d.package.as_str()) {
                continue;
            }
            let ok = allowed.contains(&d.package.as_str())
                || (d.section == "dev-dependencies" && extra.contains(&d.package.as_str()));
            if !ok {
                out.push(violation(
                    file,
                    d.line,
                    format!(
                        "{name} must not depend on {} ([{}]); see tidy's LAYERS",
                        d.package, d.section
                    ),
                ));
            }
            if d.section != "dev-dependencies"
                && NO_DEFAULT_FEATURES.contains(&(name.as_str(), d.package.as_str()))
                && !d.default_features_off
            {
                out.push(violation(
                    file,
                    d.line,
                    format!(
                        "{name} must depend on {} with `default-features = false`",
                        d.package
                    ),
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Source text

/// Whether a line is only a comment.
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

/// The line (0-based) where a file's tests start: a `#[cfg(test)]` followed by `mod`
/// (attributes between allowed); the file's length if none.
fn tests_start(lines: &[&str]) -> usize {
    for (i, l) in lines.iter().enumerate() {
        if l.trim() == "#[cfg(test)]" {
            let next = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.starts_with("#["));
            if next.is_some_and(|n| n.starts_with("mod ") || n.starts_with("pub mod ")) {
                return i;
            }
        }
    }
    lines.len()
}

/// Whether `line` has an `unsafe` keyword in code (a block, fn, impl, trait or extern).
fn has_unsafe(line: &str) -> bool {
    if is_comment(line) {
        return false;
    }
    let code = line.split("//").next().unwrap_or(line);
    let mut rest = code;
    while let Some(i) = rest.find("unsafe") {
        let before = rest[..i].chars().next_back();
        let after = rest[i + 6..].trim_start();
        let word_start = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '"'));
        if word_start
            && ["{", "fn", "impl", "trait", "extern"]
                .iter()
                .any(|k| after.starts_with(k))
        {
            return true;
        }
        rest = &rest[i + 6..];
    }
    false
}

/// A crate root that must forbid `unsafe` but does not.
pub fn check_forbids_unsafe(file: &Path, text: &str) -> Option<Violation> {
    (!text.contains("#![forbid(unsafe_code)]")).then(|| {
        violation(
            file,
            1,
            "this crate needs no unsafe: add #![forbid(unsafe_code)] after the //! docs",
        )
    })
}

/// Every `unsafe` in a file that must have none.
pub fn check_no_unsafe(file: &Path, text: &str) -> Vec<Violation> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| has_unsafe(l))
        .map(|(i, _)| {
            violation(
                file,
                i + 1,
                "no unsafe here: put the system call in a library that owns it",
            )
        })
        .collect()
}

/// Every `unsafe` block without a `// SAFETY:` comment on its line or the 3 lines above.
pub fn check_safety_comments(file: &Path, text: &str) -> Vec<Violation> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if is_comment(l) {
            continue;
        }
        let code = l.split("//").next().unwrap_or(l);
        let block = code.match_indices("unsafe").any(|(j, _)| {
            let before = code[..j].chars().next_back();
            before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '"'))
                && code[j + 6..].trim_start().starts_with('{')
        });
        if !block {
            continue;
        }
        let from = i.saturating_sub(3);
        if !lines[from..=i].iter().any(|l| l.contains("SAFETY:")) {
            out.push(violation(
                file,
                i + 1,
                "unsafe block without a // SAFETY: comment in the 3 lines above it",
            ));
        }
    }
    out
}

/// The arguments of the generic starting just after `Result<` in `code`, split at top-level
/// commas; `None` if it does not close.
fn generic_args(code: &str) -> Option<Vec<String>> {
    let mut depth = 1usize;
    let mut args = vec![String::new()];
    let mut prev = ' ';
    for c in code.chars() {
        match c {
            '<' | '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '>' if prev != '-' => {
                depth -= 1;
                if depth == 0 {
                    // A trailing comma leaves an empty last argument.
                    if args.len() > 1 && args.last().is_some_and(|a| a.trim().is_empty()) {
                        args.pop();
                    }
                    return Some(args);
                }
            }
            ',' if depth == 1 => {
                args.push(String::new());
                prev = c;
                continue;
            }
            _ => {}
        }
        if let Some(a) = args.last_mut() {
            a.push(c);
        }
        prev = c;
    }
    None
}

/// Every `Result<_, String>` in a library's code (not its tests).
pub fn check_result_string(file: &Path, text: &str) -> Vec<Violation> {
    let lines: Vec<&str> = text.lines().collect();
    let end = tests_start(&lines);
    // Comments blanked, line breaks kept, so that offsets map back to lines.
    let code: String = lines[..end]
        .iter()
        .map(|l| if is_comment(l) { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    for (i, _) in code.match_indices("Result<") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(args) = generic_args(&code[i + 7..]) else {
            continue;
        };
        if args.len() == 2 && args[1].trim() == "String" {
            out.push(violation(
                file,
                code[..i].matches('\n').count() + 1,
                "Result<_, String> in a library: return a thiserror enum of this domain",
            ));
        }
    }
    out
}

/// A file over [`MAX_LINES`] lines.
pub fn check_length(file: &Path, text: &str) -> Option<Violation> {
    let n = text.lines().count();
    (n > MAX_LINES).then(|| {
        violation(
            file,
            MAX_LINES + 1,
            format!("{n} lines, over {MAX_LINES}: split it by what its parts own"),
        )
    })
}

/// A crate root that does not start with `//!` documentation.
pub fn check_crate_doc(file: &Path, text: &str) -> Option<Violation> {
    let first = text.lines().find(|l| !l.trim().is_empty());
    (!first.is_some_and(|l| l.starts_with("//!"))).then(|| {
        violation(
            file,
            1,
            "a crate root starts with //! docs: what the crate owns and what it must not do",
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The tree

/// An allow-list: paths relative to the root, one a line; `#` starts a comment.
pub fn parse_allow_list(text: &str) -> BTreeSet<PathBuf> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn read(root: &Path, rel: &Path) -> io::Result<String> {
    fs::read_to_string(root.join(rel))
}

/// The workspace members named in the root `Cargo.toml`.
pub fn members(root: &Path) -> io::Result<Vec<Member>> {
    let text = read(root, Path::new("Cargo.toml"))?;
    let doc: toml::Table = text
        .parse()
        .map_err(|e| io::Error::other(format!("the root Cargo.toml: {e}")))?;
    let list = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .ok_or_else(|| io::Error::other("the root Cargo.toml has no workspace members"))?;
    let mut out = Vec::new();
    for m in list {
        let Some(dir) = m.as_str() else { continue };
        out.push(Member {
            dir: dir.to_owned(),
            manifest: read(root, &Path::new(dir).join("Cargo.toml"))?,
        });
    }
    Ok(out)
}

/// Every `.rs` file below `dir` (relative to `root`), sorted; `target` directories skipped.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(root.join(dir))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let rel = dir.join(&name);
        let ft = e.file_type()?;
        if ft.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                rust_files(root, &rel, out)?;
            }
        } else if ft.is_file() && rel.extension().is_some_and(|x| x == "rs") {
            out.push(rel);
        }
    }
    Ok(())
}

/// Whether `rel` (inside crate directory `dir`) is test or bench code rather than the crate's.
fn is_test_file(dir: &str, rel: &Path) -> bool {
    let inner = rel.strip_prefix(dir).unwrap_or(rel);
    inner.starts_with("tests")
        || inner.starts_with("benches")
        || inner.starts_with("examples")
        || rel.file_name().is_some_and(|n| n == "tests.rs")
}

/// Crates whose top-level modules must not import each other in a circle (the evaluator's
/// core and its builtins call each other by nature, so `lang` is not listed).
pub const NO_MODULE_CIRCLES: &[&str] = &[
    "store",
    "builder",
    "bootloader-cfg",
    "images",
    "init",
    "activate",
];

/// The top-level modules of a crate and those each names through `crate::` (outside its
/// tests and comments): `files` are the crate's source files as (path below `src/`, text).
pub fn module_graph(files: &[(PathBuf, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in files {
        let Some(first) = rel.components().next() else {
            continue;
        };
        let top = first.as_os_str().to_string_lossy();
        let top = top.strip_suffix(".rs").unwrap_or(&top).to_owned();
        if top == "lib" || top == "main" || top == "bin" {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        let code: Vec<&str> = lines[..tests_start(&lines)]
            .iter()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect();
        let code = code.join("\n");
        let deps = graph.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|n| n.trim().split("::").next().unwrap_or(""))
                    .collect(),
                None => vec![rest
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("")],
            };
            for n in names {
                if !n.is_empty() && n != top && n != "self" {
                    deps.insert(n.to_owned());
                }
            }
        }
    }
    graph
}

/// One circle among `graph`'s modules (`a -> b -> a`), if there is one.
pub fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if !graph.contains_key(next) {
                continue;
            }
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut circle = path[from..].to_vec();
                    circle.push(next.clone());
                    return Some(circle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(graph, next, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str()) {
            if let Some(c) = visit(graph, node, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Runs every check on the repository at `root`, with the allow-lists in `tidy/allow/`.
/// The checker's own crate is not scanned for source rules: its tests plant violations.
pub fn check_tree(root: &Path) -> io::Result<Vec<Violation>> {
    let members = members(root)?;
    let mut out = check_dependencies(&members);
    let allow_dir = Path::new("tidy/allow");
    let allow_result = parse_allow_list(&read(root, &allow_dir.join("result-string.txt"))?);
    let allow_long = parse_allow_list(&read(root, &allow_dir.join("long-files.txt"))?);
    let mut used_result = BTreeSet::new();
    let mut used_long = BTreeSet::new();
    for m in &members {
        let dir = m.dir.as_str();
        let mut files = Vec::new();
        rust_files(root, Path::new(dir), &mut files)?;
        let roots: Vec<PathBuf> = files
            .iter()
            .filter(|f| {
                let inner = f.strip_prefix(dir).unwrap_or(f);
                inner == Path::new("src/lib.rs")
                    || inner == Path::new("src/main.rs")
                    || (inner.starts_with("src/bin")
                        && inner.parent() == Some(Path::new("src/bin")))
            })
            .cloned()
            .collect();
        for r in &roots {
            let text = read(root, r)?;
            out.extend(check_crate_doc(r, &text));
            if NO_UNSAFE.contains(&dir) {
                out.extend(check_forbids_unsafe(r, &text));
            }
        }
        if NO_MODULE_CIRCLES.contains(&dir) {
            let src = Path::new(dir).join("src");
            let mut sources = Vec::new();
            for f in &files {
                if let Ok(rel) = f.strip_prefix(&src) {
                    if !is_test_file(dir, f) {
                        sources.push((rel.to_path_buf(), read(root, f)?));
                    }
                }
            }
            if let Some(circle) = find_circle(&module_graph(&sources)) {
                out.push(violation(
                    &src,
                    0,
                    format!(
                        "its modules import each other in a circle: {}",
                        circle.join(" -> ")
                    ),
                ));
            }
        }
        for f in &files {
            let text = read(root, f)?;
            if let Some(v) = check_length(f, &text) {
                if allow_long.contains(f) {
                    used_long.insert(f.clone());
                } else {
                    out.push(v);
                }
            }
            if dir == "tidy" {
                continue;
            }
            out.extend(check_safety_comments(f, &text));
            let in_src = f.starts_with(Path::new(dir).join("src"));
            if NEVER_UNSAFE.contains(&dir) && in_src {
                out.extend(check_no_unsafe(f, &text));
            }
            if !BINARIES.contains(&dir) && in_src && !is_test_file(dir, f) {
                let hits = check_result_string(f, &text);
                if !hits.is_empty() && allow_result.contains(f) {
                    used_result.insert(f.clone());
                } else {
                    out.extend(hits);
                }
            }
        }
    }
    for (list, allowed, used) in [
        ("result-string.txt", &allow_result, &used_result),
        ("long-files.txt", &allow_long, &used_long),
    ] {
        for stale in allowed.difference(used) {
            out.push(violation(
                &allow_dir.join(list),
                0,
                format!(
                    "{} no longer breaks this rule: remove it from the list",
                    stale.display()
                ),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
