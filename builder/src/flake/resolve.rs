//! A flake's inputs read from its `flake.nix`, locked (fetched, checked against `flake.lock`,
//! the lock written when it changed), and the Nix expression that calls its `outputs` with
//! `self` and the inputs, as Nix's flake semantics have it.
//!
//! The lock of a local flake (`path:`, `git+file://`) is `flake.lock` in its directory: it is
//! read from there and written there (for a git flake, into the working tree, where it waits
//! to be committed, as Nix leaves it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Deserialize;
use strata_lang::Evaluator;
use strata_store::LocalStore;

use super::fetch::{fetch, Fetched, FlakeRef, RefKind};
use super::lock::{FlakeLock, InputTarget, LockedRef, Node};
use super::FlakeError;
use crate::config::{self, nix_string};
use crate::eval_io::FsIo;
use crate::eval_thread;

/// Which locked inputs are fetched again from their references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockMode {
    /// Only inputs the lock lacks (or whose reference changed): `strata flake lock`, builds.
    Keep,
    /// These inputs (`a` or `a/b`, an input of an input), or all when empty:
    /// `strata flake update`.
    Update(Vec<String>),
}

/// A flake with every input fetched and locked.
#[derive(Debug, Clone)]
pub struct LockedFlake {
    pub reference: FlakeRef,
    /// The flake's own tree.
    pub source: Fetched,
    pub description: Option<String>,
    pub lock: FlakeLock,
    /// Where the lock is kept.
    pub lock_file: PathBuf,
    /// Whether this call wrote `lock_file`.
    pub lock_written: bool,
    /// Each locked node's tree, by node name (the root is [`LockedFlake::source`]).
    pub sources: BTreeMap<String, Fetched>,
    /// To be said once, on standard error.
    pub warnings: Vec<String>,
}

/// One input as `flake.nix` declares it (or overrides it, in `inputs.x.inputs.y`).
#[derive(Debug, Clone, Deserialize)]
struct InputSpec {
    /// `url`, or, with `type`, the reference's attributes.
    attrs: BTreeMap<String, serde_json::Value>,
    flake: bool,
    follows: Option<String>,
    /// Overrides of this input's own inputs.
    inputs: BTreeMap<String, InputSpec>,
    /// A reference given whole (`--override-input`).
    #[serde(skip)]
    given: Option<FlakeRef>,
}

/// What strata reads of a `flake.nix` before calling anything.
#[derive(Debug, Clone, Deserialize)]
struct FlakeSpec {
    description: Option<String>,
    inputs: BTreeMap<String, InputSpec>,
}

/// Reads the `description` and `inputs` of the `flake.nix` at `file` (a physical path);
/// `shown` names it in errors.
fn read_spec(
    store_dir: &strata_store::StoreDir,
    file: &Path,
    shown: &str,
) -> Result<FlakeSpec, FlakeError> {
    if !file.is_file() {
        return Err(FlakeError::Strata(format!(
            "{shown} does not exist (a flake has a flake.nix at its top)"
        )));
    }
    let f = nix_string(&file.display().to_string());
    let where_ = nix_string(shown);
    let check = format!(
        "let f = import {f}; where = {where_}; known = [ \"description\" \"inputs\" \"outputs\" \"nixConfig\" ];\n  \
           input = n: i:\n    \
             if builtins.isString i then {{ attrs = {{ url = i; }}; flake = true; follows = null; inputs = {{ }}; }}\n    \
             else if builtins.isAttrs i then {{\n      \
               attrs = removeAttrs i [ \"flake\" \"follows\" \"inputs\" ];\n      \
               flake = let v = i.flake or true; in if builtins.isBool v then v\n        \
                 else throw \"${{where}}: `flake' of input `${{n}}' is not true or false\";\n      \
               follows = let v = i.follows or null; in if v == null || builtins.isString v then v\n        \
                 else throw \"${{where}}: `follows' of input `${{n}}' is not a string\";\n      \
               inputs = builtins.mapAttrs (m: input \"${{n}}/${{m}}\") (i.inputs or {{ }});\n    \
             }}\n    \
             else throw \"${{where}}: input `${{n}}' is a ${{builtins.typeOf i}}, not a set or a URL\";\n\
         in\n\
         if !builtins.isAttrs f then\n  \
           throw \"${{where}}: a flake is a set with `outputs', not a ${{builtins.typeOf f}}\"\n\
         else let other = builtins.filter (n: !builtins.elem n known) (builtins.attrNames f); in\n\
         if other != [ ] then\n  \
           throw \"${{where}}: unknown attribute `${{builtins.head other}}' (a flake has `description', `inputs' and `outputs')\"\n\
         else if !(f ? outputs) then throw \"${{where}}: the flake has no `outputs'\"\n\
         else if !builtins.isFunction f.outputs then\n  \
           throw \"${{where}}: `outputs' is a ${{builtins.typeOf f.outputs}}, not a function of the inputs\"\n\
         else {{\n  \
           description = let d = f.description or null; in\n    \
             if d == null || builtins.isString d then d else throw \"${{where}}: `description' is not a string\";\n  \
           inputs = builtins.mapAttrs input (f.inputs or {{ }});\n\
         }}"
    );
    eval_thread::run("flake-inputs", || -> Result<FlakeSpec, FlakeError> {
        let io = Rc::new(FsIo::new(store_dir.clone()));
        let mut ev = Evaluator::new(eval_thread::eval_config(), io);
        ev.reset_stack_base();
        let rendered = |ev: &Evaluator, e: strata_lang::EvalError| {
            if matches!(e.kind, strata_lang::ErrorKind::Throw(_)) {
                // The checks above: their message names the file, and the snippet would
                // show strata's own expression.
                return FlakeError::Eval(e.message());
            }
            FlakeError::Eval(crate::eval_io::error_text(ev, &e))
        };
        let v = ev.eval_string(&check).map_err(|e| rendered(&ev, e))?;
        let v = ev
            .deep_force(&v, config::span())
            .map_err(|e| rendered(&ev, e))?;
        config::to_serde(&mut ev, &v).map_err(|e| rendered(&ev, e))
    })
    .map_err(|e| FlakeError::Strata(format!("reading {shown}: {e}")))?
}

impl InputSpec {
    /// The reference the input names, if it names one (an input that only overrides its
    /// own inputs names none); relative paths are taken from `base`.
    fn reference(&self, base: &Path) -> Result<Option<FlakeRef>, FlakeError> {
        if let Some(r) = &self.given {
            return Ok(Some(r.clone()));
        }
        if !self.attrs.contains_key("type") {
            if let Some(k) = self.attrs.keys().find(|k| *k != "url") {
                return Err(FlakeError::Strata(format!(
                    "the attribute `{k}' needs `type' (an input is a `url', or a `type' with \
                     its attributes)"
                )));
            }
            return match self.attrs.get("url") {
                None => Ok(None),
                Some(serde_json::Value::String(u)) => FlakeRef::parse(u, base).map(Some),
                Some(other) => Err(FlakeError::Strata(format!(
                    "`url' is not a string but {other}"
                ))),
            };
        }
        let attrs: LockedRef = serde_json::from_value(serde_json::Value::Object(
            self.attrs.clone().into_iter().collect(),
        ))
        .map_err(|e| FlakeError::Strata(format!("its attributes are not usable: {e}")))?;
        FlakeRef::from_attrs(&attrs, base).map(Some)
    }
}

/// Where the `flake.nix` of a fetched tree is: its physical directory.
fn flake_dir(store: &LocalStore, f: &Fetched, dir: Option<&str>) -> PathBuf {
    let base = f
        .store_path
        .strip_prefix(store.store_dir().as_str())
        .unwrap_or(&f.store_path)
        .trim_start_matches('/');
    let top = store.real_store_dir().join(base);
    match dir {
        Some(d) => top.join(d),
        None => top,
    }
}

/// The directory relative references of the flake `r` (fetched as `f`) are taken from: its
/// own directory for a local flake, else where it is in the store.
fn base_dir(store: &LocalStore, r: &FlakeRef, f: &Fetched) -> PathBuf {
    match r.local_tree() {
        Some(t) => r.dir.as_deref().map_or(t.clone(), |d| t.join(d)),
        None => flake_dir(store, f, r.dir.as_deref()),
    }
}

/// A lock's `locked` attributes for `r` fetched as `f`, as Nix 2.8 writes them.
fn locked_of(r: &FlakeRef, f: &Fetched) -> LockedRef {
    let mut l = r.original();
    l.nar_hash = Some(f.nar_hash.to_sri());
    match &r.kind {
        // Nix 2.8 pins a tarball by its hash alone.
        RefKind::Tarball { .. } => {}
        RefKind::Forge { .. } => {
            l.last_modified = Some(f.last_modified);
            // The commit replaces the ref.
            l.git_ref = None;
        }
        RefKind::Git { git_ref, rev, .. } => {
            l.last_modified = Some(f.last_modified);
            if git_ref.is_none() && rev.is_none() {
                l.git_ref = f.git_ref.clone();
            }
        }
        RefKind::Path { .. } => l.last_modified = Some(f.last_modified),
    }
    if f.rev.is_some() {
        l.rev = f.rev.clone();
    }
    l.rev_count = f.rev_count;
    l
}

/// An override of an input somewhere below the root: its spec, and the input path of the
/// flake that declared it (which its `follows` is relative to).
#[derive(Debug, Clone)]
struct Override {
    spec: InputSpec,
    declared_in: Vec<String>,
}

struct Locker<'a> {
    store: &'a mut LocalStore,
    old: Option<FlakeLock>,
    new: FlakeLock,
    sources: BTreeMap<String, Fetched>,
    mode: LockMode,
    /// By input path (`["a", "b"]`); the first one declared (the one nearest the root) wins.
    overrides: BTreeMap<Vec<String>, Override>,
    used: std::collections::BTreeSet<Vec<String>>,
    /// The directory each flake locked so far takes relative references from, by its path.
    bases: BTreeMap<Vec<String>, PathBuf>,
    warnings: Vec<String>,
}

impl Locker<'_> {
    fn updating(&self, path: &str) -> bool {
        match &self.mode {
            LockMode::Keep => false,
            LockMode::Update(v) => {
                v.is_empty()
                    || v.iter()
                        .any(|u| path == u || path.starts_with(&format!("{u}/")))
            }
        }
    }

    /// The old lock's node for input `name` of the old node `parent`, if it still fits.
    fn old_child(
        &self,
        parent: Option<&str>,
        name: &str,
        flake: bool,
        original: &LockedRef,
    ) -> Option<(String, Node)> {
        let old = self.old.as_ref()?;
        let InputTarget::Node(n) = old.nodes.get(parent?)?.inputs.get(name)? else {
            return None;
        };
        let node = old.nodes.get(n)?;
        (node.original.as_ref() == Some(original) && node.flake == flake)
            .then(|| (n.clone(), node.clone()))
    }

    fn fetch_input(&mut self, input: &str, r: &FlakeRef) -> Result<Fetched, FlakeError> {
        let f = fetch(self.store, r).map_err(|e| match e {
            FlakeError::HashMismatch { expected, got, .. } => FlakeError::NarHashMismatch {
                input: input.to_owned(),
                locked: expected,
                got,
            },
            e => FlakeError::Input {
                input: input.to_owned(),
                source: Box::new(e),
            },
        })?;
        self.warnings.extend(f.warning.clone());
        Ok(f)
    }

    /// Records the overrides `spec` declares for its inputs' inputs (the flake declaring
    /// them is at `path`).
    fn note_overrides(&mut self, spec: &FlakeSpec, path: &[String]) {
        fn walk(
            into: &mut BTreeMap<Vec<String>, Override>,
            at: Vec<String>,
            spec: &InputSpec,
            declared_in: &[String],
        ) {
            for (name, sub) in &spec.inputs {
                let mut p = at.clone();
                p.push(name.clone());
                into.entry(p.clone()).or_insert_with(|| Override {
                    spec: sub.clone(),
                    declared_in: declared_in.to_vec(),
                });
                walk(into, p, sub, declared_in);
            }
        }
        for (name, input) in &spec.inputs {
            let mut at = path.to_vec();
            at.push(name.clone());
            walk(&mut self.overrides, at, input, path);
        }
    }

    /// Locks the inputs of a flake whose spec is `spec`, whose relative references are taken
    /// from `base`, which was the node `old_node` of the old lock, and which is reached by
    /// the input path `path` from the root.
    fn lock_inputs(
        &mut self,
        spec: &FlakeSpec,
        base: &Path,
        old_node: Option<&str>,
        path: &[String],
    ) -> Result<BTreeMap<String, InputTarget>, FlakeError> {
        self.note_overrides(spec, path);
        self.bases.insert(path.to_vec(), base.to_owned());
        let mut out = BTreeMap::new();
        for (name, declared) in &spec.inputs {
            let mut here = path.to_vec();
            here.push(name.clone());
            let shown = here.join("/");
            // An override replaces the input (its `flake' stays the declared one's), and its
            // paths are the overriding flake's.
            let overridden = self.overrides.get(&here).cloned().filter(|o| {
                o.spec.follows.is_some()
                    || o.spec.given.is_some()
                    || o.spec.attrs.contains_key("url")
                    || o.spec.attrs.contains_key("type")
            });
            let (input, declared_in, input_base) = match &overridden {
                Some(o) => {
                    self.used.insert(here.clone());
                    let b = self.bases.get(&o.declared_in).cloned();
                    (
                        &o.spec,
                        o.declared_in.clone(),
                        b.unwrap_or_else(|| base.to_owned()),
                    )
                }
                None => (declared, path.to_vec(), base.to_owned()),
            };
            if let Some(f) = &input.follows {
                let mut to = declared_in.clone();
                to.extend(f.split('/').filter(|s| !s.is_empty()).map(str::to_owned));
                out.insert(name.clone(), InputTarget::Follows(to));
                continue;
            }
            let in_input = |e: FlakeError| FlakeError::Input {
                input: shown.clone(),
                source: Box::new(e),
            };
            let reference = input
                .reference(&input_base)
                .map_err(in_input)?
                .ok_or_else(|| {
                    in_input(FlakeError::Strata(
                        "it has neither `url' (or `type') nor `follows'".into(),
                    ))
                })?;
            let flake = declared.flake;
            let original = reference.original();
            // An input given on the command line (`--override-input`) is fetched as given,
            // never taken from the old lock, as Nix takes it.
            let given = overridden.as_ref().is_some_and(|o| o.spec.given.is_some());
            let reuse = if self.updating(&shown) || given {
                None
            } else {
                self.old_child(old_node, name, flake, &original)
            };
            let (fetched, locked, old_name) = match reuse {
                Some((old_name, node)) => {
                    let locked = node.locked.clone().unwrap_or_default();
                    let r = FlakeRef::from_locked(&locked).map_err(in_input)?;
                    if r.nar_hash.is_none() {
                        return Err(in_input(FlakeError::Strata(
                            "its lock has no `narHash' (`strata flake update` locks it again)"
                                .into(),
                        )));
                    }
                    let f = self.fetch_input(&shown, &r)?;
                    (f, locked, Some(old_name))
                }
                None => {
                    let f = self.fetch_input(&shown, &reference)?;
                    let l = locked_of(&reference, &f);
                    (f, l, None)
                }
            };
            let node_name = self.new.fresh_name(name);
            // Reserved now, so the inputs below take other names.
            self.new.nodes.insert(node_name.clone(), Node::default());
            let inputs = if flake {
                let dir = flake_dir(self.store, &fetched, reference.dir.as_deref());
                let sub = read_spec(
                    self.store.store_dir(),
                    &dir.join("flake.nix"),
                    &format!("input '{shown}' ({reference})"),
                )?;
                let sub_base = base_dir(self.store, &reference, &fetched);
                self.lock_inputs(&sub, &sub_base, old_name.as_deref(), &here)?
            } else {
                BTreeMap::new()
            };
            self.new.nodes.insert(
                node_name.clone(),
                Node {
                    flake,
                    inputs,
                    locked: Some(locked),
                    original: Some(original),
                },
            );
            self.sources.insert(node_name.clone(), fetched);
            out.insert(name.clone(), InputTarget::Node(node_name));
        }
        Ok(out)
    }
}

/// The node an input target ends at, following `follows` paths from the root.
pub fn resolve_target(lock: &FlakeLock, target: &InputTarget) -> Result<String, FlakeError> {
    resolve_within(lock, target, 0)
}

fn resolve_within(
    lock: &FlakeLock,
    target: &InputTarget,
    depth: u32,
) -> Result<String, FlakeError> {
    let path = match target {
        InputTarget::Node(n) => return Ok(n.clone()),
        InputTarget::Follows(path) => path,
    };
    if depth > 64 {
        return Err(FlakeError::Strata(format!(
            "`follows = \"{}\"' goes round in a circle",
            path.join("/")
        )));
    }
    let mut node = lock.root.clone();
    for step in path {
        let next = lock
            .nodes
            .get(&node)
            .and_then(|n| n.inputs.get(step))
            .ok_or_else(|| {
                FlakeError::Strata(format!(
                    "`follows = \"{}\"' names an input that does not exist",
                    path.join("/")
                ))
            })?;
        node = resolve_within(lock, next, depth + 1)?;
    }
    Ok(node)
}

/// Fetches the flake `reference` and locks its inputs (see [`LockMode`]); writes its
/// `flake.lock` when that changed.
pub fn lock_flake(
    store: &mut LocalStore,
    reference: &FlakeRef,
    mode: LockMode,
) -> Result<LockedFlake, FlakeError> {
    lock_flake_with(store, reference, mode, &[], true)
}

/// [`lock_flake`], with inputs overridden (`--override-input a/b REF`: the input at that
/// path is `REF`, whatever its flake declares). An override that matches no input is a
/// warning. Without `write`, a changed lock is used but not written.
pub fn lock_flake_with(
    store: &mut LocalStore,
    reference: &FlakeRef,
    mode: LockMode,
    overrides: &[(String, FlakeRef)],
    write: bool,
) -> Result<LockedFlake, FlakeError> {
    let mut source = fetch(store, reference)?;
    // A flake that is not a local directory (or working tree) keeps its lock inside its
    // tree, and it is never written.
    let local = reference.local_tree().is_some();
    let dir = base_dir(store, reference, &source);
    let lock_file = dir.join("flake.lock");
    let flake_file = flake_dir(store, &source, reference.dir.as_deref()).join("flake.nix");
    let old_file = if local {
        lock_file.clone()
    } else {
        flake_file.with_file_name("flake.lock")
    };
    let old = match std::fs::read_to_string(&old_file) {
        Ok(text) => Some(FlakeLock::parse(&text, &lock_file.display().to_string())?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(FlakeError::Io {
                context: format!("cannot read '{}'", lock_file.display()),
                source: e,
            })
        }
    };
    if let LockMode::Update(names) = &mode {
        let root_inputs = old
            .as_ref()
            .and_then(|l| l.nodes.get(&l.root))
            .map(|n| &n.inputs);
        for n in names {
            let first = n.split('/').next().unwrap_or(n);
            if !root_inputs.is_some_and(|i| i.contains_key(first)) {
                return Err(FlakeError::Strata(format!(
                    "{}: there is no locked input '{n}' to update",
                    lock_file.display()
                )));
            }
        }
    }
    let mut warnings: Vec<String> = source.warning.iter().cloned().collect();
    let spec = read_spec(
        store.store_dir(),
        &flake_file,
        &dir.join("flake.nix").display().to_string(),
    )?;
    let old_root = old.as_ref().map(|l| l.root.clone());
    let mut given = BTreeMap::new();
    for (name, r) in overrides {
        let path: Vec<String> = name
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if path.is_empty() {
            return Err(FlakeError::Strata(format!(
                "--override-input {name:?}: no input named"
            )));
        }
        let spec = InputSpec {
            attrs: BTreeMap::new(),
            flake: true,
            follows: None,
            inputs: BTreeMap::new(),
            given: Some(r.clone()),
        };
        given.insert(
            path,
            Override {
                spec,
                declared_in: Vec::new(),
            },
        );
    }
    let mut locker = Locker {
        store,
        old,
        new: FlakeLock::empty(),
        sources: BTreeMap::new(),
        mode,
        overrides: given,
        used: Default::default(),
        bases: BTreeMap::new(),
        warnings: Vec::new(),
    };
    let inputs = locker.lock_inputs(&spec, &dir, old_root.as_deref(), &[])?;
    let root = locker.new.root.clone();
    if let Some(r) = locker.new.nodes.get_mut(&root) {
        r.inputs = inputs;
    }
    for node in locker.new.nodes.values() {
        for t in node.inputs.values() {
            resolve_target(&locker.new, t)?;
        }
    }
    // Overrides that name a reference (or a `follows`) but met no input, as Nix warns.
    let unused: Vec<String> = locker
        .overrides
        .iter()
        .filter(|(p, o)| {
            !locker.used.contains(*p)
                && (o.spec.given.is_some()
                    || o.spec.follows.is_some()
                    || o.spec.attrs.contains_key("url")
                    || o.spec.attrs.contains_key("type"))
        })
        .map(|(p, o)| {
            if o.spec.given.is_some() {
                format!(
                    "--override-input {}: the flake has no such input",
                    p.join("/")
                )
            } else {
                let (last, parent) = p.split_last().map_or(("", &p[..0]), |(l, r)| (l, r));
                format!(
                    "input '{}' has an override for its input '{last}', which it does not have",
                    parent.join("/")
                )
            }
        })
        .collect();
    locker.warnings.extend(unused);
    let Locker {
        store,
        old,
        new,
        sources,
        warnings: more,
        ..
    } = locker;
    warnings.extend(more);
    let changed = old.as_ref() != Some(&new);
    if changed && !local {
        warnings.push(format!(
            "the flake {reference} is not a local directory: its lock is not written (it is \
             not up to date)"
        ));
    }
    // As Nix: a lock that pins an input's uncommitted changes would not be a pin.
    let unlocked: Vec<&str> = sources
        .iter()
        .filter(|(_, f)| f.dirty)
        .map(|(n, _)| n.as_str())
        .collect();
    if changed && local && !unlocked.is_empty() {
        warnings.push(format!(
            "{} is not written: the input(s) {} are git trees with uncommitted changes",
            lock_file.display(),
            unlocked.join(", ")
        ));
    }
    let lock_written = changed && local && unlocked.is_empty() && write;
    if lock_written {
        strata_store::fs::write_atomic(&lock_file, new.render().as_bytes()).map_err(|e| {
            FlakeError::Strata(format!("cannot write '{}': {e}", lock_file.display()))
        })?;
        if matches!(reference.kind, RefKind::Path { .. }) {
            // The lock is part of a directory's tree (which so has another hash).
            let mut r = reference.clone();
            r.nar_hash = None;
            source = fetch(store, &r)?;
        }
    }
    Ok(LockedFlake {
        reference: reference.clone(),
        source,
        description: spec.description,
        lock: new,
        lock_file,
        lock_written,
        sources,
        warnings,
    })
}

/// `YYYYMMDDHHMMSS` in UTC, as Nix's `lastModifiedDate`.
fn date_of(secs: u64) -> String {
    let rem = secs % 86_400;
    let (y, m, d) = strata_activate::profile::civil_date(secs);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A tree's `sourceInfo` as a Nix set.
fn source_info(f: &Fetched) -> String {
    let mut s = format!(
        "{{ outPath = builtins.storePath {}; narHash = {}; lastModified = {}; lastModifiedDate = {};",
        nix_string(&f.store_path),
        nix_string(&f.nar_hash.to_sri()),
        f.last_modified,
        nix_string(&date_of(f.last_modified)),
    );
    if let Some(r) = &f.rev {
        s += &format!(
            " rev = {}; shortRev = {};",
            nix_string(r),
            nix_string(&r[..7.min(r.len())])
        );
    }
    if let Some(r) = &f.dirty_rev {
        s += &format!(
            " dirtyRev = {}; dirtyShortRev = {};",
            nix_string(r),
            nix_string(&format!("{}-dirty", &r[..7.min(r.len())]))
        );
    }
    if let Some(c) = f.rev_count {
        s += &format!(" revCount = {c};");
    }
    s + " }"
}

impl LockedFlake {
    /// The Nix expression whose value is the flake as `self` sees it: its outputs, merged
    /// with its `sourceInfo` (`outPath`, `narHash`, `rev`...), `inputs`, `outputs` and
    /// `sourceInfo`. Each flake input is the same for its own tree; a `flake = false` input is
    /// its `sourceInfo`.
    pub fn expression(&self) -> Result<String, FlakeError> {
        let mut nodes = String::new();
        for (name, node) in &self.lock.nodes {
            let fetched = if *name == self.lock.root {
                &self.source
            } else {
                self.sources.get(name).ok_or_else(|| {
                    FlakeError::Strata(format!("the lock's node {name:?} was not fetched"))
                })?
            };
            let info = source_info(fetched);
            if !node.flake {
                nodes += &format!("    {} = {info};\n", nix_string(name));
                continue;
            }
            let mut inputs = String::new();
            for (input, target) in &node.inputs {
                let to = resolve_target(&self.lock, target)?;
                inputs += &format!("{} = nodes.{}; ", nix_string(input), nix_string(&to));
            }
            // Where flake.nix is in the tree.
            let dir = if *name == self.lock.root {
                self.reference.dir.as_deref()
            } else {
                node.locked.as_ref().and_then(|l| l.dir.as_deref())
            };
            let shown = if *name == self.lock.root {
                self.reference.to_string()
            } else {
                format!("input '{name}'")
            };
            nodes += &format!(
                "    {n} = let\n      \
                   sourceInfo = {info};\n      \
                   flake = import (sourceInfo.outPath + {file});\n      \
                   inputs = {{ {inputs}}};\n      \
                   outputs = flake.outputs (inputs // {{ self = result; }});\n      \
                   result = (if builtins.isAttrs outputs then outputs\n        \
                     else throw \"${{{shown}}}: `outputs' returned a ${{builtins.typeOf outputs}}, not a set\")\n        \
                     // sourceInfo // {{ inherit inputs outputs sourceInfo; _type = \"flake\"; }};\n    \
                 in result;\n",
                n = nix_string(name),
                shown = nix_string(&shown),
                file = nix_string(&match dir {
                    Some(d) => format!("/{d}/flake.nix"),
                    None => "/flake.nix".to_owned(),
                }),
            );
        }
        Ok(format!(
            "let\n  nodes = {{\n{nodes}  }};\nin nodes.{}",
            nix_string(&self.lock.root)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(date_of(0), "19700101000000");
        assert_eq!(date_of(951_782_400), "20000229000000");
        assert_eq!(date_of(1_700_000_000), "20231114221320");
    }
}

#[cfg(test)]
mod locking {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::flake::machine::eval_json;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn inputs_of_inputs_follows_and_self_as_nix_has_them() {
        let d = tempfile::tempdir().unwrap();
        let (top, a, c) = (d.path().join("top"), d.path().join("a"), d.path().join("c"));
        write(&c, "data", "from c\n");
        write(
            &a,
            "flake.nix",
            &format!(
                "{{ inputs.c = {{ url = \"path:{}\"; flake = false; }};\n  \
                 outputs = {{ self, c }}: {{ greeting = \"a sees ${{builtins.readFile \"${{c}}/data\"}}\"; }}; }}\n",
                c.display()
            ),
        );
        write(
            &top,
            "flake.nix",
            "{ description = \"top\";\n  inputs.a.url = \"path:../a\";\n  \
             inputs.b.follows = \"a/c\";\n  \
             outputs = { self, a, b }: {\n    \
               greeting = a.greeting;\n    \
               same = b.outPath == a.inputs.c.outPath;\n    \
               selfPath = self.outPath;\n    \
               selfHash = self.narHash;\n    \
               mine = self.greeting;\n    \
               flakeFalse = builtins.attrNames b;\n  }; }\n",
        );
        let root = d.path().join("store");
        let mut store = LocalStore::open(&root, strata_store::StoreDir::default()).unwrap();
        let r = FlakeRef::parse(".", &top).unwrap();
        let f = lock_flake(&mut store, &r, LockMode::Keep).unwrap();
        assert!(f.lock_written);
        let lock = &f.lock;
        assert_eq!(
            lock.nodes["root"].inputs["b"],
            InputTarget::Follows(vec!["a".into(), "c".into()])
        );
        assert_eq!(lock.nodes["a"].inputs["c"], InputTarget::Node("c".into()));
        assert!(!lock.nodes["c"].flake);
        assert_eq!(
            lock.nodes["a"].locked.as_ref().unwrap().path.as_deref(),
            Some(a.to_str().unwrap())
        );
        drop(store);
        // (A set with `outPath' is its path in JSON: the attributes are taken one by one.)
        let v = eval_json(
            &root,
            &strata_store::StoreDir::default(),
            &f,
            "{ inherit (flake) greeting mine same selfPath selfHash flakeFalse; }",
        )
        .unwrap();
        assert_eq!(v["greeting"], "a sees from c\n");
        assert_eq!(v["mine"], "a sees from c\n");
        assert_eq!(v["same"], true);
        assert_eq!(v["selfPath"], f.source.store_path.as_str());
        assert_eq!(v["selfHash"], f.source.nar_hash.to_sri().as_str());
        assert_eq!(
            v["flakeFalse"],
            serde_json::json!(["lastModified", "lastModifiedDate", "narHash", "outPath"])
        );
        // A second lock changes nothing; the written lock is part of the directory's tree.
        let mut store = LocalStore::open(&root, strata_store::StoreDir::default()).unwrap();
        let again = lock_flake(&mut store, &r, LockMode::Keep).unwrap();
        assert!(!again.lock_written);
        assert_eq!(again.source, f.source);
        // A changed input under its lock is an error naming it; an update takes it.
        write(&c, "data", "changed\n");
        let e = lock_flake(&mut store, &r, LockMode::Keep)
            .unwrap_err()
            .to_string();
        assert!(e.contains("input 'a/c'") && e.contains("NAR hash"), "{e}");
        let up = lock_flake(&mut store, &r, LockMode::Update(vec!["a".into()])).unwrap();
        assert!(up.lock_written);
        assert_ne!(
            up.lock.nodes["c"].locked.as_ref().unwrap().nar_hash,
            f.lock.nodes["c"].locked.as_ref().unwrap().nar_hash
        );
    }
}

#[cfg(test)]
mod overriding {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::flake::machine::eval_json;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn a_flake_in_a_subdirectory_with_its_input_overridden() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        for c in ["c", "c2", "c3"] {
            write(&p(c), "f", &format!("{c}\n"));
        }
        write(
            &p("lib"),
            "sub/flake.nix",
            &format!(
                "{{ inputs.c = {{ url = \"path:{}\"; flake = false; }};\n  \
                 outputs = {{ self, c }}: {{ marker = builtins.readFile \"${{c}}/f\";\n    \
                 whole = builtins.pathExists \"${{self}}/sub/flake.nix\"; }}; }}\n",
                p("c").display()
            ),
        );
        write(
            &p("top"),
            "flake.nix",
            &format!(
                "{{ inputs.a.url = \"path:{}?dir=sub\";\n  \
                 inputs.a.inputs.c.url = \"path:{}\";\n  \
                 inputs.a.inputs.zz.follows = \"a\";\n  \
                 outputs = {{ self, a }}: {{ m = a.marker; whole = a.whole; }}; }}\n",
                p("lib").display(),
                p("c2").display()
            ),
        );
        let root = p("store");
        let dir = strata_store::StoreDir::default();
        let mut store = LocalStore::open(&root, dir.clone()).unwrap();
        let r = FlakeRef::parse(".", &p("top")).unwrap();
        let f = lock_flake(&mut store, &r, LockMode::Keep).unwrap();
        assert!(
            f.warnings
                .iter()
                .any(|w| w.contains("input 'a' has an override for its input 'zz'")),
            "{:?}",
            f.warnings
        );
        let a = &f.lock.nodes["a"];
        assert_eq!(a.locked.as_ref().unwrap().dir.as_deref(), Some("sub"));
        let InputTarget::Node(c) = &a.inputs["c"] else {
            panic!("{a:?}")
        };
        let c = &f.lock.nodes[c];
        // The override's reference, the declared input's flake = false.
        assert!(!c.flake);
        assert_eq!(
            c.original.as_ref().unwrap().path.as_deref(),
            Some(p("c2").to_str().unwrap())
        );
        drop(store);
        let v = eval_json(&root, &dir, &f, "{ inherit (flake) m whole; }").unwrap();
        assert_eq!(v["m"], "c2\n");
        assert_eq!(
            v["whole"], true,
            "self is the whole tree, flake.nix in sub/"
        );

        // --override-input a/c: used, not written.
        let mut store = LocalStore::open(&root, dir.clone()).unwrap();
        let c3 = FlakeRef::parse(&format!("path:{}", p("c3").display()), Path::new("/")).unwrap();
        let o = lock_flake_with(
            &mut store,
            &r,
            LockMode::Keep,
            &[("a/c".into(), c3.clone()), ("nothere".into(), c3)],
            false,
        )
        .unwrap();
        assert!(!o.lock_written);
        assert!(
            o.warnings
                .iter()
                .any(|w| w.contains("--override-input nothere")),
            "{:?}",
            o.warnings
        );
        drop(store);
        let v = eval_json(&root, &dir, &o, "flake.m").unwrap();
        assert_eq!(v, "c3\n");
        let on_disk = std::fs::read_to_string(p("top/flake.lock")).unwrap();
        assert_eq!(on_disk, f.lock.render());
    }
}
