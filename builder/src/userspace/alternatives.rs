//! Debian's alternatives without `update-alternatives` (section 2.5): the literal
//! `update-alternatives --install <link> <name> <path> <priority> [--slave <link> <name>
//! <path>]...` calls of each package's `DEBIAN/postinst` are parsed ([`parse_postinst`]),
//! candidates whose path exists in the tree are grouped by name, and one is chosen
//! ([`choose`]): the configuration's choice (`environment.debian.alternatives.<name>`, an
//! error listing the candidates if it names none of them), else the highest priority, ties
//! by package name. The chosen path gets a direct relative link at the merged place of the
//! link, and so does each of its slaves whose path exists; `etc/alternatives/<name>` links
//! to it as well, for scripts that read those.
//!
//! A call with a `$`, a backquote or a `$(` in any word is not literal and is skipped (the
//! log names the package).
//!
//! Must not: run the script, or replace an entry a package ships (that is a collision, an
//! error unless `environment.debian.collisions` keeps the package's entry).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::package::{read_small, Package};
use super::paths::{merged, relative, resolve, shown, Place};
use super::{real_parent, Options, UsrError};
use crate::debian::unpack::DEBIAN_DIR;

/// One `--slave <link> <name> <path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slave {
    pub link: String,
    pub name: String,
    pub path: String,
}

/// One `--install <link> <name> <path> <priority>` with its slaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub link: String,
    pub name: String,
    pub path: String,
    pub priority: i64,
    pub slaves: Vec<Slave>,
}

/// A word of a shell command line and whether it held an expansion (`$`, a backquote).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word {
        text: String,
        expands: bool,
    },
    /// `;`, `&`, `|`, `(`, `)` or a line break: the end of a simple command.
    End,
}

/// Splits a script into words shell-style: quotes (single, double) and backslashes are
/// honoured, `#` at a word's start comments out the rest of the line, backslash-newline
/// joins lines.
fn tokenize(script: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = script.chars().peekable();
    let mut word = String::new();
    let mut in_word = false;
    let mut expands = false;
    let flush =
        |tokens: &mut Vec<Token>, word: &mut String, in_word: &mut bool, expands: &mut bool| {
            if *in_word {
                tokens.push(Token::Word {
                    text: std::mem::take(word),
                    expands: *expands,
                });
            }
            *in_word = false;
            *expands = false;
        };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                    word.push(n);
                }
            }
            '"' => {
                in_word = true;
                while let Some(n) = chars.next() {
                    match n {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                if e != '\n' {
                                    word.push(e);
                                }
                            }
                        }
                        '$' | '`' => {
                            expands = true;
                            word.push(n);
                        }
                        _ => word.push(n),
                    }
                }
            }
            '#' if !in_word => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                tokens.push(Token::End);
            }
            ' ' | '\t' => flush(&mut tokens, &mut word, &mut in_word, &mut expands),
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                flush(&mut tokens, &mut word, &mut in_word, &mut expands);
                tokens.push(Token::End);
            }
            '$' | '`' => {
                expands = true;
                in_word = true;
                word.push(c);
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut tokens, &mut word, &mut in_word, &mut expands);
    tokens
}

/// Options of `update-alternatives` that take an argument.
const WITH_ARGUMENT: [&str; 3] = ["--altdir", "--admindir", "--log"];

/// Why a literal `update-alternatives` call cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallProblem {
    #[error("--install needs <link> <name> <path> <priority>")]
    Install,
    #[error("--slave needs <link> <name> <path>")]
    Slave,
    #[error("--slave before --install")]
    SlaveFirst,
    #[error("priority {0:?} is not a number")]
    Priority(String),
    #[error("name {0:?} is not a file name")]
    Name(String),
}

/// An alternative's or slave's name becomes `etc/alternatives/<name>`: one path component.
fn checked_name(name: &str) -> Result<String, CallProblem> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(CallProblem::Name(name.to_owned()));
    }
    Ok(name.to_owned())
}

/// Reads one invocation's arguments; `None` if it installs nothing.
fn parse_invocation(args: &[String]) -> Result<Option<Install>, CallProblem> {
    let mut i = 0;
    let mut install: Option<Install> = None;
    while let Some(arg) = args.get(i) {
        match arg.as_str() {
            "--install" => {
                let [link, name, path, priority] = args
                    .get(i + 1..i + 5)
                    .and_then(|s| <&[String; 4]>::try_from(s).ok())
                    .ok_or(CallProblem::Install)?;
                let priority = priority
                    .parse::<i64>()
                    .map_err(|_| CallProblem::Priority(priority.clone()))?;
                install = Some(Install {
                    link: link.clone(),
                    name: checked_name(name)?,
                    path: path.clone(),
                    priority,
                    slaves: Vec::new(),
                });
                i += 5;
            }
            "--slave" => {
                let [link, name, path] = args
                    .get(i + 1..i + 4)
                    .and_then(|s| <&[String; 3]>::try_from(s).ok())
                    .ok_or(CallProblem::Slave)?;
                let Some(inst) = install.as_mut() else {
                    return Err(CallProblem::SlaveFirst);
                };
                inst.slaves.push(Slave {
                    link: link.clone(),
                    name: checked_name(name)?,
                    path: path.clone(),
                });
                i += 4;
            }
            a if WITH_ARGUMENT.contains(&a) => i += 2,
            _ => i += 1,
        }
    }
    Ok(install)
}

/// The literal `update-alternatives --install` calls of a maintainer script, and a line for
/// each call that was skipped (not literal, or malformed).
pub fn parse_postinst(script: &str) -> (Vec<Install>, Vec<String>) {
    let tokens = tokenize(script);
    let mut installs = Vec::new();
    let mut skipped = Vec::new();
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        i += 1;
        let Token::Word { text, .. } = token else {
            continue;
        };
        if text.rsplit('/').next() != Some("update-alternatives") {
            continue;
        }
        let mut args = Vec::new();
        let mut literal = true;
        while let Some(Token::Word { text, expands }) = tokens.get(i) {
            literal &= !expands;
            args.push(text.clone());
            i += 1;
        }
        if !args.iter().any(|a| a == "--install") {
            continue;
        }
        let shown_call = format!("update-alternatives {}", args.join(" "));
        if !literal {
            skipped.push(format!("{shown_call} (not literal)"));
            continue;
        }
        match parse_invocation(&args) {
            Ok(Some(install)) => installs.push(install),
            Ok(None) => {}
            Err(why) => skipped.push(format!("{shown_call} ({why})")),
        }
    }
    (installs, skipped)
}

/// A candidate of one alternative: the install and the package it comes from.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub package: String,
    pub install: Install,
}

/// What was chosen for one alternative, as `alternatives.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chosen {
    pub link: String,
    pub path: String,
    pub priority: i64,
    pub package: String,
    /// `"choice"` or `"priority"`.
    pub by: &'static str,
    /// Every candidate's path, sorted.
    pub candidates: Vec<String>,
    /// Slave name -> (link, path), those made.
    pub slaves: BTreeMap<String, (String, String)>,
}

/// `m` of an absolute path as written in a script, relative to the tree's root.
fn place_of(p: &str) -> Option<PathBuf> {
    match merged(Path::new(p)) {
        Place::Tree(t) => Some(t),
        _ => None,
    }
}

/// Chooses among each alternative's candidates (those whose path exists in the tree at
/// `root`). Returns the chosen candidates by name, or every problem (sorted).
pub fn choose(
    candidates: &BTreeMap<String, Vec<Candidate>>,
    root: &Path,
    choices: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Candidate>, Vec<String>> {
    let exists = |p: &str| place_of(p).is_some_and(|t| resolve(root, &t).is_some());
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, all) in candidates {
        let mut present: Vec<&Candidate> = all.iter().filter(|c| exists(&c.install.path)).collect();
        present.sort_by(|a, b| {
            b.install
                .priority
                .cmp(&a.install.priority)
                .then_with(|| a.package.cmp(&b.package))
        });
        let chosen = match choices.get(name) {
            Some(want) => {
                let want_place = place_of(want);
                match present
                    .iter()
                    .find(|c| want_place.is_some() && place_of(&c.install.path) == want_place)
                {
                    Some(c) => Some(*c),
                    None => {
                        let mut listed: Vec<String> = present
                            .iter()
                            .map(|c| format!("{} ({})", c.install.path, c.package))
                            .collect();
                        listed.sort();
                        problems.push(format!(
                            "environment.debian.alternatives.{name} = \"{want}\" is not a \
                             candidate; the candidates are: {}",
                            if listed.is_empty() {
                                "none".to_owned()
                            } else {
                                listed.join(", ")
                            }
                        ));
                        None
                    }
                }
            }
            None => present.first().copied(),
        };
        if let Some(c) = chosen {
            out.insert(name.clone(), c.clone());
        }
    }
    for name in choices.keys() {
        if !candidates.contains_key(name) {
            problems.push(format!(
                "environment.debian.alternatives.{name} names no alternative any package installs"
            ));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        problems.sort();
        Err(problems)
    }
}

/// Makes the link `link` -> `path` (both as written in a script) in the tree, relative.
/// Returns `Ok(false)` when a package's entry is there and the configuration keeps it.
fn make_link(
    root: &Path,
    link: &str,
    path: &str,
    what: &str,
    opts: &Options,
    owner: &dyn Fn(&Path) -> Option<String>,
    problems: &mut Vec<String>,
) -> Result<bool, UsrError> {
    let (Some(link_place), Some(path_place)) = (place_of(link), place_of(path)) else {
        problems.push(format!("{what}: {link} or {path} is outside /usr and /etc"));
        return Ok(false);
    };
    let parent = real_parent(root, &link_place)?;
    let target = relative(&parent, &path_place);
    let dest = root
        .join(&parent)
        .join(link_place.file_name().unwrap_or_default());
    match fs::symlink_metadata(&dest) {
        Ok(md) => {
            if md.file_type().is_symlink() && fs::read_link(&dest).ok().as_ref() == Some(&target) {
                return Ok(true);
            }
            let at = shown(&link_place);
            let package = owner(&link_place).unwrap_or_default();
            if opts.collisions.get(&at) == Some(&package) {
                return Ok(false);
            }
            problems.push(format!(
                "collision at {at}: {what} would replace what package {package} ships there; \
                 set environment.debian.collisions.\"{at}\" = \"{package}\" to keep it, or \
                 remove the package"
            ));
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::os::unix::fs::symlink(&target, &dest).map_err(|e| UsrError::write(&dest, e))?;
            Ok(true)
        }
        Err(e) => Err(UsrError::read(&dest, e)),
    }
}

/// Parses every package's `postinst`, chooses, and links the chosen alternatives into the
/// tree at `root`; `owner` names the package that ships a place. Returns the record.
pub fn apply(
    packages: &[Package],
    root: &Path,
    opts: &Options,
    owner: &dyn Fn(&Path) -> Option<String>,
    log: &mut dyn Write,
) -> Result<BTreeMap<String, Chosen>, UsrError> {
    let mut candidates: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for p in packages {
        let Some(script) = read_small(&p.root.join(DEBIAN_DIR).join("postinst"))? else {
            continue;
        };
        let (installs, skipped) = parse_postinst(&script);
        for s in skipped {
            let _ = writeln!(log, "alternatives: {}: skipped {s}", p.name);
        }
        for install in installs {
            candidates
                .entry(install.name.clone())
                .or_default()
                .push(Candidate {
                    package: p.name.clone(),
                    install,
                });
        }
    }
    let chosen = choose(&candidates, root, &opts.alternatives).map_err(UsrError::Alternatives)?;
    let mut problems = Vec::new();
    let mut record = BTreeMap::new();
    for (name, c) in &chosen {
        let what = format!(
            "alternative {name} ({} of package {})",
            c.install.path, c.package
        );
        if !make_link(
            root,
            &c.install.link,
            &c.install.path,
            &what,
            opts,
            owner,
            &mut problems,
        )? {
            continue;
        }
        let etc_link = Path::new("etc/alternatives").join(name);
        if let Some(place) = place_of(&c.install.path) {
            make_etc_link(root, &etc_link, &place)?;
        }
        let mut slaves = BTreeMap::new();
        for s in &c.install.slaves {
            let exists = place_of(&s.path).is_some_and(|t| resolve(root, &t).is_some());
            if !exists {
                continue;
            }
            let what = format!("slave {} of alternative {name}", s.name);
            if make_link(root, &s.link, &s.path, &what, opts, owner, &mut problems)? {
                if let Some(place) = place_of(&s.path) {
                    make_etc_link(root, &Path::new("etc/alternatives").join(&s.name), &place)?;
                }
                slaves.insert(s.name.clone(), (s.link.clone(), s.path.clone()));
            }
        }
        let mut all: Vec<String> = candidates
            .get(name)
            .map(|v| v.iter().map(|c| c.install.path.clone()).collect())
            .unwrap_or_default();
        all.sort();
        all.dedup();
        record.insert(
            name.clone(),
            Chosen {
                link: c.install.link.clone(),
                path: c.install.path.clone(),
                priority: c.install.priority,
                package: c.package.clone(),
                by: if opts.alternatives.contains_key(name) {
                    "choice"
                } else {
                    "priority"
                },
                candidates: all,
                slaves,
            },
        );
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(UsrError::Alternatives(problems));
    }
    Ok(record)
}

/// `etc/alternatives/<name>` -> `/<place>`, unless something is there already.
fn make_etc_link(root: &Path, rel: &Path, place: &Path) -> Result<(), UsrError> {
    let dest = root
        .join(real_parent(root, rel)?)
        .join(rel.file_name().unwrap_or_default());
    if fs::symlink_metadata(&dest).is_ok() {
        return Ok(());
    }
    std::os::unix::fs::symlink(Path::new("/").join(place), &dest)
        .map_err(|e| UsrError::write(&dest, e))
}

#[cfg(test)]
mod tests;
