//! A system's kernel modules: the modules of a Debian kernel package as a system carries
//! them, recompressed, indexed by strata, and with whole directories left out on request.
//!
//! Debian's kernel ships some 4,000 uncompressed modules (about 390 MiB) and no indexes
//! (depmod writes them at installation). [`build_modules_tree`] reads
//! `<package>/lib/modules/<version>/` and writes `<out>/lib/modules/<version>/` with:
//!
//! - every module that is kept, as `<path>.ko.xz` ([`crate::compress::xz_kernel_module`]:
//!   one xz stream with a CRC32 check, as the kernel's own `modules_install` writes them);
//! - `modules.dep` (each module's transitive hard dependencies, depmod's text format, the
//!   module loaded last listed first), `modules.alias` (`alias <pattern> <module>`) and
//!   `modules.softdep` (`softdep <module> <pre:/post: lists>`), all from the modules'
//!   `.modinfo` sections ([`crate::initrd::elf`]);
//! - `modules.symbols` (`alias symbol:<exported symbol> <module>`: the symbol table's
//!   `__ksymtab_<name>` entries, which every export has);
//! - kmod's binary indexes `modules.dep.bin`, `modules.alias.bin`, `modules.symbols.bin` and
//!   `modules.builtin.bin`
//!   ([`kmod_index`]), which Debian's `modprobe` reads instead of the text files;
//! - `modules.order` without the left-out modules, and `modules.builtin` and
//!   `modules.builtin.modinfo` copied;
//! - [`LEFT_OUT`], strata's own: one line per module left out (`<name> <directory>` or
//!   `<name> <directory> <module>`), so that asking for one later is an error naming the
//!   directory and, for a module left out because it needs one, the module it needs.
//!
//! Left out: the modules below `kernel/<dir>/` for every `dir` of the filter, and every module
//! that needs one of those (it could never load). The output is a function of the input tree
//! and the filter: the same bytes every time.
//!
//! Must not: choose the filter (the configuration does, through the derivation) or read
//! anything but the package's modules directory.

pub mod kmod_index;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::initrd::elf::elf_section;
use crate::initrd::modules::{
    module_name_of_path, normalize_module_name, scan_modules, LeftOut, LEFT_OUT,
};
use kmod_index::{normalize_alias, IndexWriter};

/// The largest module read (uncompressed).
const MAX_MODULE_SIZE: u64 = 256 << 20;

/// Why a modules tree could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("read the .modinfo section of {path}: {message}")]
    Modinfo { path: String, message: String },
    #[error(
        "module {module} ({path}) depends on {dependency:?}, which is no module of the kernel"
    )]
    MissingDependency {
        module: String,
        path: String,
        dependency: String,
    },
    #[error("kernel module dependency cycle: {}", chain.join(" -> "))]
    Cycle { chain: Vec<String> },
    #[error(
        "module filter entry {0:?} is not a directory below kernel/ (a relative path such as \
         \"sound\" or \"drivers/gpu\", without empty, `.' or `..' components)"
    )]
    BadFilter(String),
    #[error("module filter entry {0:?} names no directory of the kernel's modules (kernel/{0})")]
    NoSuchDirectory(String),
    #[error("kmod index {file}: {source}")]
    Index {
        file: &'static str,
        #[source]
        source: kmod_index::IndexError,
    },
}

fn io_ctx(context: impl std::fmt::Display) -> impl FnOnce(io::Error) -> KernelError {
    move |source| KernelError::Io {
        context: context.to_string(),
        source,
    }
}

/// One module of the package.
#[derive(Debug, Clone)]
struct Found {
    /// Its path in the package, relative to the modules directory.
    path: String,
    /// Its path in the output (`.ko.xz`).
    out_path: String,
    depends: Vec<String>,
    aliases: Vec<String>,
    softdeps: Vec<String>,
    /// The symbols it exports.
    symbols: Vec<String>,
}

/// What [`build_modules_tree`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeSummary {
    pub kept: usize,
    pub left_out: usize,
    /// Bytes of the kept modules, uncompressed and compressed.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Checks one filter entry: a relative path without empty, `.` or `..` components.
fn check_filter(entry: &str) -> Result<(), KernelError> {
    let ok = !entry.is_empty()
        && !entry.starts_with('/')
        && !entry.chars().any(char::is_control)
        && !entry.contains(char::is_whitespace)
        && entry
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(KernelError::BadFilter(entry.to_owned()))
    }
}

/// A module file's bytes, decompressed if it is compressed.
fn read_module(path: &Path) -> Result<Vec<u8>, KernelError> {
    let file = fs::File::open(path).map_err(io_ctx(format_args!("read {}", path.display())))?;
    let mut data = Vec::new();
    crate::compress::decoder(io::BufReader::new(file))
        .and_then(|r| r.take(MAX_MODULE_SIZE).read_to_end(&mut data))
        .map_err(io_ctx(format_args!("read {}", path.display())))?;
    Ok(data)
}

/// The `key=value` strings of a module's `.modinfo` section.
fn modinfo(data: &[u8], path: &str) -> Result<Vec<String>, KernelError> {
    let section = elf_section(data, ".modinfo").map_err(|e| KernelError::Modinfo {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(section
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

/// The symbols a module exports: the names of its symbol table's `__ksymtab_<name>` entries
/// (64-bit little-endian modules, the only kind strata's machines have; none otherwise, and
/// none from a table that does not parse).
fn exported_symbols(data: &[u8]) -> Vec<String> {
    const PREFIX: &[u8] = b"__ksymtab_";
    if data.get(4..6) != Some(&[2, 1]) {
        return Vec::new();
    }
    let (Ok(symtab), Ok(strtab)) = (elf_section(data, ".symtab"), elf_section(data, ".strtab"))
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = symtab
        .chunks_exact(24)
        .filter_map(|sym| {
            let at = u32::from_le_bytes([sym[0], sym[1], sym[2], sym[3]]);
            let name = strtab.get(usize::try_from(at).ok()?..)?;
            let name = name.split(|&b| b == 0).next()?;
            let export = name.strip_prefix(PREFIX)?;
            (!export.is_empty()).then(|| String::from_utf8_lossy(export).into_owned())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The output name of a module file: its extension replaced by `.ko.xz`.
fn xz_name(path: &str) -> String {
    let stem = [".ko.xz", ".ko.zst", ".ko.gz", ".ko"]
        .iter()
        .find_map(|ext| path.strip_suffix(ext))
        .unwrap_or(path);
    format!("{stem}.ko.xz")
}

/// Makes `out` (`.../lib/modules/<version>`) from the kernel's modules directory `src`, leaving
/// out the directories of `filter` (below `kernel/`); see the module documentation.
/// `jobs` modules are compressed at once.
pub fn build_modules_tree(
    src: &Path,
    out: &Path,
    filter: &[String],
    jobs: usize,
) -> Result<TreeSummary, KernelError> {
    for entry in filter {
        check_filter(entry)?;
        if !src.join("kernel").join(entry).is_dir() {
            return Err(KernelError::NoSuchDirectory(entry.clone()));
        }
    }
    let mut files = Vec::new();
    scan_modules(src, "", &mut files).map_err(|e| KernelError::Io {
        context: format!("list the modules of {}", src.display()),
        source: io::Error::other(e.to_string()),
    })?;
    files.sort();

    // Every module's name, dependencies and aliases; the first file of a name wins.
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    for path in files {
        let Some(name) = module_name_of_path(&path) else {
            continue;
        };
        if found.contains_key(&name) {
            continue;
        }
        let data = read_module(&src.join(&path))?;
        let info = modinfo(&data, &path)?;
        let symbols = exported_symbols(&data);
        fn field<'a>(info: &'a [String], key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
            info.iter()
                .filter_map(move |kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        }
        let depends = field(&info, "depends")
            .flat_map(|v| v.split(','))
            .filter(|d| !d.is_empty())
            .map(normalize_module_name)
            .collect();
        let aliases = field(&info, "alias").map(str::to_owned).collect();
        let softdeps = field(&info, "softdep").map(str::to_owned).collect();
        found.insert(
            name,
            Found {
                out_path: xz_name(&path),
                path,
                depends,
                aliases,
                softdeps,
                symbols,
            },
        );
    }
    for (name, m) in &found {
        if let Some(d) = m.depends.iter().find(|d| !found.contains_key(*d)) {
            return Err(KernelError::MissingDependency {
                module: name.clone(),
                path: m.path.clone(),
                dependency: d.clone(),
            });
        }
    }
    let order = load_order(&found)?;

    // Left out: the filter's directories, then whatever needs a left-out module (in load
    // order, so a module's dependencies are decided before it).
    let mut left_out: BTreeMap<String, LeftOut> = BTreeMap::new();
    for name in &order {
        let m = &found[name];
        let dir = filter
            .iter()
            .find(|d| m.path.starts_with(&format!("kernel/{d}/")));
        if let Some(d) = dir {
            left_out.insert(
                name.clone(),
                LeftOut {
                    directory: d.clone(),
                    through: None,
                },
            );
        } else if let Some(dep) = m.depends.iter().find(|d| left_out.contains_key(*d)) {
            let directory = left_out[dep].directory.clone();
            left_out.insert(
                name.clone(),
                LeftOut {
                    directory,
                    through: Some(dep.clone()),
                },
            );
        }
    }
    let kept: Vec<&String> = order
        .iter()
        .filter(|n| !left_out.contains_key(*n))
        .collect();

    fs::create_dir_all(out).map_err(io_ctx(format_args!("create {}", out.display())))?;
    let (bytes_in, bytes_out) = compress_all(src, out, &kept, &found, jobs)?;
    write_indexes(src, out, &order, &kept, &found, &left_out)?;
    Ok(TreeSummary {
        kept: kept.len(),
        left_out: left_out.len(),
        bytes_in,
        bytes_out,
    })
}

/// Every module after its dependencies: a depth-first walk from the names in sorted order,
/// dependencies in the order `.modinfo` lists them.
fn load_order(found: &BTreeMap<String, Found>) -> Result<Vec<String>, KernelError> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::with_capacity(found.len());
    for root in found.keys() {
        if done.contains(root.as_str()) {
            continue;
        }
        // (name, next dependency to visit)
        let mut stack: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        while let Some((name, next)) = stack.last_mut() {
            let deps = found
                .get(*name)
                .map(|m| m.depends.as_slice())
                .unwrap_or(&[]);
            if let Some(dep) = deps.get(*next) {
                *next += 1;
                if done.contains(dep.as_str()) {
                    continue;
                }
                if let Some(from) = stack.iter().position(|(n, _)| *n == dep) {
                    let mut chain: Vec<String> =
                        stack[from..].iter().map(|(n, _)| (*n).to_owned()).collect();
                    chain.push(dep.clone());
                    return Err(KernelError::Cycle { chain });
                }
                stack.push((dep.as_str(), 0));
            } else {
                let name = *name;
                stack.pop();
                done.insert(name);
                order.push(name.to_owned());
            }
        }
    }
    Ok(order)
}

/// Compresses the kept modules into `out` on `jobs` threads; returns the bytes read and
/// written. The first failure in module order is the one reported.
fn compress_all(
    src: &Path,
    out: &Path,
    kept: &[&String],
    found: &BTreeMap<String, Found>,
    jobs: usize,
) -> Result<(u64, u64), KernelError> {
    let next = AtomicUsize::new(0);
    type Sizes = Result<(u64, u64), KernelError>;
    let results: Mutex<BTreeMap<usize, Sizes>> = Mutex::new(BTreeMap::new());
    let one = |m: &Found| -> Result<(u64, u64), KernelError> {
        let data = read_module(&src.join(&m.path))?;
        let packed = crate::compress::xz_kernel_module(&data)
            .map_err(io_ctx(format_args!("compress {}", m.path)))?;
        let dst = out.join(&m.out_path);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)
                .map_err(io_ctx(format_args!("create {}", parent.display())))?;
        }
        fs::write(&dst, &packed).map_err(io_ctx(format_args!("write {}", dst.display())))?;
        Ok((data.len() as u64, packed.len() as u64))
    };
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(m) = kept.get(i).and_then(|n| found.get(*n)) else {
                    break;
                };
                let r = one(m);
                let failed = r.is_err();
                if let Ok(mut map) = results.lock() {
                    map.insert(i, r);
                }
                if failed {
                    // Let the others finish what they hold; take no more.
                    next.store(kept.len(), Ordering::Relaxed);
                }
            });
        }
    });
    let map = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let (mut bytes_in, mut bytes_out) = (0, 0);
    for (_, r) in map {
        let (i, o) = r?;
        bytes_in += i;
        bytes_out += o;
    }
    Ok((bytes_in, bytes_out))
}

/// Writes the text and binary indexes, the copied lists and [`LEFT_OUT`].
fn write_indexes(
    src: &Path,
    out: &Path,
    order: &[String],
    kept: &[&String],
    found: &BTreeMap<String, Found>,
    left_out: &BTreeMap<String, LeftOut>,
) -> Result<(), KernelError> {
    let position: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let index_err = |file| move |source| KernelError::Index { file, source };

    let mut dep_text = String::new();
    let mut dep_bin = IndexWriter::new();
    let mut by_path: Vec<&String> = kept.to_vec();
    by_path.sort_by(|a, b| found[*a].out_path.cmp(&found[*b].out_path));
    for name in &by_path {
        let m = &found[*name];
        // The transitive dependencies, the one loaded last first.
        let mut all = BTreeSet::new();
        let mut todo: Vec<&str> = m.depends.iter().map(String::as_str).collect();
        while let Some(d) = todo.pop() {
            if all.insert(d) {
                todo.extend(found[d].depends.iter().map(String::as_str));
            }
        }
        let mut deps: Vec<&str> = all.into_iter().collect();
        deps.sort_by_key(|d| std::cmp::Reverse(position[d]));
        let mut line = format!("{}:", m.out_path);
        for d in deps {
            line.push(' ');
            line.push_str(&found[d].out_path);
        }
        dep_bin
            .insert(name, &line, 0)
            .map_err(index_err("modules.dep.bin"))?;
        dep_text.push_str(&line);
        dep_text.push('\n');
    }
    write(out, "modules.dep", dep_text.as_bytes())?;
    write(
        out,
        "modules.dep.bin",
        &dep_bin.write().map_err(index_err("modules.dep.bin"))?,
    )?;

    let mut alias_text = String::from("# Aliases extracted from modules themselves.\n");
    let mut alias_bin = IndexWriter::new();
    let mut softdep_text = String::from("# Soft dependencies extracted from modules themselves.\n");
    for name in kept {
        let m = &found[*name];
        for a in &m.aliases {
            alias_text.push_str(&format!("alias {a} {name}\n"));
            // Aliases kmod could not match (unclosed brackets, bytes outside ASCII) stay in
            // the text only.
            if let Some(key) = normalize_alias(a) {
                let _ = alias_bin.insert(
                    &key,
                    name,
                    u32::try_from(position[name.as_str()]).unwrap_or(u32::MAX),
                );
            }
        }
        for s in &m.softdeps {
            softdep_text.push_str(&format!("softdep {name} {s}\n"));
        }
    }
    write(out, "modules.alias", alias_text.as_bytes())?;
    write(
        out,
        "modules.alias.bin",
        &alias_bin.write().map_err(index_err("modules.alias.bin"))?,
    )?;
    write(out, "modules.softdep", softdep_text.as_bytes())?;
    // `modprobe symbol:<name>` (the kernel's symbol_request) finds the exporting module.
    let mut symbols_text = String::from("# Aliases for symbols, used by symbol_request().\n");
    let mut symbols_bin = IndexWriter::new();
    for name in kept {
        for sym in &found[*name].symbols {
            symbols_text.push_str(&format!("alias symbol:{sym} {name}\n"));
            let _ = symbols_bin.insert(&format!("symbol:{sym}"), name, 0);
        }
    }
    write(out, "modules.symbols", symbols_text.as_bytes())?;
    write(
        out,
        "modules.symbols.bin",
        &symbols_bin
            .write()
            .map_err(index_err("modules.symbols.bin"))?,
    )?;

    // Copied lists: modules.order without what was left out; the built-in lists as they are.
    match fs::read_to_string(src.join("modules.order")) {
        Ok(text) => {
            let kept_order: String = text
                .lines()
                .filter(|l| module_name_of_path(l).is_some_and(|n| !left_out.contains_key(&n)))
                .map(|l| format!("{l}\n"))
                .collect();
            write(out, "modules.order", kept_order.as_bytes())?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_ctx("read modules.order")(e)),
    }
    let mut builtin_bin = IndexWriter::new();
    for file in ["modules.builtin", "modules.builtin.modinfo"] {
        match fs::read(src.join(file)) {
            Ok(data) => {
                if file == "modules.builtin" {
                    for line in String::from_utf8_lossy(&data).lines() {
                        if let Some(n) = module_name_of_path(line) {
                            builtin_bin
                                .insert(&n, "", 0)
                                .map_err(index_err("modules.builtin.bin"))?;
                        }
                    }
                }
                write(out, file, &data)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_ctx(format_args!("read {file}"))(e)),
        }
    }
    write(
        out,
        "modules.builtin.bin",
        &builtin_bin
            .write()
            .map_err(index_err("modules.builtin.bin"))?,
    )?;

    let mut left_text = String::new();
    for (name, why) in left_out {
        left_text.push_str(name);
        left_text.push(' ');
        left_text.push_str(&why.directory);
        if let Some(t) = &why.through {
            left_text.push(' ');
            left_text.push_str(t);
        }
        left_text.push('\n');
    }
    write(out, LEFT_OUT, left_text.as_bytes())
}

fn write(dir: &Path, name: &str, data: &[u8]) -> Result<(), KernelError> {
    let path: PathBuf = dir.join(name);
    fs::write(&path, data).map_err(io_ctx(format_args!("write {}", path.display())))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
