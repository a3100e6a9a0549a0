//! `strata store ...` and `strata hash ...`.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufWriter, IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use strata_store::local::GcOptions;
use strata_store::nar;
use strata_store::{Hash, HashAlgo, HashFormat, LocalStore, StorePath};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy a file or directory into the store (like `nix-store --add`) and print its path.
    Add {
        path: PathBuf,
        /// Name of the store path [default: the base name of PATH].
        #[arg(long)]
        name: Option<String>,
        /// Also make LINK a symlink to the new path and register it as a GC root.
        #[arg(long, value_name = "LINK")]
        add_root: Option<PathBuf>,
        /// Print the path's metadata as JSON instead of just its path.
        #[arg(long)]
        json: bool,
    },
    /// Add a file or tree addressed by its content hash (like `nix-store --add-fixed`).
    AddFixed {
        /// Hash algorithm: md5, sha1, sha256 or sha512.
        algo: String,
        path: PathBuf,
        /// Hash the NAR serialisation instead of the file's contents.
        #[arg(short, long)]
        recursive: bool,
        /// Name of the store path [default: the base name of PATH].
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add a text file (like `builtins.toFile`) read from FILE or standard input.
    AddText {
        name: String,
        /// File to read [default: standard input].
        file: Option<PathBuf>,
        /// A store path the text refers to (repeatable).
        #[arg(long = "reference", value_name = "PATH")]
        references: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write the NAR of a store path (or of any file or tree) to standard output.
    Dump { path: PathBuf },
    /// Recreate a tree at DEST from a NAR read on standard input.
    Restore { dest: PathBuf },
    /// Show what the store knows about paths.
    PathInfo {
        #[arg(required = true)]
        paths: Vec<String>,
        /// Include every path in their closures.
        #[arg(short, long)]
        recursive: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the closure of paths under references, references first.
    Closure {
        #[arg(required_unless_present = "stdin")]
        paths: Vec<String>,
        /// Also read paths from standard input, one a line.
        #[arg(long)]
        stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Read store paths from standard input, one a line, and print those this store lacks
    /// (what `strata copy` asks the receiving side).
    Missing,
    /// Sign paths with a secret key (`strata key generate`) and record the signatures in the
    /// store, where `strata copy --to file://...` publishes them.
    Sign {
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Re-hash paths (all by default) and report every one that is corrupt or missing.
    Verify {
        paths: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write the closures of paths as a `nix-store --export` stream.
    Export {
        #[arg(required_unless_present = "stdin")]
        paths: Vec<String>,
        /// Also read paths from standard input, one a line.
        #[arg(long)]
        stdin: bool,
        /// Export only the named paths, not their closures.
        #[arg(long)]
        only: bool,
        /// Write to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Import a `nix-store --export` stream from FILE or standard input.
    Import { file: Option<PathBuf> },
    /// Delete paths that no GC root reaches.
    Gc(GcArgs),
    /// Hard-link identical files in the store.
    Optimise {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Show what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the GC roots and exit.
    #[arg(long)]
    print_roots: bool,
    /// Stop after freeing this many bytes.
    #[arg(long, value_name = "BYTES")]
    max_freed: Option<u64>,
    /// Delete only these paths (refused if any is still reachable from a root).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    delete: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum HashCommand {
    /// Hash the NAR serialisation of a file or tree (like `nix-hash`).
    Path(HashArgs),
    /// Hash a file's contents (like `nix-hash --flat`).
    File(HashArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// `sha256-<base64>`
    Sri,
    /// nix32, Nix's base-32
    Nix32,
    /// lower-case hexadecimal
    Hex,
    /// base-64
    Base64,
}

#[derive(Debug, Args)]
pub struct HashArgs {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Hash algorithm: md5, sha1, sha256 or sha512.
    #[arg(long = "type", default_value = "sha256")]
    algo: String,
    /// Output form.
    #[arg(long, value_enum, default_value = "sri")]
    format: Format,
    /// Shorthand for --format nix32.
    #[arg(long, conflicts_with_all = ["format", "base16", "sri"])]
    base32: bool,
    /// Shorthand for --format hex.
    #[arg(long, conflicts_with_all = ["format", "sri"])]
    base16: bool,
    /// Shorthand for --format sri.
    #[arg(long, conflicts_with = "format")]
    sri: bool,
}

pub(crate) fn parse_paths(store: &LocalStore, args: &[String]) -> Result<Vec<StorePath>> {
    args.iter()
        .map(|a| {
            let abs = std::path::absolute(a)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| a.clone());
            // A link to a store path (a GC root, `result`) names that path.
            let resolved = fs::read_link(&abs)
                .ok()
                .and_then(|t| t.to_str().map(str::to_owned))
                .filter(|t| store.parse_path(t).is_ok())
                .unwrap_or(abs);
            store
                .parse_path(&resolved)
                .with_context(|| format!("'{a}' is not a store path"))
        })
        .collect()
}

/// The paths of the arguments, then (with `stdin`) those standard input lists, one a line.
fn paths_and_stdin(store: &LocalStore, args: &[String], stdin: bool) -> Result<Vec<StorePath>> {
    let mut ps = parse_paths(store, args)?;
    if stdin {
        let listed = strata_store::remote::read_path_list(store.store_dir(), io::stdin().lock())
            .context("failed to read paths from standard input")?;
        ps.extend(listed);
    }
    Ok(ps)
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

pub fn run_store(cmd: StoreCommand, root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    // Dump and restore work on plain files too, without a store.
    let cmd = match cmd {
        StoreCommand::Dump { path } => {
            let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
            nar::dump(&path, &mut out)
                .with_context(|| format!("failed to dump '{}'", path.display()))?;
            out.flush().context("failed to write to standard output")?;
            return Ok(ExitCode::SUCCESS);
        }
        StoreCommand::Restore { dest } => {
            if fs::symlink_metadata(&dest).is_ok() {
                bail!("failed to restore: '{}' already exists", dest.display());
            }
            let stdin = io::stdin().lock();
            let mut input = io::BufReader::with_capacity(1 << 20, stdin);
            let res = nar::NarParser::new(&mut input).parse(&mut nar::Restorer::new(&dest));
            let res = res.map_err(anyhow::Error::from).and_then(|()| {
                let mut probe = [0u8; 1];
                if input.read(&mut probe)? != 0 {
                    bail!("trailing data after the end of the archive");
                }
                Ok(())
            });
            if let Err(e) = res {
                // Leave nothing half-restored behind.
                let _ = strata_store::local::delete_tree(&dest);
                return Err(e.context(format!("failed to restore '{}'", dest.display())));
            }
            return Ok(ExitCode::SUCCESS);
        }
        other => other,
    };
    let mut store = crate::open_store(root, store_dir)?;
    run_with_store(&mut store, cmd)
}

fn run_with_store(store: &mut LocalStore, cmd: StoreCommand) -> Result<ExitCode> {
    match cmd {
        StoreCommand::Dump { .. } | StoreCommand::Restore { .. } => {
            bail!("internal error: dump and restore need no store")
        }
        StoreCommand::Add {
            path,
            name,
            add_root,
            json,
        } => {
            let info = match &add_root {
                Some(link) => store.add_path_rooted(&path, name.as_deref(), link),
                None => store.add_path(&path, name.as_deref()),
            }
            .with_context(|| format!("failed to add '{}' to the store", path.display()))?;
            if json {
                print_json(&store.info_json(&info))?;
            } else {
                println!("{}", store.print(&info.path));
            }
        }
        StoreCommand::AddFixed {
            algo,
            path,
            recursive,
            name,
            json,
        } => {
            let algo: HashAlgo = algo.parse()?;
            let info = store
                .add_fixed(&path, name.as_deref(), algo, recursive)
                .with_context(|| format!("failed to add '{}' to the store", path.display()))?;
            if json {
                print_json(&store.info_json(&info))?;
            } else {
                println!("{}", store.print(&info.path));
            }
        }
        StoreCommand::AddText {
            name,
            file,
            references,
            json,
        } => {
            let contents = match &file {
                Some(f) if f.as_os_str() != "-" => {
                    fs::read(f).with_context(|| format!("failed to read '{}'", f.display()))?
                }
                _ => {
                    let mut v = Vec::new();
                    io::stdin()
                        .read_to_end(&mut v)
                        .context("failed to read standard input")?;
                    v
                }
            };
            let refs: BTreeSet<StorePath> = parse_paths(store, &references)?.into_iter().collect();
            let info = store
                .add_text(&name, &contents, &refs)
                .with_context(|| format!("failed to add text '{name}'"))?;
            if json {
                print_json(&store.info_json(&info))?;
            } else {
                println!("{}", store.print(&info.path));
            }
        }
        StoreCommand::PathInfo {
            paths,
            recursive,
            json,
        } => {
            let mut ps = parse_paths(store, &paths)?;
            if recursive {
                ps = store.closure(&ps)?.into_iter().collect();
            }
            let mut infos = Vec::new();
            for p in &ps {
                infos.push(store.require_info(p)?);
            }
            if json {
                print_json(&infos.iter().map(|i| store.info_json(i)).collect::<Vec<_>>())?;
            } else {
                let mut out = io::stdout().lock();
                for i in &infos {
                    writeln!(
                        out,
                        "{}\t{}\t{}",
                        store.print(&i.path),
                        i.nar_hash.to_sri(),
                        i.nar_size
                    )?;
                }
            }
        }
        StoreCommand::Closure { paths, stdin, json } => {
            let ps = paths_and_stdin(store, &paths, stdin)?;
            let closure = store.closure(&ps)?;
            let sorted = store.topo_sort(&closure)?;
            let printed: Vec<String> = sorted.iter().map(|p| store.print(p)).collect();
            if json {
                print_json(&printed)?;
            } else {
                let mut out = io::stdout().lock();
                for p in printed {
                    writeln!(out, "{p}")?;
                }
            }
        }
        StoreCommand::Sign { key_file, paths } => crate::key_cmd::sign(store, &key_file, &paths)?,
        StoreCommand::Verify { paths, json } => {
            let only = if paths.is_empty() {
                None
            } else {
                Some(parse_paths(store, &paths)?)
            };
            let report = store.verify(only.as_deref())?;
            if json {
                print_json(&report)?;
            } else {
                for p in &report.problems {
                    eprintln!("{p}");
                }
                eprintln!(
                    "checked {} paths, {} problems",
                    report.checked,
                    report.problems.len()
                );
            }
            if !report.problems.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        StoreCommand::Missing => {
            let ps = paths_and_stdin(store, &[], true)?;
            let mut out = io::stdout().lock();
            for p in ps {
                if !store.is_valid(&p)? {
                    writeln!(out, "{}", store.print(&p))?;
                }
            }
        }
        StoreCommand::Export {
            paths,
            stdin,
            only,
            output,
        } => {
            let ps = paths_and_stdin(store, &paths, stdin)?;
            let set: BTreeSet<StorePath> = if only {
                ps.into_iter().collect()
            } else {
                store.closure(&ps)?
            };
            let sorted = store.topo_sort(&set)?;
            match output {
                Some(f) => {
                    // FILE.partial, not a replaced extension: `a.x` and `a.y` must not share it.
                    let mut tmp = f.clone().into_os_string();
                    tmp.push(".partial");
                    let tmp = PathBuf::from(tmp);
                    let file = fs::File::create(&tmp)
                        .with_context(|| format!("failed to create '{}'", tmp.display()))?;
                    let res = (|| -> Result<()> {
                        let mut w = BufWriter::with_capacity(1 << 20, file);
                        store.export(&sorted, &mut w).context("failed to export")?;
                        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                        fs::rename(&tmp, &f)
                            .with_context(|| format!("failed to write '{}'", f.display()))
                    })();
                    if res.is_err() {
                        // Leave no half-written stream behind.
                        let _ = fs::remove_file(&tmp);
                    }
                    res?;
                }
                None => {
                    if io::stdout().is_terminal() {
                        bail!("refusing to write a binary export stream to a terminal; use -o FILE or a pipe");
                    }
                    let mut w = BufWriter::with_capacity(1 << 20, io::stdout().lock());
                    store.export(&sorted, &mut w).context("failed to export")?;
                }
            }
        }
        StoreCommand::Import { file } => {
            let imported = match &file {
                Some(f) if f.as_os_str() != "-" => {
                    let r = fs::File::open(f)
                        .with_context(|| format!("failed to open '{}'", f.display()))?;
                    store
                        .import(r)
                        .with_context(|| format!("failed to import '{}'", f.display()))?
                }
                _ => store
                    .import(io::stdin().lock())
                    .context("failed to import standard input")?,
            };
            let mut out = io::stdout().lock();
            for p in imported {
                writeln!(out, "{}", store.print(&p))?;
            }
        }
        StoreCommand::Gc(args) => return run_gc(store, args),
        StoreCommand::Optimise { json } => {
            let stats = store.optimise().context("failed to optimise the store")?;
            if json {
                print_json(&stats)?;
            } else {
                println!(
                    "{} files hard-linked, {} bytes freed",
                    stats.files_linked, stats.bytes_freed
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_gc(store: &mut LocalStore, args: GcArgs) -> Result<ExitCode> {
    if args.print_roots {
        let roots = store.roots()?;
        if args.json {
            let m: std::collections::BTreeMap<String, String> = roots
                .iter()
                .map(|(k, v)| (k.display().to_string(), store.print(v)))
                .collect();
            print_json(&m)?;
        } else {
            for (link, p) in roots {
                println!("{} -> {}", link.display(), store.print(&p));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let only = if args.delete.is_empty() {
        None
    } else {
        Some(parse_paths(store, &args.delete)?)
    };
    let opts = GcOptions {
        dry_run: args.dry_run,
        only,
        max_freed: args.max_freed,
    };
    let res = store.gc(&opts).context("failed to collect garbage")?;
    if args.json {
        print_json(&res)?;
    } else {
        let mut out = io::stdout().lock();
        for p in &res.deleted {
            writeln!(out, "{p}")?;
        }
        let verb = if args.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        eprintln!(
            "{verb} {} store paths, {:.2} MiB freed ({} roots, {} live paths)",
            res.deleted.len(),
            res.bytes_freed as f64 / (1024.0 * 1024.0),
            res.roots,
            res.live
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_hash(cmd: HashCommand) -> Result<ExitCode> {
    let (args, recursive) = match cmd {
        HashCommand::Path(a) => (a, true),
        HashCommand::File(a) => (a, false),
    };
    let algo: HashAlgo = args.algo.parse()?;
    let format = if args.base32 {
        HashFormat::Nix32
    } else if args.base16 {
        HashFormat::Base16
    } else if args.sri {
        HashFormat::Sri
    } else {
        match args.format {
            Format::Sri => HashFormat::Sri,
            Format::Nix32 => HashFormat::Nix32,
            Format::Hex => HashFormat::Base16,
            Format::Base64 => HashFormat::Base64,
        }
    };
    let mut out = io::stdout().lock();
    for p in &args.paths {
        let h: Hash = if recursive {
            nar::hash_path(p, algo)
                .with_context(|| format!("failed to hash '{}'", p.display()))?
                .0
        } else {
            let mut f =
                fs::File::open(p).with_context(|| format!("failed to open '{}'", p.display()))?;
            let mut h = strata_store::hash::Hasher::new(algo);
            io::copy(&mut f, &mut h)
                .with_context(|| format!("failed to read '{}'", p.display()))?;
            h.finish()
        };
        writeln!(out, "{}", h.to_string_as(format, false))?;
    }
    Ok(ExitCode::SUCCESS)
}
