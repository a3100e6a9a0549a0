//! A kernel's modules: [`ModulesDir`] is a kernel's `lib/modules/<version>/` directory.
//! [`ModulesDir::closure`] turns wanted module names into the module files to load,
//! dependencies first, following `modules.dep`; when the tree has no `modules.dep` (Debian's
//! packages ship none: depmod writes it at install time) the dependencies are read from each
//! module's `.modinfo` section ([`super::elf`]: `depends=`, the list modpost computed),
//! decompressing `.ko.xz` / `.ko.zst` through [`crate::compress`]. [`ModulesDir::stage`]
//! copies the closure and a matching `modules.dep`, `modules.order` and `modules.builtin` into
//! a staging tree.
//!
//! Must not: write the archive (that is [`super::cpio`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::elf::elf_section;

/// What is wrong with a kernel modules directory or a request for modules.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Parse {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{dir}: unknown kernel module(s), neither a module file nor built in: {}", names.join(", "))]
    Unknown { dir: PathBuf, names: Vec<String> },
    /// Wanted modules the system's modules tree left out ([`LEFT_OUT`]); each entry says which
    /// directory, and through which module when it needs one of that directory.
    #[error(
        "kernel module(s) left out of the system by boot.kernelModuleFilter: {}; remove the \
         directory from boot.kernelModuleFilter or the module from the lists that name it \
         (boot.kernelModules, boot.initrd.kernelModules, boot.initrd.availableKernelModules)",
        names.join(", ")
    )]
    LeftOut { names: Vec<String> },
    #[error("kernel module dependency cycle: {}", chain.join(" -> "))]
    Cycle { chain: Vec<String> },
    #[error("module {module}: it depends on {dependency:?}, which is no module in {dir}")]
    MissingDependency {
        dir: PathBuf,
        module: String,
        dependency: String,
    },
    #[error("read the .modinfo section of {path}: {message}")]
    Modinfo { path: PathBuf, message: String },
    #[error("{0}: the modules directory's name is not a kernel version")]
    BadDir(PathBuf),
}

fn mod_io(context: impl fmt::Display) -> impl FnOnce(io::Error) -> ModuleError {
    move |source| ModuleError::Io {
        context: context.to_string(),
        source,
    }
}

/// strata's record, in a modules directory that `builtin:strata-kernel-modules` wrote, of the
/// modules it left out: one line each, `<name> <directory below kernel/>`, followed by the
/// module it needs when it was left out for needing one.
pub const LEFT_OUT: &str = "modules.left-out";

/// Why a module was left out of a system's modules tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// The filter's directory (below `kernel/`) it is in, or that the module it needs is in.
    pub directory: String,
    /// The left-out module it needs, when it is not in the directory itself.
    pub through: Option<String>,
}

/// Reads [`LEFT_OUT`] of a modules directory: module name -> why. Empty when the file is
/// absent; lines that do not parse are skipped (the file only explains errors).
pub fn read_left_out(dir: &Path) -> io::Result<BTreeMap<String, LeftOut>> {
    let text = match fs::read_to_string(dir.join(LEFT_OUT)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        if let (Some(name), Some(directory)) = (w.next(), w.next()) {
            map.insert(
                name.to_owned(),
                LeftOut {
                    directory: directory.to_owned(),
                    through: w.next().map(str::to_owned),
                },
            );
        }
    }
    Ok(map)
}

/// The extensions of module files, as Debian ships them (and gzip, which kmod also reads).
const MODULE_EXTENSIONS: [&str; 4] = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"];

/// The module name of a module file path: its file name without the extension, dashes turned
/// into underscores (as the kernel and modprobe treat them). `None` for a non-module file.
pub fn module_name_of_path(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = MODULE_EXTENSIONS
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    (!stem.is_empty()).then(|| normalize_module_name(stem))
}

/// A module name as the kernel knows it: dashes are underscores.
pub fn normalize_module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Where a module's dependencies come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DepSource {
    /// `modules.dep`: path → dependency paths, as written there.
    ModulesDep(BTreeMap<String, Vec<String>>),
    /// Each module's `.modinfo` `depends=` field, read when needed.
    Modinfo,
}

/// A kernel's `lib/modules/<version>/` directory.
#[derive(Debug)]
pub struct ModulesDir {
    root: PathBuf,
    version: String,
    /// Module name → path relative to `root`.
    by_name: BTreeMap<String, String>,
    builtin: BTreeSet<String>,
    deps: DepSource,
    /// Alias → module names, read on first need from the modules that provide the aliases
    /// soft dependencies name (see [`ModulesDir::closure`]).
    aliases: std::cell::OnceCell<BTreeMap<String, Vec<String>>>,
    /// `modules.softdep`, when the directory has one: module -> the soft dependencies'
    /// names (both lists).
    softdeps: BTreeMap<String, Vec<String>>,
    /// [`LEFT_OUT`], when the directory has one.
    left_out: BTreeMap<String, LeftOut>,
}

/// One module file of a closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The module's name (underscores).
    pub name: String,
    /// Its path relative to the modules directory, e.g. `kernel/fs/ext4/ext4.ko`.
    pub path: String,
    /// The names of the modules it depends on: as `modules.dep` lists them (depmod lists the
    /// transitive dependencies), or the direct ones from `.modinfo`.
    pub depends: Vec<String>,
}

/// The modules needed for a set of wanted modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleClosure {
    /// Module files in load order: every module after all of its dependencies.
    pub modules: Vec<Module>,
    /// Wanted names that are built into the kernel (no file needed), sorted.
    pub builtin: Vec<String>,
}

impl ModulesDir {
    /// Opens `root` (`.../lib/modules/<version>`): reads `modules.dep` when present (strictly;
    /// errors name the line), else indexes the module files to read their `.modinfo` later;
    /// reads `modules.builtin` when present.
    pub fn open(root: &Path) -> Result<Self, ModuleError> {
        let version = root
            .file_name()
            .and_then(|v| v.to_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ModuleError::BadDir(root.to_owned()))?
            .to_owned();
        let dep_file = root.join("modules.dep");
        let (by_name, deps) = match fs::read_to_string(&dep_file) {
            Ok(text) => {
                let map = parse_modules_dep(&text, &dep_file)?;
                let mut by_name = BTreeMap::new();
                for path in map.keys() {
                    if let Some(name) = module_name_of_path(path) {
                        // depmod lists one file per name; keep the first if not.
                        by_name.entry(name).or_insert_with(|| path.clone());
                    }
                }
                (by_name, DepSource::ModulesDep(map))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut files = Vec::new();
                scan_modules(root, "", &mut files)?;
                files.sort();
                let mut by_name = BTreeMap::new();
                for path in files {
                    if let Some(name) = module_name_of_path(&path) {
                        by_name.entry(name).or_insert(path);
                    }
                }
                (by_name, DepSource::Modinfo)
            }
            Err(e) => return Err(mod_io(format_args!("read {}", dep_file.display()))(e)),
        };
        let mut softdeps: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let softdep_file = root.join("modules.softdep");
        match fs::read_to_string(&softdep_file) {
            Ok(text) => {
                for line in text.lines() {
                    let mut w = line.split_whitespace();
                    if let (Some("softdep"), Some(name)) = (w.next(), w.next()) {
                        let rest: Vec<&str> = w.collect();
                        softdeps
                            .entry(normalize_module_name(name))
                            .or_default()
                            .extend(parse_softdep(&rest.join(" ")));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(mod_io(format_args!("read {}", softdep_file.display()))(e)),
        }
        let left_out = read_left_out(root).map_err(mod_io(format_args!(
            "read {}",
            root.join(LEFT_OUT).display()
        )))?;
        let builtin_file = root.join("modules.builtin");
        let builtin = match fs::read_to_string(&builtin_file) {
            Ok(text) => text.lines().filter_map(module_name_of_path).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(mod_io(format_args!("read {}", builtin_file.display()))(e)),
        };
        Ok(ModulesDir {
            root: root.to_owned(),
            version,
            by_name,
            builtin,
            deps,
            aliases: std::cell::OnceCell::new(),
            softdeps,
            left_out,
        })
    }

    /// The kernel version: the directory's name.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether dependencies come from `modules.dep` (else from `.modinfo`).
    pub fn has_modules_dep(&self) -> bool {
        matches!(self.deps, DepSource::ModulesDep(_))
    }

    /// The direct dependencies of the module at `path`, as module names.
    fn depends(&self, name: &str, path: &str) -> Result<Vec<String>, ModuleError> {
        let names = match &self.deps {
            DepSource::ModulesDep(map) => {
                let mut names: Vec<String> = map
                    .get(path)
                    .map(|deps| {
                        deps.iter()
                            .filter_map(|d| module_name_of_path(d))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                // Soft dependencies go last: the list is visited backwards, so they load
                // first, as modprobe loads `pre:` modules.
                for dep in self.softdeps.get(name).into_iter().flatten() {
                    names.extend(self.resolve_soft(dep)?);
                }
                names
            }
            DepSource::Modinfo => {
                let full = self.root.join(path);
                let info = read_modinfo(&full)?;
                let mut names: Vec<String> = info
                    .iter()
                    .filter_map(|kv| kv.strip_prefix("depends="))
                    .flat_map(|v| v.split(','))
                    .filter(|d| !d.is_empty())
                    .map(normalize_module_name)
                    .collect();
                for soft in info.iter().filter_map(|kv| kv.strip_prefix("softdep=")) {
                    for dep in parse_softdep(soft) {
                        names.extend(self.resolve_soft(&dep)?);
                    }
                }
                names
            }
        };
        for dep in &names {
            if !self.by_name.contains_key(dep) {
                return Err(ModuleError::MissingDependency {
                    dir: self.root.clone(),
                    module: name.to_owned(),
                    dependency: dep.clone(),
                });
            }
        }
        Ok(names)
    }

    /// The module files a soft dependency (`softdep=pre: crc32c`) names: the module of that
    /// name, or else every module with that alias (`crc32c` is `crc32c_generic` and
    /// `crc32c_intel`); nothing when it is built in or unknown (modprobe ignores those too).
    /// Soft dependencies are crypto algorithms and library routines, so aliases are read
    /// from the modules under `crypto/` and `lib/` directories only, once.
    fn resolve_soft(&self, dep: &str) -> Result<Vec<String>, ModuleError> {
        let name = normalize_module_name(dep);
        if self.by_name.contains_key(&name) {
            return Ok(vec![name]);
        }
        if self.builtin.contains(&name) {
            return Ok(Vec::new());
        }
        if self.aliases.get().is_none() {
            let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
            // A tree strata indexed lists every alias; others are read from the modules.
            let alias_file = self.root.join("modules.alias");
            let listed = match fs::read_to_string(&alias_file) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(mod_io(format_args!("read {}", alias_file.display()))(e)),
            };
            for line in listed.as_deref().unwrap_or("").lines() {
                let mut w = line.split_whitespace();
                if let (Some("alias"), Some(alias), Some(module)) = (w.next(), w.next(), w.next()) {
                    map.entry(alias.to_owned())
                        .or_default()
                        .push(normalize_module_name(module));
                }
            }
            for (module, path) in self.by_name.iter().filter(|_| listed.is_none()) {
                if !(path.contains("/crypto/") || path.contains("/lib/")) {
                    continue;
                }
                for kv in read_modinfo(&self.root.join(path))? {
                    if let Some(alias) = kv.strip_prefix("alias=") {
                        map.entry(alias.to_owned())
                            .or_default()
                            .push(module.clone());
                    }
                }
            }
            let _ = self.aliases.set(map);
        }
        Ok(self
            .aliases
            .get()
            .and_then(|m| m.get(dep))
            .cloned()
            .unwrap_or_default())
    }

    /// The closure of `wanted` (dashes and underscores alike): module files in load order,
    /// dependencies first. Deterministic: wanted names are visited in the given order,
    /// dependencies in the order `modules.dep` lists them read backwards (modprobe loads that
    /// list from its end), or as `.modinfo` lists them. Built-in names need no file; names
    /// that are neither are reported together.
    pub fn closure<S: AsRef<str>>(&self, wanted: &[S]) -> Result<ModuleClosure, ModuleError> {
        let mut unknown = Vec::new();
        let mut roots = Vec::new();
        let mut builtin = BTreeSet::new();
        for w in wanted {
            let name = normalize_module_name(w.as_ref());
            if self.by_name.contains_key(&name) {
                roots.push(name);
            } else if self.builtin.contains(&name) {
                builtin.insert(name);
            } else {
                unknown.push(w.as_ref().to_owned());
            }
        }
        let left_out: Vec<String> = unknown
            .iter()
            .filter_map(|w| {
                let why = self.left_out.get(&normalize_module_name(w))?;
                Some(match &why.through {
                    None => format!("{w} (in kernel/{}/)", why.directory),
                    Some(t) => format!("{w} (needs {t}, in kernel/{}/)", why.directory),
                })
            })
            .collect();
        if !left_out.is_empty() {
            return Err(ModuleError::LeftOut { names: left_out });
        }
        if !unknown.is_empty() {
            return Err(ModuleError::Unknown {
                dir: self.root.clone(),
                names: unknown,
            });
        }

        #[derive(PartialEq)]
        enum State {
            Visiting,
            Done,
        }
        let mut state: HashMap<String, State> = HashMap::new();
        let mut out = Vec::new();
        // Iterative depth-first search: (name, its dependencies, the next one to visit).
        for root in roots {
            if state.contains_key(&root) {
                continue;
            }
            let mut stack: Vec<(String, String, Vec<String>, usize)> = Vec::new();
            let path = self.by_name[&root].clone();
            let deps = self.ordered_deps(&root, &path)?;
            state.insert(root.clone(), State::Visiting);
            stack.push((root, path, deps, 0));
            while let Some((name, path, deps, next)) = stack.last_mut() {
                if let Some(dep) = deps.get(*next).cloned() {
                    *next += 1;
                    match state.get(&dep) {
                        Some(State::Done) => {}
                        Some(State::Visiting) => {
                            let from = stack.iter().position(|f| f.0 == dep).unwrap_or(0);
                            let mut chain: Vec<String> =
                                stack[from..].iter().map(|f| f.0.clone()).collect();
                            chain.push(dep);
                            return Err(ModuleError::Cycle { chain });
                        }
                        None => {
                            let dep_path = self.by_name[&dep].clone();
                            let dep_deps = self.ordered_deps(&dep, &dep_path)?;
                            state.insert(dep.clone(), State::Visiting);
                            stack.push((dep, dep_path, dep_deps, 0));
                        }
                    }
                } else {
                    let (name, path) = (name.clone(), path.clone());
                    let mut depends = deps.clone();
                    if self.has_modules_dep() {
                        depends.reverse();
                    }
                    stack.pop();
                    state.insert(name.clone(), State::Done);
                    out.push(Module {
                        name,
                        path,
                        depends,
                    });
                }
            }
        }
        Ok(ModuleClosure {
            modules: out,
            builtin: builtin.into_iter().collect(),
        })
    }

    /// Dependencies in visiting order.
    fn ordered_deps(&self, name: &str, path: &str) -> Result<Vec<String>, ModuleError> {
        let mut deps = self.depends(name, path)?;
        if self.has_modules_dep() {
            deps.reverse();
        }
        let mut seen = BTreeSet::new();
        deps.retain(|d| seen.insert(d.clone()));
        Ok(deps)
    }

    /// Copies the closure's module files to `dest/lib/modules/<version>/` (same relative
    /// paths, mode 0644), with a `modules.dep` for exactly those modules (the original lines
    /// when there was one; otherwise written from `.modinfo` as depmod would, each module's
    /// transitive dependencies listed last-to-load first), `modules.order` filtered to them
    /// when present, and `modules.builtin` when present. Returns the directory written.
    pub fn stage(&self, closure: &ModuleClosure, dest: &Path) -> Result<PathBuf, ModuleError> {
        self.stage_with(closure, dest, false)
    }

    /// [`ModulesDir::stage`], and with `decompress`, compressed modules (`.ko.xz`, `.ko.zst`,
    /// `.ko.gz`) are written decompressed as `.ko`, with `modules.dep` naming them so: the
    /// initrd's modules then load with `finit_module` as they are, and the initrd's own
    /// compression covers them all at once.
    pub fn stage_with(
        &self,
        closure: &ModuleClosure,
        dest: &Path,
        decompress: bool,
    ) -> Result<PathBuf, ModuleError> {
        let staged = |p: &str| -> String {
            match (decompress, module_name_of_path(p)) {
                (true, Some(_)) => {
                    let stem = [".ko.xz", ".ko.zst", ".ko.gz"]
                        .iter()
                        .find_map(|ext| p.strip_suffix(ext));
                    stem.map_or_else(|| p.to_owned(), |s| format!("{s}.ko"))
                }
                _ => p.to_owned(),
            }
        };
        let out = dest.join("lib/modules").join(&self.version);
        fs::create_dir_all(&out).map_err(mod_io(format_args!("create {}", out.display())))?;
        let mut dep_text = String::new();
        let index: HashMap<&str, &Module> = closure
            .modules
            .iter()
            .map(|m| (m.name.as_str(), m))
            .collect();
        for m in &closure.modules {
            let src = self.root.join(&m.path);
            let dst = out.join(staged(&m.path));
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent)
                    .map_err(mod_io(format_args!("create {}", parent.display())))?;
            }
            if decompress && staged(&m.path) != m.path {
                let data = read_decompressed(&src)?;
                write_file(&dst, &data)?;
            } else {
                fs::copy(&src, &dst).map_err(mod_io(format_args!(
                    "copy {} to {}",
                    src.display(),
                    dst.display()
                )))?;
            }
            fs::set_permissions(&dst, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .map_err(mod_io(format_args!("chmod {}", dst.display())))?;
            // The transitive dependencies in load order, from the closure (already sorted).
            let mut trans = Vec::new();
            let mut seen = BTreeSet::new();
            let mut todo: Vec<&str> = m.depends.iter().map(String::as_str).collect();
            while let Some(d) = todo.pop() {
                if seen.insert(d) {
                    if let Some(dm) = index.get(d) {
                        todo.extend(dm.depends.iter().map(String::as_str));
                    }
                }
            }
            for c in &closure.modules {
                if seen.contains(c.name.as_str()) {
                    trans.push(c.path.as_str());
                }
            }
            match &self.deps {
                DepSource::ModulesDep(map) => {
                    let deps = map.get(&m.path).map(Vec::as_slice).unwrap_or_default();
                    dep_text.push_str(&staged(&m.path));
                    dep_text.push(':');
                    for d in deps {
                        dep_text.push(' ');
                        dep_text.push_str(&staged(d));
                    }
                }
                DepSource::Modinfo => {
                    dep_text.push_str(&staged(&m.path));
                    dep_text.push(':');
                    for d in trans.iter().rev() {
                        dep_text.push(' ');
                        dep_text.push_str(&staged(d));
                    }
                }
            }
            dep_text.push('\n');
        }
        write_file(&out.join("modules.dep"), dep_text.as_bytes())?;

        let order_file = self.root.join("modules.order");
        match fs::read_to_string(&order_file) {
            Ok(text) => {
                let names: BTreeSet<&str> = index.keys().copied().collect();
                let mut kept = String::new();
                for line in text.lines() {
                    if module_name_of_path(line).is_some_and(|n| names.contains(n.as_str())) {
                        kept.push_str(line);
                        kept.push('\n');
                    }
                }
                write_file(&out.join("modules.order"), kept.as_bytes())?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(mod_io(format_args!("read {}", order_file.display()))(e)),
        }
        let builtin_file = self.root.join("modules.builtin");
        if builtin_file.exists() {
            let dst = out.join("modules.builtin");
            fs::copy(&builtin_file, &dst).map_err(mod_io(format_args!(
                "copy {} to {}",
                builtin_file.display(),
                dst.display()
            )))?;
        }
        Ok(out)
    }
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), ModuleError> {
    fs::write(path, data).map_err(mod_io(format_args!("write {}", path.display())))
}

/// Checks a module path from `modules.dep`: relative, no `..`, a module file name.
/// A path in `modules.dep` that cannot be a module's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModulePathError {
    #[error("module path {0:?} is absolute")]
    Absolute(String),
    #[error("module path {0:?} is not canonical")]
    NotCanonical(String),
    #[error("{0:?} is not a module file (.ko, .ko.xz, .ko.zst or .ko.gz)")]
    NotAModule(String),
}

fn check_module_path(path: &str) -> Result<(), ModulePathError> {
    if path.starts_with('/') {
        return Err(ModulePathError::Absolute(path.to_owned()));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(ModulePathError::NotCanonical(path.to_owned()));
    }
    if module_name_of_path(path).is_none() {
        return Err(ModulePathError::NotAModule(path.to_owned()));
    }
    Ok(())
}

/// Parses `modules.dep`: one line per module, `path: dep dep ...`. Strict: every path must be
/// a relative module file, listed once, and every dependency must have its own line.
pub fn parse_modules_dep(
    text: &str,
    file: &Path,
) -> Result<BTreeMap<String, Vec<String>>, ModuleError> {
    let err = |line: usize, message: String| ModuleError::Parse {
        file: file.to_owned(),
        line,
        message,
    };
    let mut map = BTreeMap::new();
    let mut line_of = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        let Some((path, deps)) = line.split_once(':') else {
            return Err(err(
                n,
                format!("expected \"module: deps...\", found {line:?}"),
            ));
        };
        check_module_path(path).map_err(|m| err(n, m.to_string()))?;
        if !deps.is_empty() && !deps.starts_with(' ') {
            return Err(err(
                n,
                format!("expected a space after the colon in {line:?}"),
            ));
        }
        let deps: Vec<String> = deps.split_whitespace().map(str::to_owned).collect();
        for d in &deps {
            check_module_path(d).map_err(|m| err(n, m.to_string()))?;
            if d == path {
                return Err(err(n, format!("{path} depends on itself")));
            }
        }
        if let Some(first) = line_of.insert(path.to_owned(), n) {
            return Err(err(
                n,
                format!("{path} is listed again (first on line {first})"),
            ));
        }
        map.insert(path.to_owned(), deps);
    }
    for (path, deps) in &map {
        for d in deps {
            if !map.contains_key(d) {
                return Err(err(
                    line_of[path],
                    format!("{path} depends on {d}, which has no line of its own"),
                ));
            }
        }
    }
    Ok(map)
}

/// Collects module files below `dir` (relative paths), without following symlinks (the
/// `build` and `source` links point outside).
pub(crate) fn scan_modules(
    root: &Path,
    rel: &str,
    out: &mut Vec<String>,
) -> Result<(), ModuleError> {
    let dir = if rel.is_empty() {
        root.to_owned()
    } else {
        root.join(rel)
    };
    let ctx = || format!("list {}", dir.display());
    for entry in fs::read_dir(&dir).map_err(mod_io(ctx()))? {
        let entry = entry.map_err(mod_io(ctx()))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let rel_child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = entry.file_type().map_err(mod_io(ctx()))?;
        if ft.is_dir() {
            scan_modules(root, &rel_child, out)?;
        } else if ft.is_file() && module_name_of_path(&rel_child).is_some() {
            out.push(rel_child);
        }
    }
    Ok(())
}

/// The module names of a `softdep=` value (`pre: a b post: c`): both lists, as modprobe loads
/// `pre` modules before and `post` modules after the module; the initrd loads them all first.
pub fn parse_softdep(value: &str) -> Vec<String> {
    value
        .split_whitespace()
        .filter(|w| *w != "pre:" && *w != "post:")
        .map(str::to_owned)
        .collect()
}

/// The largest module file read (decompressed) for its `.modinfo`.
const MAX_MODULE_SIZE: u64 = 256 << 20;

/// A module file's bytes, decompressed when compressed (at most [`MAX_MODULE_SIZE`]).
fn read_decompressed(path: &Path) -> Result<Vec<u8>, ModuleError> {
    let file = File::open(path).map_err(mod_io(format_args!("read {}", path.display())))?;
    let mut data = Vec::new();
    crate::compress::decoder(io::BufReader::new(file))
        .and_then(|r| r.take(MAX_MODULE_SIZE).read_to_end(&mut data))
        .map_err(mod_io(format_args!("decompress {}", path.display())))?;
    Ok(data)
}

/// Reads the `key=value` strings of a module file's `.modinfo` ELF section.
pub fn read_modinfo(path: &Path) -> Result<Vec<String>, ModuleError> {
    let bad = |message: String| ModuleError::Modinfo {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(mod_io(format_args!("read {}", path.display())))?;
    let mut data = Vec::new();
    crate::compress::decoder(io::BufReader::new(file))
        .and_then(|r| r.take(MAX_MODULE_SIZE).read_to_end(&mut data))
        .map_err(|e| bad(format!("decompress: {e}")))?;
    let section = elf_section(&data, ".modinfo").map_err(|e| bad(e.to_string()))?;
    Ok(section
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use super::*;
    use crate::compress::Compression;
    use crate::initrd::build_initrd;
    use crate::initrd::cpio::tests::parse_newc;

    // ---- kernel modules ---------------------------------------------------------------------

    fn write(root: &Path, rel: &str, data: &[u8]) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    const DEP: &str = "\
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko: kernel/lib/crc16.ko
kernel/lib/crc16.ko:
kernel/drivers/block/virtio_blk.ko:
kernel/drivers/virtio/virtio-pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/scsi/sd_mod.ko.xz: kernel/drivers/scsi/scsi_common.ko.zst
kernel/drivers/scsi/scsi_common.ko.zst:
kernel/unused/foo.ko:
";

    fn synthetic_modules() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("lib/modules/6.1.0-test");
        write(&root, "modules.dep", DEP.as_bytes());
        for line in DEP.lines() {
            let path = line.split(':').next().unwrap();
            write(&root, path, path.as_bytes());
        }
        write(
            &root,
            "modules.builtin",
            b"kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\nkernel/crypto/crc32c_generic.ko\n",
        );
        let order: String = DEP
            .lines()
            .rev()
            .map(|l| l.split(':').next().unwrap().to_owned() + "\n")
            .collect();
        write(&root, "modules.order", order.as_bytes());
        (t, root)
    }

    fn names(c: &ModuleClosure) -> Vec<&str> {
        c.modules.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn closure_follows_modules_dep() {
        let (_t, root) = synthetic_modules();
        let dir = ModulesDir::open(&root).unwrap();
        assert_eq!(dir.version(), "6.1.0-test");
        assert!(dir.has_modules_dep());
        let c = dir
            .closure(&[
                "virtio_blk",
                "ext4",
                "virtio_pci",
                "sd-mod",
                "virtio",
                "crc32c-generic",
            ])
            .unwrap();
        assert_eq!(
            names(&c),
            [
                "virtio_blk",
                "crc16",
                "jbd2",
                "mbcache",
                "ext4",
                "virtio_pci_modern_dev",
                "virtio_pci",
                "scsi_common",
                "sd_mod"
            ]
        );
        assert_eq!(c.builtin, ["crc32c_generic", "virtio"]);
        let sd = c.modules.iter().find(|m| m.name == "sd_mod").unwrap();
        assert_eq!(sd.path, "kernel/drivers/scsi/sd_mod.ko.xz");
        assert_eq!(
            c.modules
                .iter()
                .find(|m| m.name == "virtio_pci")
                .unwrap()
                .path,
            "kernel/drivers/virtio/virtio-pci.ko"
        );
        // Every module comes after its dependencies; the result is deterministic.
        for (i, m) in c.modules.iter().enumerate() {
            for d in &m.depends {
                assert!(
                    names(&c)[..i].contains(&d.as_str()),
                    "{} before {d}",
                    m.name
                );
            }
        }
        assert_eq!(
            c,
            dir.closure(&[
                "virtio_blk",
                "ext4",
                "virtio_pci",
                "sd-mod",
                "virtio",
                "crc32c-generic"
            ])
            .unwrap()
        );
        // Duplicates and dash spellings collapse.
        let c2 = dir
            .closure(&["jbd2", "ext4", "ext4", "virtio-blk", "virtio_blk"])
            .unwrap();
        assert_eq!(
            names(&c2),
            ["crc16", "jbd2", "mbcache", "ext4", "virtio_blk"]
        );
    }

    #[test]
    fn unknown_modules_are_listed() {
        let (_t, root) = synthetic_modules();
        let dir = ModulesDir::open(&root).unwrap();
        let e = dir.closure(&["ext4", "nope", "also-nope"]).unwrap_err();
        match &e {
            ModuleError::Unknown { names, .. } => assert_eq!(names, &["nope", "also-nope"]),
            other => panic!("{other}"),
        }
        let text = e.to_string();
        assert!(text.contains("nope, also-nope"), "{text}");
    }

    #[test]
    fn cycles_are_errors() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("6.1");
        write(
            &root,
            "modules.dep",
            b"a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\nd.ko: a.ko\n",
        );
        let dir = ModulesDir::open(&root).unwrap();
        match dir.closure(&["d"]).unwrap_err() {
            ModuleError::Cycle { chain } => {
                assert_eq!(chain.first(), chain.last());
                assert_eq!(chain.len(), 4, "{chain:?}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn modules_dep_is_parsed_strictly() {
        let f = Path::new("modules.dep");
        let cases: [(&str, usize, &str); 7] = [
            ("a.ko:\nb.ko b.ko\n", 2, "expected"),
            ("a.ko:\n/abs/b.ko:\n", 2, "absolute"),
            ("a.ko:\nb.ko: ../c.ko\n", 2, "canonical"),
            ("a.ko:\nb.txt:\n", 2, "not a module file"),
            ("a.ko:\nb.ko:\na.ko:\n", 3, "listed again (first on line 1)"),
            ("a.ko:\n\nb.ko: c.ko\n", 3, "no line of its own"),
            ("a.ko: a.ko\n", 1, "itself"),
        ];
        for (text, line, msg) in cases {
            let e = parse_modules_dep(text, f).unwrap_err();
            let s = e.to_string();
            assert!(
                s.starts_with(&format!("modules.dep:{line}: ")) && s.contains(msg),
                "{text:?}: {s}"
            );
        }
        let ok = parse_modules_dep("a.ko: b.ko.xz c.ko.zst\nb.ko.xz:\nc.ko.zst:\n", f).unwrap();
        assert_eq!(ok["a.ko"], ["b.ko.xz", "c.ko.zst"]);
    }

    #[test]
    fn staging_copies_closure_and_filtered_indexes() {
        let (_t, root) = synthetic_modules();
        let dir = ModulesDir::open(&root).unwrap();
        let c = dir.closure(&["ext4", "sd_mod", "virtio"]).unwrap();
        let dest = tempfile::tempdir().unwrap();
        let out = dir.stage(&c, dest.path()).unwrap();
        assert_eq!(out, dest.path().join("lib/modules/6.1.0-test"));
        for m in &c.modules {
            assert_eq!(fs::read(out.join(&m.path)).unwrap(), m.path.as_bytes());
        }
        assert!(!out.join("kernel/unused/foo.ko").exists());
        assert!(!out.join("kernel/drivers/block/virtio_blk.ko").exists());
        let dep = fs::read_to_string(out.join("modules.dep")).unwrap();
        assert_eq!(
            dep,
            "kernel/lib/crc16.ko:\n\
             kernel/fs/jbd2/jbd2.ko: kernel/lib/crc16.ko\n\
             kernel/fs/mbcache.ko:\n\
             kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n\
             kernel/drivers/scsi/scsi_common.ko.zst:\n\
             kernel/drivers/scsi/sd_mod.ko.xz: kernel/drivers/scsi/scsi_common.ko.zst\n"
        );
        // The staged directory is itself a valid modules directory with the same closure.
        let again = ModulesDir::open(&out).unwrap();
        assert_eq!(again.closure(&["ext4", "sd_mod", "virtio"]).unwrap(), c);
        let order = fs::read_to_string(out.join("modules.order")).unwrap();
        assert_eq!(order.lines().count(), 6);
        assert!(order.starts_with("kernel/drivers/scsi/scsi_common.ko.zst\n"));
        assert!(out.join("modules.builtin").exists());
        // And it archives.
        let initrd = build_initrd(dest.path(), Compression::None, 0).unwrap();
        let es = parse_newc(&initrd);
        assert!(es
            .iter()
            .any(|e| e.name == "lib/modules/6.1.0-test/kernel/fs/ext4/ext4.ko"));
    }

    /// A minimal little-endian ELF64 object with `.shstrtab` and a `.modinfo` section.
    pub(crate) fn fake_module(modinfo: &[&str]) -> Vec<u8> {
        let strtab = b"\0.shstrtab\0.modinfo\0";
        let mut info = Vec::new();
        for kv in modinfo {
            info.extend_from_slice(kv.as_bytes());
            info.push(0);
        }
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // 64-bit
        f[5] = 1; // little-endian
        f[6] = 1;
        let strtab_off = f.len() as u64;
        f.extend_from_slice(strtab);
        let info_off = f.len() as u64;
        f.extend_from_slice(&info);
        while f.len() % 8 != 0 {
            f.push(0);
        }
        let shoff = f.len() as u64;
        f[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        f[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        f[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
        f[0x3E..0x40].copy_from_slice(&1u16.to_le_bytes());
        for (name, off, size) in [
            (0u32, 0u64, 0u64),
            (1, strtab_off, strtab.len() as u64),
            (11, info_off, info.len() as u64),
        ] {
            let mut sh = [0u8; 64];
            sh[..4].copy_from_slice(&name.to_le_bytes());
            sh[0x18..0x20].copy_from_slice(&off.to_le_bytes());
            sh[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            f.extend_from_slice(&sh);
        }
        f
    }

    #[test]
    fn closure_from_modinfo_without_modules_dep() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("6.1.0-nodep");
        write(
            &root,
            "kernel/fs/ext4/ext4.ko",
            &fake_module(&["license=GPL", "depends=jbd2,mbcache,crc16", "name=ext4"]),
        );
        write(
            &root,
            "kernel/fs/jbd2/jbd2.ko",
            &fake_module(&["depends=crc16", "name=jbd2"]),
        );
        write(&root, "kernel/fs/mbcache.ko", &fake_module(&["depends="]));
        let crc = ruzstd::encoding::compress_to_vec(
            &fake_module(&["depends=", "name=crc16"])[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        write(&root, "kernel/lib/crc16.ko.zst", &crc);
        write(
            &root,
            "kernel/x/bad-dep.ko",
            &fake_module(&["depends=missing"]),
        );
        write(&root, "kernel/x/not-elf.ko", b"garbage");
        write(&root, "modules.builtin", b"kernel/fs/fat/vfat.ko\n");
        let dir = ModulesDir::open(&root).unwrap();
        assert!(!dir.has_modules_dep());
        let c = dir.closure(&["ext4", "vfat"]).unwrap();
        assert_eq!(names(&c), ["crc16", "jbd2", "mbcache", "ext4"]);
        let pos = |n: &str| names(&c).iter().position(|x| *x == n).unwrap();
        assert!(
            pos("crc16") < pos("jbd2") && pos("jbd2") < pos("ext4") && pos("mbcache") < pos("ext4")
        );
        assert_eq!(c.builtin, ["vfat"]);
        let e = dir.closure(&["bad-dep"]).unwrap_err().to_string();
        assert!(e.contains("\"missing\""), "{e}");
        let e = dir.closure(&["not_elf"]).unwrap_err().to_string();
        assert!(e.contains("not an ELF file"), "{e}");

        let dest = tempfile::tempdir().unwrap();
        let out = dir.stage(&c, dest.path()).unwrap();
        let dep = fs::read_to_string(out.join("modules.dep")).unwrap();
        assert!(dep.contains(
            "kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko.zst\n"
        ), "{dep}");
        // The generated modules.dep reads back to the same closure.
        let again = ModulesDir::open(&out).unwrap();
        assert!(again.has_modules_dep());
        assert_eq!(names(&again.closure(&["ext4"]).unwrap()), names(&c));
    }

    #[test]
    fn soft_dependencies_come_along_through_their_aliases() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("6.1.0-soft");
        write(
            &root,
            "kernel/fs/ext4/ext4.ko",
            &fake_module(&["depends=", "softdep=pre: crc32c post: nonesuch"]),
        );
        write(
            &root,
            "kernel/crypto/crc32c_generic.ko",
            &fake_module(&["depends=", "alias=crypto-crc32c", "alias=crc32c"]),
        );
        write(
            &root,
            "kernel/arch/x86/crypto/crc32c-intel.ko",
            &fake_module(&["depends=", "alias=crc32c"]),
        );
        write(
            &root,
            "kernel/crypto/sha256_generic.ko",
            &fake_module(&["depends=", "alias=sha256"]),
        );
        assert_eq!(parse_softdep("pre: a b post: c"), ["a", "b", "c"]);
        let dir = ModulesDir::open(&root).unwrap();
        let c = dir.closure(&["ext4"]).unwrap();
        // Both providers of the alias, before ext4; the unknown one is ignored, as by modprobe.
        assert_eq!(names(&c), ["crc32c_generic", "crc32c_intel", "ext4"]);
    }

    #[test]
    fn real_debian_modules_tree() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/bench-data/kernel/unpacked/lib/modules");
        let Some(root) = fs::read_dir(&base)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
        else {
            eprintln!(
                "skipping real_debian_modules_tree: no kernel modules tree under {}",
                base.display()
            );
            return;
        };
        let start = std::time::Instant::now();
        let dir = ModulesDir::open(&root).unwrap();
        let c = dir
            .closure(&["virtio_blk", "ext4", "virtio_pci", "sd_mod"])
            .unwrap();
        eprintln!(
            "{}: {} modules ({} dependencies from {}), builtin {:?}, in {:?}: {:?}",
            root.display(),
            c.modules.len(),
            c.modules.iter().map(|m| m.depends.len()).sum::<usize>(),
            if dir.has_modules_dep() {
                "modules.dep"
            } else {
                ".modinfo"
            },
            c.builtin,
            start.elapsed(),
            names(&c)
        );
        let n = names(&c);
        for m in ["jbd2", "mbcache"] {
            if dir.by_name.contains_key(m) {
                assert!(n.contains(&m), "{m} missing from {n:?}");
            }
        }
        for (i, m) in c.modules.iter().enumerate() {
            for d in &m.depends {
                assert!(n[..i].contains(&d.as_str()), "{} before {d}", m.name);
            }
        }
        let dest = tempfile::tempdir().unwrap();
        let out = dir.stage(&c, dest.path()).unwrap();
        let again = ModulesDir::open(&out).unwrap();
        assert_eq!(
            names(
                &again
                    .closure(&["virtio_blk", "ext4", "virtio_pci", "sd_mod"])
                    .unwrap()
            ),
            n
        );
        let gz = build_initrd(dest.path(), Compression::Gzip, 0).unwrap();
        eprintln!("initrd with those modules: {} bytes gzipped", gz.len());
    }
}
