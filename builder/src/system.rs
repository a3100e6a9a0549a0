//! A whole system: from `configuration.nix` and `strata.lock` to the toplevel in the store.
//!
//! [`build_system`] runs the steps in order:
//!
//! 1. evaluate the package set (`modules/pkgs/default.nix` applied to the lock) and the
//!    configuration with it (`modules/eval-config.nix`), writing every `.drv` into the store;
//! 2. build what the manifest refers to (system packages, `/etc` sources, scripts), found in
//!    the manifest's string context, and check `time.timeZone` against the zone database
//!    `/etc/zoneinfo` links to;
//! 3. make the parts that come from strata's own code: the static `/etc` tree and the
//!    activation manifest ([`crate::toplevel`]), and strata itself ([`StrataSelf`]): the
//!    static `strata` and `strata-init`, the module library and the lock, under
//!    `share/strata/`;
//! 4. evaluate `modules/system/toplevel.nix`, whose two derivations have builtin builders
//!    ([`builtin_initrd`], [`builtin_toplevel`]), and build the toplevel with everything it
//!    needs (the kernel is fetched and unpacked here), in parallel;
//! 5. optionally link `result` to it as a GC root, all while holding off the garbage
//!    collector.
//!
//! Every step skips what is valid already, so a rebuild of an unchanged configuration builds
//! nothing and gives the same path.
//!
//! # `builtin:strata-initrd`
//!
//! Attributes: `kernelPackages` (store paths, one of which holds `lib/modules/<version>/`),
//! `modules` (names), `init` (the stage-1 program), `busybox` (a static busybox for the
//! emergency shell; may be empty), `rootDevice`, `rootFsType`, `rootOptions`, `compression`
//! (`zstd`, `gzip` or `none`). Output: `$out/initrd`, a newc archive holding `init` (the
//! program, mode 0755), `bin/busybox` with `bin/<applet>` links for [`INITRD_APPLETS`], the
//! closure of the named modules with
//! their `modules.dep` under `lib/modules/<version>/`, `dev/console`, and
//! `etc/strata-initrd.conf`: lines `key=value` that stage 1 reads before the kernel command
//! line (whose values win): `root=`, `rootfstype=`, `rootflags=`, `kernel=<version>`, then one
//! `module=<name>` per module file, in load order (each after its dependencies). Also
//! `$out/modules`: the same module names, one a line, for people and tests.
//!
//! # `builtin:strata-toplevel`
//!
//! Attributes: `kernelPackages`, `initrd`, `init`, `sw`, `bootLoader`, `etc`, `manifest`, `strata`, `label`,
//! `kernelParams` (a JSON list), `hostSystem`. Output, NixOS's layout where NixOS
//! has the same thing:
//!
//! | entry | what |
//! |---|---|
//! | `kernel` | link to the kernel image (`<package>/boot/vmlinuz-<version>`) |
//! | `kernel-modules` | link to the package holding `lib/modules/<version>/` |
//! | `kernel-version` | the version, a line |
//! | `kernel-packages` | every package of `kernelPackages`, a line each (so they are in the closure and a machine can rebuild its initrd and toplevel offline) |
//! | `initrd` | link to `<initrd>/initrd` |
//! | `init` | link to strata's init; stage 2 finds its generation from the path it was started as |
//! | `sw` | link to the joined system packages |
//! | `etc` | link to the static `/etc` tree |
//! | `activation.json` | link to the activation manifest |
//! | `strata` | link to strata itself |
//! | `boot-loader/<name>-<version>` | links to the boot loader's packages (`bootLoader`): `grub-efi-amd64-bin` and `grub-pc-bin`, or `systemd-boot-efi` |
//! | `boot.json` | bootspec v1 ([`crate::toplevel::bootspec_json`]) |
//! | `kernel-params` | the parameters, space-separated, a line |
//! | `system` | `x86_64-linux`, a line |
//! | `strata-version` | the version of strata that built it, a line |
//!

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use strata_lang::value::{intern, Attrs, ContextElem, Value};
use strata_lang::{EvalConfig, EvalError, Evaluator};
use strata_store::derivation::Derivation;
use strata_store::{LocalStore, StoreDir, StoreError, StorePath};

use crate::config::{self, ConfigError};
use crate::debian::lock::LockFile;
use crate::eval_io::StoreIo;
use crate::initrd::cpio::source_date_epoch;
use crate::initrd::modules::ModulesDir;
use crate::initrd::{self, Compression};
use crate::scheduler::{realise_all, Progress, SchedulerError, SchedulerOptions};
use crate::toplevel::{self, ToplevelError};

/// The name of the stage-1 configuration file inside the initrd.
pub const INITRD_CONF: &str = "etc/strata-initrd.conf";

/// The busybox applets the initrd's emergency shell has as commands.
pub const INITRD_APPLETS: &[&str] = &[
    "sh",
    "ls",
    "cat",
    "echo",
    "mount",
    "umount",
    "mkdir",
    "ln",
    "rm",
    "cp",
    "mv",
    "dmesg",
    "insmod",
    "lsmod",
    "modprobe",
    "blkid",
    "find",
    "grep",
    "less",
    "vi",
    "ps",
    "kill",
    "sleep",
    "reboot",
    "poweroff",
    "switch_root",
];

/// Why a system could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Eval(String),
    #[error(transparent)]
    Build(#[from] SchedulerError),
    #[error(transparent)]
    Toplevel(#[from] ToplevelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Strata(String),
}

fn io_ctx(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SystemError {
    let context = context.into();
    move |source| SystemError::Io { context, source }
}

/// The strata that goes into every system: its two static programs and its module library.
#[derive(Debug, Clone)]
pub struct StrataSelf {
    /// The `strata` program.
    pub strata: PathBuf,
    /// The `strata-init` program.
    pub init: PathBuf,
    /// The module library (`modules/`).
    pub modules: PathBuf,
}

impl StrataSelf {
    /// The running `strata`, the `strata-init` beside it (or `STRATA_INIT`) and the module
    /// library [`config::modules_dir`] finds.
    pub fn locate() -> Result<StrataSelf, SystemError> {
        let strata =
            std::env::current_exe().map_err(io_ctx("cannot find the running strata program"))?;
        let init = match std::env::var_os("STRATA_INIT").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => strata.with_file_name("strata-init"),
        };
        if !init.is_file() {
            return Err(SystemError::Strata(format!(
                "cannot find strata-init at '{}' (build it with `cargo build -p strata-cli`, or \
                 set STRATA_INIT)",
                init.display()
            )));
        }
        let modules = config::modules_dir().ok_or_else(|| {
            SystemError::Strata("cannot find strata's module library (set STRATA_MODULES)".into())
        })?;
        Ok(StrataSelf {
            strata,
            init,
            modules,
        })
    }
}

/// What [`build_system`] needs besides the store.
#[derive(Debug)]
pub struct SystemInputs<'a> {
    pub configuration: &'a Path,
    pub lock: &'a LockFile,
    pub strata: &'a StrataSelf,
    /// Make this a symlink to the toplevel and a GC root (like `nix-build`'s `result`).
    pub out_link: Option<&'a Path>,
    /// Modules of strata's option set evaluated with the configuration, relative to the
    /// module directory (`profiles/live-iso.nix` makes the live system of an ISO image).
    pub profiles: &'a [&'a str],
}

/// A built system.
#[derive(Debug, Clone)]
pub struct SystemBuild {
    /// The toplevel's store path.
    pub toplevel: StorePath,
    /// Its derivation.
    pub drv: StorePath,
    /// How many derivations were built (0 for a no-op rebuild).
    pub built: usize,
    /// The configuration's warnings.
    pub warnings: Vec<String>,
}

/// The stack of the thread the evaluation runs on (deep configurations recurse deeply): 1 GiB,
/// or a quarter of the memory on a smaller machine, where the kernel would refuse to reserve
/// 1 GiB at once (a 1 GiB virtual machine has less than that to give). The evaluator stops
/// with an error 64 MiB before its end.
pub fn eval_stack() -> usize {
    // SAFETY: sysconf only reads configuration values.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let memory =
        usize::try_from(pages.max(0)).unwrap_or(0) * usize::try_from(size.max(0)).unwrap_or(0);
    if memory == 0 {
        return 1 << 30;
    }
    (memory / 4).clamp(256 << 20, 1 << 30)
}

/// Builds the system `inputs.configuration` describes; see the module documentation. Runs on
/// a thread of its own with an [`eval_stack`]-sized stack.
pub fn build_system(
    store_root: &Path,
    store_dir: &StoreDir,
    inputs: &SystemInputs<'_>,
    opts: &SchedulerOptions,
) -> Result<SystemBuild, SystemError> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("build-system".into())
            .stack_size(eval_stack())
            .spawn_scoped(s, || build_system_here(store_root, store_dir, inputs, opts))
            .map_err(io_ctx("cannot start the evaluation thread"))?
            .join()
            .map_err(|_| SystemError::Strata("the system build panicked".into()))?
    })
}

fn build_system_here(
    store_root: &Path,
    store_dir: &StoreDir,
    inputs: &SystemInputs<'_>,
    opts: &SchedulerOptions,
) -> Result<SystemBuild, SystemError> {
    let mut store = LocalStore::open(store_root, store_dir.clone())?;
    // Held until the result link is a root: nothing made here is collected meanwhile.
    let _hold = store.gc_hold()?;
    let modules = &inputs.strata.modules;
    let configuration = std::path::absolute(inputs.configuration).map_err(io_ctx(format!(
        "cannot resolve '{}'",
        inputs.configuration.display()
    )))?;
    if !configuration.is_file() {
        return Err(SystemError::Strata(format!(
            "the configuration '{}' does not exist",
            configuration.display()
        )));
    }

    // Count the builds while passing progress on.
    let built = Arc::new(AtomicUsize::new(0));
    let mut opts = opts.clone();
    let outer = opts.progress.take();
    let counter = built.clone();
    opts.progress = Some(Arc::new(move |p: &Progress<'_>| {
        if let Progress::Started { .. } = p {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(cb) = &outer {
            cb(p);
        }
    }));

    let io = StoreIo::new(LocalStore::open(store_root, store_dir.clone())?);
    let cfg = EvalConfig {
        max_stack: eval_stack() - (64 << 20),
        ..EvalConfig::default()
    };
    let mut ev = Evaluator::new(cfg, Rc::new(io));
    ev.reset_stack_base();
    let eval_err = |ev: &Evaluator, e: EvalError| {
        let text = e.render(&ev.sources);
        SystemError::Eval(text.trim_end().trim_start_matches("error: ").to_owned())
    };

    // 1. The package set and the configuration.
    let mut extra = Vec::new();
    for p in inputs.profiles {
        let m = modules.join(p);
        if !m.is_file() {
            return Err(SystemError::Strata(format!(
                "strata's module {} is missing (the module directory {} is incomplete)",
                m.display(),
                modules.display()
            )));
        }
        extra.push(m);
    }
    let pkgs =
        crate::pkgs::eval_pkgs(&mut ev, modules, inputs.lock).map_err(|e| eval_err(&ev, e))?;
    let (evaluated, whole, context) =
        config::evaluate_with(&mut ev, modules, &configuration, &extra, Some(pkgs))?;

    // 2. What the manifest refers to.
    let mut prerequisites = BTreeSet::new();
    for c in &context {
        match c {
            ContextElem::AllOutputs(drv) | ContextElem::Output { drv, .. } => {
                prerequisites.insert(store.parse_path(drv).map_err(StoreError::from)?);
            }
            ContextElem::Plain(_) => {}
        }
    }
    let prerequisites: Vec<StorePath> = prerequisites.into_iter().collect();
    let prereq_outputs = if prerequisites.is_empty() {
        BTreeMap::new()
    } else {
        realise_all(store_root, store_dir, &prerequisites, &opts)?
    };

    // 3. strata's own parts.
    let config = &evaluated.config;
    if let Some(tz) = &config.time_zone {
        check_time_zone(&store, config, tz)?;
    }
    let etc = toplevel::build_etc(&mut store, config)?;
    let manifest = toplevel::make_manifest(config, &etc.entries)?;
    let manifest_json = manifest.to_json();
    let mut manifest_refs: BTreeSet<StorePath> = BTreeSet::new();
    let mut candidates: Vec<StorePath> = vec![etc.path.clone()];
    for c in &context {
        if let ContextElem::Plain(p) = c {
            candidates.push(store.parse_path(p).map_err(StoreError::from)?);
        }
    }
    for outs in prereq_outputs.values() {
        candidates.extend(outs.values().cloned());
    }
    for e in &etc.entries {
        if let Ok(p) = store_dir.parse_containing(&e.source) {
            candidates.push(p);
        }
    }
    for p in candidates {
        if manifest_json.contains(p.hash_part()) {
            manifest_refs.insert(p);
        }
    }
    let manifest_path = store
        .add_text("activation.json", manifest_json.as_bytes(), &manifest_refs)?
        .path;
    let strata_path = add_strata(&mut store, inputs.strata, inputs.lock)?;

    // 4. The initrd and the toplevel.
    let f = ev
        .eval_string(&format!(
            "import {}",
            config::nix_string(&modules.join("system/toplevel.nix").display().to_string())
        ))
        .map_err(|e| eval_err(&ev, e))?;
    let arg = Value::attrs(Attrs::from_unsorted(vec![
        (intern("evaluated"), whole),
        (intern("etc"), Value::str(store.print(&etc.path))),
        (intern("manifest"), Value::str(store.print(&manifest_path))),
        (intern("strata"), Value::str(store.print(&strata_path))),
    ]));
    let top = ev
        .call(&f, arg, config::span())
        .map_err(|e| eval_err(&ev, e))?;
    let drv = crate::pkgs::drv_path(&mut ev, &top, &[]).map_err(|e| eval_err(&ev, e))?;
    let drv = store.parse_path(&drv).map_err(StoreError::from)?;
    let outputs = realise_all(store_root, store_dir, std::slice::from_ref(&drv), &opts)?;
    let toplevel = outputs
        .get(&drv)
        .and_then(|o| o.get("out"))
        .cloned()
        .ok_or_else(|| SystemError::Strata("the toplevel derivation has no output 'out'".into()))?;

    // 5. The result link.
    if let Some(link) = inputs.out_link {
        store.add_indirect_root(link, &toplevel)?;
    }
    Ok(SystemBuild {
        toplevel,
        drv,
        built: built.load(Ordering::Relaxed),
        warnings: evaluated.warnings,
    })
}

/// Adds strata itself: `bin/strata`, `bin/strata-init`, `share/strata/modules/` (the module
/// library without its tests) and `share/strata/strata.lock`, as one content-addressed path
/// named `strata-<version>`.
pub fn add_strata(
    store: &mut LocalStore,
    me: &StrataSelf,
    lock: &LockFile,
) -> Result<StorePath, SystemError> {
    let tmp = tempfile::Builder::new()
        .prefix("strata-self")
        .tempdir()
        .map_err(io_ctx("cannot create a temporary directory"))?;
    let root = tmp.path().join("strata");
    let bin = root.join("bin");
    let share = root.join("share/strata");
    fs::create_dir_all(&bin).map_err(io_ctx(format!("cannot create '{}'", bin.display())))?;
    fs::create_dir_all(&share).map_err(io_ctx(format!("cannot create '{}'", share.display())))?;
    for (src, name) in [(&me.strata, "strata"), (&me.init, "strata-init")] {
        let dst = bin.join(name);
        fs::copy(src, &dst).map_err(io_ctx(format!(
            "cannot copy '{}' to '{}'",
            src.display(),
            dst.display()
        )))?;
    }
    copy_tree(&me.modules, &share.join("modules"), &|rel: &Path| {
        rel != Path::new("tests")
    })?;
    fs::write(share.join("strata.lock"), lock.to_text())
        .map_err(io_ctx("cannot write strata.lock"))?;
    let name = format!("strata-{}", env!("CARGO_PKG_VERSION"));
    Ok(store.add_path(&root, Some(&name))?.path)
}

/// Copies the directory tree `src` to `dst` (files, directories, symlinks), skipping entries
/// whose path relative to `src` `keep` refuses.
fn copy_tree(src: &Path, dst: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<(), SystemError> {
    fn walk(
        src: &Path,
        dst: &Path,
        rel: &Path,
        keep: &dyn Fn(&Path) -> bool,
    ) -> Result<(), SystemError> {
        fs::create_dir_all(dst).map_err(io_ctx(format!("cannot create '{}'", dst.display())))?;
        let mut entries: Vec<_> = fs::read_dir(src)
            .map_err(io_ctx(format!("cannot read '{}'", src.display())))?
            .collect::<Result<_, _>>()
            .map_err(io_ctx(format!("cannot read '{}'", src.display())))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let rel = rel.join(e.file_name());
            if !keep(&rel) {
                continue;
            }
            let from = e.path();
            let to = dst.join(e.file_name());
            let ft = e
                .file_type()
                .map_err(io_ctx(format!("cannot stat '{}'", from.display())))?;
            if ft.is_dir() {
                walk(&from, &to, &rel, keep)?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&from)
                    .map_err(io_ctx(format!("cannot read link '{}'", from.display())))?;
                std::os::unix::fs::symlink(&target, &to)
                    .map_err(io_ctx(format!("cannot create '{}'", to.display())))?;
            } else {
                fs::copy(&from, &to).map_err(io_ctx(format!(
                    "cannot copy '{}' to '{}'",
                    from.display(),
                    to.display()
                )))?;
            }
        }
        Ok(())
    }
    walk(src, dst, Path::new(""), keep)
}

// ---------------------------------------------------------------------------------------------
// The builtin builders

/// What a builtin builder sees: the derivation's attributes and a way to reach store paths.
pub struct BuiltinContext<'a> {
    pub store: &'a LocalStore,
    pub drv: &'a Derivation,
    /// The closure of the derivation's inputs: every store path a builtin may read.
    pub closure: &'a BTreeSet<StorePath>,
    /// Where the output goes (a fresh path in the store's staging directory).
    pub out: &'a Path,
    /// The build log.
    pub log: &'a mut dyn std::io::Write,
}

impl std::fmt::Debug for BuiltinContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinContext")
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

impl BuiltinContext<'_> {
    fn attr(&self, name: &str) -> Result<&str, String> {
        self.drv
            .env
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("the attribute '{name}' is missing"))
    }

    /// An attribute naming a path inside an input: where it is on disk.
    fn input(&self, name: &str, value: &str) -> Result<PathBuf, String> {
        let dir = self.store.store_dir();
        let p = dir
            .parse_containing(value)
            .map_err(|e| format!("attribute '{name}': {e}"))?;
        if !self.closure.contains(&p) {
            return Err(format!(
                "attribute '{name}' ('{value}') is not among the derivation's inputs"
            ));
        }
        let rest = value
            .strip_prefix(&dir.display(&p))
            .unwrap_or("")
            .trim_start_matches('/');
        let real = self.store.real_path(&p);
        Ok(if rest.is_empty() {
            real
        } else {
            real.join(rest)
        })
    }

    /// A space-separated list of store paths.
    fn inputs(&self, name: &str) -> Result<Vec<(String, PathBuf)>, String> {
        self.attr(name)?
            .split_whitespace()
            .map(|v| Ok((v.to_owned(), self.input(name, v)?)))
            .collect()
    }
}

/// The kernel among `packages`: `(logical package path, its physical path, version)` of the
/// one package holding `boot/vmlinuz-<version>` and `lib/modules/<version>/`.
fn find_kernel(packages: &[(String, PathBuf)]) -> Result<(String, PathBuf, String), String> {
    let mut found = Vec::new();
    for (logical, real) in packages {
        let Ok(rd) = fs::read_dir(real.join("boot")) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(version) = name.strip_prefix("vmlinuz-") {
                if real.join("lib/modules").join(version).is_dir() {
                    found.push((logical.clone(), real.clone(), version.to_owned()));
                }
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "no kernel: none of {} holds boot/vmlinuz-<version> and lib/modules/<version>/ \
             (boot.kernel must name a Debian kernel package such as linux-image-amd64)",
            packages
                .iter()
                .map(|p| format!("'{}'", p.0))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Err(format!(
            "more than one kernel among the kernel packages: {}",
            found
                .iter()
                .map(|k| k.2.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `builtin:strata-initrd`; see the module documentation.
pub fn builtin_initrd(cx: &mut BuiltinContext<'_>) -> Result<(), String> {
    let packages = cx.inputs("kernelPackages")?;
    let (_, kernel_root, version) = find_kernel(&packages)?;
    let init = cx.input("init", cx.attr("init")?)?;
    let compression = match cx.attr("compression")? {
        "zstd" => Compression::Zstd,
        "gzip" => Compression::Gzip,
        "none" => Compression::None,
        other => {
            return Err(format!(
                "unknown compression '{other}' (zstd, gzip or none)"
            ))
        }
    };
    let wanted: Vec<&str> = cx.attr("modules")?.split_whitespace().collect();
    let dir = ModulesDir::open(&kernel_root.join("lib/modules").join(&version))
        .map_err(|e| e.to_string())?;
    let closure = dir.closure(&wanted).map_err(|e| e.to_string())?;
    let _ = writeln!(
        cx.log,
        "kernel {version}: {} module files for {} wanted modules ({} built in)",
        closure.modules.len(),
        wanted.len(),
        closure.builtin.len()
    );

    let tree = tempfile::Builder::new()
        .prefix("initrd-tree")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    dir.stage(&closure, tree.path())
        .map_err(|e| e.to_string())?;
    let init_dst = tree.path().join("init");
    fs::copy(&init, &init_dst).map_err(|e| format!("cannot copy '{}': {e}", init.display()))?;
    fs::set_permissions(
        &init_dst,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .map_err(|e| e.to_string())?;
    let busybox = cx.attr("busybox")?;
    if !busybox.is_empty() {
        let src = cx.input("busybox", busybox)?;
        let bin = tree.path().join("bin");
        fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
        fs::copy(&src, bin.join("busybox"))
            .map_err(|e| format!("cannot copy '{}': {e}", src.display()))?;
        fs::set_permissions(
            bin.join("busybox"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(|e| e.to_string())?;
        for applet in INITRD_APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).map_err(|e| e.to_string())?;
        }
    }
    let mut conf =
        String::from("# strata stage 1: read before the kernel command line, whose values win.\n");
    for (key, attr) in [
        ("root", "rootDevice"),
        ("rootfstype", "rootFsType"),
        ("rootflags", "rootOptions"),
    ] {
        let v = cx.attr(attr)?;
        if v.contains('\n') {
            return Err(format!("attribute '{attr}' holds a line break"));
        }
        if !v.is_empty() {
            conf.push_str(&format!("{key}={v}\n"));
        }
    }
    conf.push_str(&format!("kernel={version}\n"));
    let mut names = String::new();
    for m in &closure.modules {
        conf.push_str(&format!("module={}\n", m.name));
        names.push_str(&m.name);
        names.push('\n');
    }
    let etc = tree.path().join("etc");
    fs::create_dir_all(&etc).map_err(|e| e.to_string())?;
    fs::write(tree.path().join(INITRD_CONF), conf).map_err(|e| e.to_string())?;

    let mtime = source_date_epoch().map_err(|e| e.to_string())?.unwrap_or(1);
    let image = initrd::build_initrd(tree.path(), compression, mtime).map_err(|e| e.to_string())?;
    fs::create_dir_all(cx.out).map_err(|e| e.to_string())?;
    fs::write(cx.out.join("initrd"), &image).map_err(|e| e.to_string())?;
    fs::write(cx.out.join("modules"), names).map_err(|e| e.to_string())?;
    let _ = writeln!(cx.log, "initrd: {} bytes", image.len());
    Ok(())
}

/// `builtin:strata-toplevel`; see the module documentation.
pub fn builtin_toplevel(cx: &mut BuiltinContext<'_>) -> Result<(), String> {
    let packages = cx.inputs("kernelPackages")?;
    let (kernel_pkg, _, version) = find_kernel(&packages)?;
    let kernel = format!("{kernel_pkg}/boot/vmlinuz-{version}");
    let initrd = format!("{}/initrd", cx.attr("initrd")?);
    let init = cx.attr("init")?.to_owned();
    cx.input("init", &init)?;
    let params: Vec<String> = serde_json::from_str(cx.attr("kernelParams")?)
        .map_err(|e| format!("attribute 'kernelParams' is not a JSON list of strings: {e}"))?;
    let out = cx.out;
    let out_logical = cx
        .drv
        .outputs
        .get("out")
        .map(|o| o.path.clone())
        .ok_or("the derivation has no output 'out'")?;

    fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let link = |name: &str, target: &str| -> Result<(), String> {
        std::os::unix::fs::symlink(target, out.join(name))
            .map_err(|e| format!("cannot create '{name}': {e}"))
    };
    link("kernel", &kernel)?;
    link("kernel-modules", &kernel_pkg)?;
    link("initrd", &initrd)?;
    link("init", &init)?;
    for (name, attr) in [
        ("sw", "sw"),
        ("etc", "etc"),
        ("activation.json", "manifest"),
        ("strata", "strata"),
    ] {
        let v = cx.attr(attr)?.to_owned();
        cx.input(attr, &v)?;
        link(name, &v)?;
    }
    let loaders = cx.inputs("bootLoader")?;
    if !loaders.is_empty() {
        fs::create_dir_all(out.join("boot-loader")).map_err(|e| e.to_string())?;
        for (logical, _) in &loaders {
            let name = logical.rsplit('/').next().unwrap_or(logical);
            let name = name.split_once('-').map_or(name, |(_, n)| n);
            link(&format!("boot-loader/{name}"), logical)?;
        }
    }
    let system = cx.attr("hostSystem")?.to_owned();
    let label = cx.attr("label")?.to_owned();
    let write = |name: &str, text: &str| -> Result<(), String> {
        fs::write(out.join(name), text).map_err(|e| format!("cannot write '{name}': {e}"))
    };
    write("kernel-version", &format!("{version}\n"))?;
    // Every package the kernel came with, so that they are in the closure: a machine
    // rebuilding itself (its initrd, its toplevel) finds them in its own store, offline.
    let mut kernel_packages: Vec<&str> = packages.iter().map(|(l, _)| l.as_str()).collect();
    kernel_packages.sort_unstable();
    write(
        "kernel-packages",
        &format!("{}\n", kernel_packages.join("\n")),
    )?;
    write("kernel-params", &format!("{}\n", params.join(" ")))?;
    write("system", &format!("{system}\n"))?;
    write(
        "strata-version",
        &format!("{}\n", env!("CARGO_PKG_VERSION")),
    )?;
    write(
        "boot.json",
        &toplevel::bootspec_json(
            &out_logical,
            &kernel,
            Some(&initrd),
            &format!("{out_logical}/init"),
            &params,
            &label,
            &system,
        ),
    )?;
    let _ = writeln!(cx.log, "kernel {version}, label {label}");
    Ok(())
}

/// `time.timeZone` must name a file of the zone database `environment.etc.zoneinfo` links to
/// (tzdata's, which must be built by now).
fn check_time_zone(
    store: &LocalStore,
    config: &config::SystemConfig,
    tz: &str,
) -> Result<(), SystemError> {
    let bad = |m: String| Err(SystemError::Strata(m));
    let Some(db) = config
        .environment
        .etc
        .get("zoneinfo")
        .and_then(|e| e.source.as_deref())
    else {
        return bad(format!(
            "time.timeZone is \"{tz}\", but the system has no zone database: strata.lock pins \
             no tzdata (add it with `strata lock update`)"
        ));
    };
    let dir = store.store_dir();
    let Ok(p) = dir.parse_containing(db) else {
        return bad(format!(
            "environment.etc.zoneinfo.source is '{db}', not a path in the store"
        ));
    };
    let rest = db.strip_prefix(&dir.display(&p)).unwrap_or("");
    let real = store.real_path(&p).join(rest.trim_start_matches('/'));
    if !real.join(tz).is_file() {
        return bad(format!(
            "time.timeZone: \"{tz}\" is not a time zone of the tz database ('{db}' has no such \
             file); the names are those under /usr/share/zoneinfo, e.g. \"Europe/Paris\""
        ));
    }
    Ok(())
}
