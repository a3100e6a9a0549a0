//! strata-bootloader-cfg: turns generations (bootspec documents) into systemd-boot and
//! GRUB files and an install plan for an ESP or /boot.
//!
//! Must not: touch disks itself beyond executing its plan.
//!
//! [`Generation::from_bootspec`] reads a generation's `boot.json` (through the `bootspec`
//! crate; a malformed one is an error naming the generation, before anything is planned).
//! [`systemd_boot`] and [`grub`] are pure: generations and [`Settings`] in, a [`Plan`] out:
//!
//! - Kernels and initrds are copied to `EFI/strata/<content hash>-<file name>.efi`, so
//!   generations that use the same file share one copy ([`file_name`]).
//! - The newest `configurationLimit` generations are listed, newest first; the default is
//!   [`Settings::default`] (the current generation) when it is listed, else the newest.
//! - systemd-boot: `loader/loader.conf` (`timeout`, or `menu-force` to wait for the user;
//!   `default`; `console-mode`; `editor no`) and one Boot Loader Specification entry per
//!   generation, `loader/entries/strata-generation-<N>.conf`, whose title shows the number,
//!   the label and the build date, with `sort-key strata` and `version <N>` so the newest
//!   sorts first.
//! - GRUB: `grub/grub.cfg` with the default entry and a submenu of every listed generation,
//!   the terminal on the serial port as well when asked (on UEFI the firmware's console
//!   already reaches both the screen and the serial port, so GRUB uses it alone there: two
//!   terminals would print every line twice), and the partition holding the files found by
//!   label or UUID.
//!
//! [`install`] executes a plan in a directory (the mounted ESP or /boot): it checks first that
//! what it must write fits in the free space, writes every file through a temporary file,
//! `fsync` and `rename`, then removes the kernels, initrds and entries of strata that no
//! listed generation uses, and flushes the whole file system (`syncfs`: FAT is not journaled).

#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bootspec::v1::GenerationV1;
use sha2::{Digest, Sha256};

/// Where kernels and initrds go, below the ESP or /boot.
pub const FILES_DIR: &str = "EFI/strata";
/// Where systemd-boot's entries go.
pub const ENTRIES_DIR: &str = "loader/entries";
/// The prefix of strata's entries.
pub const ENTRY_PREFIX: &str = "strata-generation-";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A generation's `boot.json` cannot be used.
    #[error(
        "generation {generation} has a malformed boot.json ({problem}); the boot loader was \
         left as it was"
    )]
    Bootspec {
        generation: u32,
        problem: BootspecProblem,
    },
    /// The files do not fit.
    #[error(
        "{} has {} free but the boot files need {}; nothing was written (remove old \
         generations, or lower configurationLimit)",
        dir.display(),
        human(*free),
        human(*needed)
    )]
    NoSpace {
        dir: PathBuf,
        needed: u64,
        free: u64,
    },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Nothing to boot.
    #[error("there is no generation to boot")]
    NoGenerations,
}

/// Why a generation's `boot.json` cannot be used; shown inside [`Error::Bootspec`].
#[derive(Debug, thiserror::Error)]
pub enum BootspecProblem {
    /// Not JSON, or not a bootspec of version 1 (serde's message names the field).
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("it has no `org.nixos.bootspec.v1' object")]
    NoV1Object,
    /// The kernel or the initrd is not named by an absolute path.
    #[error("its {what} `{path}' is not an absolute path")]
    RelativePath { what: &'static str, path: String },
    /// A value written on a line of grub.cfg or of a loader entry holds a control character.
    #[error("its {what} {value:?} holds a control character")]
    ControlCharacter { what: &'static str, value: String },
    /// A kernel parameter that would not stay one word on the kernel's command line.
    #[error("its kernel parameter {0:?} is empty or holds a blank or a control character")]
    KernelParameter(String),
    /// The kernel or the initrd cannot be read to hash it.
    #[error("{what} {path}: {source}")]
    Hash {
        what: &'static str,
        path: String,
        source: io::Error,
    },
}

fn human(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20))
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// One generation, as its bootspec and its profile link describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub number: u32,
    /// When it was made (`YYYY-MM-DD`), from its profile link.
    pub date: String,
    pub label: String,
    pub toplevel: String,
    pub init: String,
    pub kernel: String,
    pub initrd: Option<String>,
    pub kernel_params: Vec<String>,
    /// Content hashes of the kernel and the initrd ([`hash_file`]).
    pub kernel_hash: String,
    pub initrd_hash: Option<String>,
}

impl Generation {
    /// Reads `boot.json`; `hash` gives the content hash of a file named in it.
    pub fn from_bootspec(
        number: u32,
        date: &str,
        json: &str,
        hash: &mut dyn FnMut(&str) -> io::Result<String>,
    ) -> Result<Generation, Error> {
        let bad = |problem: BootspecProblem| Error::Bootspec {
            generation: number,
            problem,
        };
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.into()))?;
        if v.get("org.nixos.bootspec.v1").is_none() {
            return Err(bad(BootspecProblem::NoV1Object));
        }
        // The version's own type first: its errors name the field at fault.
        let spec = serde_json::from_value::<GenerationV1>(v)
            .map_err(|e| bad(e.into()))?
            .bootspec;
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let kernel = path(&spec.kernel);
        let initrd = spec.initrd.as_deref().map(path);
        for (what, p) in [("kernel", Some(&kernel)), ("initrd", initrd.as_ref())] {
            if let Some(p) = p {
                if !p.starts_with('/') {
                    return Err(bad(BootspecProblem::RelativePath {
                        what,
                        path: p.clone(),
                    }));
                }
            }
        }
        check_values(
            &spec.label,
            &path(&spec.init),
            &kernel,
            initrd.as_deref(),
            &spec.kernel_params,
        )
        .map_err(bad)?;
        let mut hash_of = |what: &'static str, path: &str| {
            hash(path).map_err(|source| {
                bad(BootspecProblem::Hash {
                    what,
                    path: path.to_owned(),
                    source,
                })
            })
        };
        let kernel_hash = hash_of("kernel", &kernel)?;
        let initrd_hash = match &initrd {
            Some(i) => Some(hash_of("initrd", i)?),
            None => None,
        };
        Ok(Generation {
            number,
            date: date.to_owned(),
            label: spec.label,
            toplevel: path(&spec.toplevel.0),
            init: path(&spec.init),
            kernel,
            initrd,
            kernel_params: spec.kernel_params,
            kernel_hash,
            initrd_hash,
        })
    }

    fn title(&self) -> String {
        format!(
            "strata (Generation {}, {}, built on {})",
            self.number, self.label, self.date
        )
    }

    fn options(&self) -> String {
        let mut o = format!("init={}", self.init);
        for p in &self.kernel_params {
            o.push(' ');
            o.push_str(p);
        }
        o
    }
}

/// Refuses values that would break the line of grub.cfg or of a loader entry they are
/// written on: a line break (or any control character) would start a command or a key of its
/// own there, and a blank inside a kernel parameter would split it.
fn check_values(
    label: &str,
    init: &str,
    kernel: &str,
    initrd: Option<&str>,
    params: &[String],
) -> Result<(), BootspecProblem> {
    let unprintable = |s: &str| s.chars().any(char::is_control);
    for (what, v) in [
        ("label", label),
        ("init", init),
        ("kernel", kernel),
        ("initrd", initrd.unwrap_or_default()),
    ] {
        if unprintable(v) {
            return Err(BootspecProblem::ControlCharacter {
                what,
                value: v.to_owned(),
            });
        }
    }
    for p in params {
        if p.is_empty() || unprintable(p) || p.chars().any(char::is_whitespace) {
            return Err(BootspecProblem::KernelParameter(p.clone()));
        }
    }
    Ok(())
}

/// The content hash of a file: sha256 in base-16, the first 32 digits.
pub fn hash_file(path: &Path) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The name a kernel or initrd gets on the ESP: `EFI/strata/<hash>-<file name>.efi`.
pub fn file_name(source: &str, hash: &str) -> String {
    let base = source.rsplit('/').next().unwrap_or(source);
    format!("{FILES_DIR}/{hash}-{base}.efi")
}

/// How the menu looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Seconds before the default boots; `None` waits for the user.
    pub timeout: Option<u32>,
    /// The most generations listed; `None` lists all.
    pub limit: Option<u32>,
    /// The generation booted by default (the current one).
    pub default: u32,
    /// systemd-boot's `console-mode`.
    pub console_mode: String,
    /// Also put GRUB's menu on the first serial port (BIOS; on UEFI the firmware does).
    pub serial: bool,
    /// How GRUB finds the partition holding the files (none: where GRUB was loaded from).
    pub search: Option<Search>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timeout: Some(5),
            limit: None,
            default: 0,
            console_mode: "keep".into(),
            serial: false,
            search: None,
        }
    }
}

/// A file system, by label or UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    Label(String),
    Uuid(String),
}

/// What a plan writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// A copy of the file at this (logical) path.
    Copy(String),
}

/// One file of a plan, its path relative to the ESP or /boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFile {
    pub path: String,
    pub content: Content,
}

/// Files to write, and what strata owns (to remove what no generation uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub files: Vec<PlanFile>,
    /// (directory, name prefix): files in them with the prefix that the plan does not write
    /// are strata's and stale.
    pub owned: Vec<(String, String)>,
}

/// The generations listed: newest first, at most `limit`.
fn listed<'a>(gens: &'a [Generation], s: &Settings) -> Result<Vec<&'a Generation>, Error> {
    // Generations are made from bootspecs, which are checked; this holds whatever made them.
    for g in gens {
        check_values(
            &g.label,
            &g.init,
            &g.kernel,
            g.initrd.as_deref(),
            &g.kernel_params,
        )
        .map_err(|problem| Error::Bootspec {
            generation: g.number,
            problem,
        })?;
    }
    let mut v: Vec<&Generation> = gens.iter().collect();
    v.sort_by_key(|g| std::cmp::Reverse(g.number));
    if let Some(l) = s.limit {
        v.truncate(l as usize);
    }
    if v.is_empty() {
        return Err(Error::NoGenerations);
    }
    Ok(v)
}

fn default_of<'a>(listed: &[&'a Generation], s: &Settings) -> &'a Generation {
    listed
        .iter()
        .find(|g| g.number == s.default)
        .copied()
        .unwrap_or(listed[0])
}

/// Kernel and initrd copies of the listed generations, each file once.
fn boot_files(listed: &[&Generation]) -> Vec<PlanFile> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for g in listed {
        let mut pairs = vec![(g.kernel.clone(), g.kernel_hash.clone())];
        if let (Some(i), Some(h)) = (&g.initrd, &g.initrd_hash) {
            pairs.push((i.clone(), h.clone()));
        }
        for (src, hash) in pairs {
            let path = file_name(&src, &hash);
            if seen.insert(path.clone()) {
                out.push(PlanFile {
                    path,
                    content: Content::Copy(src),
                });
            }
        }
    }
    out
}

/// systemd-boot's files; see the crate documentation.
pub fn systemd_boot(gens: &[Generation], s: &Settings) -> Result<Plan, Error> {
    let listed = listed(gens, s)?;
    let default = default_of(&listed, s);
    let mut files = boot_files(&listed);
    let mut conf = String::from("# Written by strata; it is rewritten on every switch.\n");
    match s.timeout {
        Some(t) => conf.push_str(&format!("timeout {t}\n")),
        None => conf.push_str("timeout menu-force\n"),
    }
    conf.push_str(&format!(
        "default {ENTRY_PREFIX}{}.conf\nconsole-mode {}\neditor no\n",
        default.number, s.console_mode
    ));
    files.push(PlanFile {
        path: "loader/loader.conf".into(),
        content: Content::Text(conf),
    });
    for g in &listed {
        let mut e = format!(
            "title {}\nversion {}\nsort-key strata\nlinux /{}\n",
            g.title(),
            g.number,
            file_name(&g.kernel, &g.kernel_hash)
        );
        if let (Some(i), Some(h)) = (&g.initrd, &g.initrd_hash) {
            e.push_str(&format!("initrd /{}\n", file_name(i, h)));
        }
        e.push_str(&format!("options {}\n", g.options()));
        files.push(PlanFile {
            path: format!("{ENTRIES_DIR}/{ENTRY_PREFIX}{}.conf", g.number),
            content: Content::Text(e),
        });
    }
    Ok(Plan {
        files,
        owned: vec![
            (FILES_DIR.into(), String::new()),
            (ENTRIES_DIR.into(), ENTRY_PREFIX.into()),
        ],
    })
}

/// Quotes a string for grub.cfg (single quotes; a quote inside is closed, escaped, reopened).
fn grub_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One word of a GRUB command line as it is when GRUB's parser gives it no meaning (letters,
/// digits and `,._=/:+-@%`), and quoted otherwise: a `;`, `$`, `{` or quote in a kernel
/// parameter stays part of the parameter instead of starting a command or an expansion.
fn grub_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || ",._=/:+-@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_owned()
    } else {
        grub_quote(s)
    }
}

/// The kernel command line as words of a GRUB `linux` command.
fn grub_options(g: &Generation) -> String {
    let mut o = grub_word(&format!("init={}", g.init));
    for p in &g.kernel_params {
        o.push(' ');
        o.push_str(&grub_word(p));
    }
    o
}

fn grub_entry(out: &mut String, indent: &str, title: &str, id: &str, g: &Generation) {
    out.push_str(&format!(
        "{indent}menuentry {} --id {id} {{\n",
        grub_quote(title)
    ));
    out.push_str(&format!(
        "{indent}  linux {} {}\n",
        grub_word(&format!("/{}", file_name(&g.kernel, &g.kernel_hash))),
        grub_options(g)
    ));
    if let (Some(i), Some(h)) = (&g.initrd, &g.initrd_hash) {
        out.push_str(&format!(
            "{indent}  initrd {}\n",
            grub_word(&format!("/{}", file_name(i, h)))
        ));
    }
    out.push_str(&format!("{indent}}}\n"));
}

/// GRUB's `grub/grub.cfg`; see the crate documentation.
pub fn grub(gens: &[Generation], s: &Settings) -> Result<Plan, Error> {
    let listed = listed(gens, s)?;
    let default = default_of(&listed, s);
    let mut files = boot_files(&listed);
    let mut c = String::from("# Written by strata; it is rewritten on every switch.\n");
    if s.serial {
        c.push_str(
            "if [ \"$grub_platform\" = efi ]; then\n  \
             # The firmware's console reaches the screen and the serial port already.\n  \
             terminal_input console\n  terminal_output console\nelse\n  \
             serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\n  \
             terminal_input serial console\n  terminal_output serial console\nfi\n",
        );
    }
    match &s.search {
        Some(Search::Label(l)) => c.push_str(&format!(
            "search --no-floppy --set=root --label {}\n",
            grub_quote(l)
        )),
        Some(Search::Uuid(u)) => c.push_str(&format!(
            "search --no-floppy --set=root --fs-uuid {}\n",
            grub_quote(u)
        )),
        None => {}
    }
    c.push_str(&format!(
        "set default=strata-default\nset timeout={}\n\n",
        s.timeout.map_or(-1, i64::from)
    ));
    grub_entry(&mut c, "", &default.title(), "strata-default", default);
    c.push_str("\nsubmenu 'strata: every generation' --id strata-generations {\n");
    for g in &listed {
        grub_entry(
            &mut c,
            "  ",
            &g.title(),
            &format!("{ENTRY_PREFIX}{}", g.number),
            g,
        );
    }
    c.push_str("}\n");
    files.push(PlanFile {
        path: "grub/grub.cfg".into(),
        content: Content::Text(c),
    });
    Ok(Plan {
        files,
        owned: vec![(FILES_DIR.into(), String::new())],
    })
}

/// What [`install`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    pub written: Vec<String>,
    pub removed: Vec<String>,
}

/// Free bytes for an unprivileged writer in the file system of `dir`.
pub fn free_space(dir: &Path) -> io::Result<u64> {
    strata_store::fs::free_space(dir)
}

fn write_atomic(path: &Path, data: &mut dyn Read) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    strata_store::fs::write_atomic_with(path, data, Default::default()).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: e.source,
    })
}

/// Executes `plan` in `dir`; `resolve` says where a logical path of a [`Content::Copy`] is.
pub fn install(
    plan: &Plan,
    dir: &Path,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<InstallReport, Error> {
    install_with(plan, dir, resolve, &free_space)
}

/// [`install`] with the free space measured by `free`.
pub fn install_with(
    plan: &Plan,
    dir: &Path,
    resolve: &dyn Fn(&str) -> PathBuf,
    free: &dyn Fn(&Path) -> io::Result<u64>,
) -> Result<InstallReport, Error> {
    // What must be written, and does it fit? Copies are named by content, so one that exists
    // is up to date.
    let mut todo = Vec::new();
    let mut needed = 0u64;
    for f in &plan.files {
        let dst = dir.join(&f.path);
        match &f.content {
            Content::Text(t) => {
                if fs::read(&dst).ok().as_deref() != Some(t.as_bytes()) {
                    needed += t.len() as u64;
                    todo.push(f);
                }
            }
            Content::Copy(src) => {
                if !dst.exists() {
                    let real = resolve(src);
                    needed += fs::metadata(&real).map_err(io_err(&real))?.len();
                    todo.push(f);
                }
            }
        }
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let free = free(dir).map_err(io_err(dir))?;
    // Room for one block per file beyond the data.
    let needed_with_slack = needed + 4096 * todo.len() as u64;
    if needed_with_slack > free {
        return Err(Error::NoSpace {
            dir: dir.to_owned(),
            needed: needed_with_slack,
            free,
        });
    }
    let mut report = InstallReport::default();
    for f in todo {
        let dst = dir.join(&f.path);
        match &f.content {
            Content::Text(t) => write_atomic(&dst, &mut t.as_bytes())?,
            Content::Copy(src) => {
                let real = resolve(src);
                let mut from = fs::File::open(&real).map_err(io_err(&real))?;
                write_atomic(&dst, &mut from)?;
            }
        }
        report.written.push(f.path.clone());
    }
    let keep: BTreeSet<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
    for (owned, prefix) in &plan.owned {
        let d = dir.join(owned);
        let Ok(rd) = fs::read_dir(&d) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let rel = format!("{owned}/{n}");
            if n.starts_with(prefix.as_str()) && !keep.contains(rel.as_str()) {
                let p = d.join(&n);
                fs::remove_file(&p).map_err(io_err(&p))?;
                report.removed.push(rel);
            }
        }
    }
    // FAT is not journaled. After a power cut that followed a switch (its fsyncs of the file
    // and of the directory done), grub.cfg's directory entry was seen pointing at clusters the
    // FAT marked free. Flushing the whole file system writes every pending block at once.
    syncfs(dir)?;
    Ok(report)
}

/// Flushes every pending write of the file system holding `dir`.
fn syncfs(dir: &Path) -> Result<(), Error> {
    strata_store::fs::syncfs(dir).map_err(|e| Error::Io {
        path: e.path,
        source: e.source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
