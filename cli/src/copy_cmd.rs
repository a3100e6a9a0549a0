//! `strata copy --to|--from ssh://[user@]host[:port] PATH...`: closures between this store and
//! another machine's ([`strata_store::remote`]); `--to file:///DIR` publishes them as a binary
//! cache, `--from file:///DIR|http(s)://...` substitutes them from one
//! ([`strata_store::cache`]).

use std::io::{self, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::{ArgGroup, Args};
use strata_store::cache::{
    publish as publish_cache, Compression, PublishEvent, PublishOptions, SecretKey, Substituter,
    SubstituterOptions, TrustedKeys,
};
use strata_store::remote::{self, CopyProgress, CopyReport, RemoteStore, Ssh, SshTarget};
use strata_store::StorePath;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("direction").required(true).args(["to", "from"])))]
pub struct CopyArgs {
    /// Copy the closures of PATHs (paths in this store) to this machine,
    /// ssh://[user@]host[:port], or to a binary cache directory, file:///DIR.
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// Copy the closures of PATHs (paths in its store) from this machine,
    /// ssh://[user@]host[:port], or from a binary cache: file:///DIR, http(s)://HOST/PATH.
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// strata's path on the other machine [default: `strata` on its PATH, then
    /// /run/current-system/strata/bin/strata].
    #[arg(long, value_name = "PATH")]
    pub remote_program: Option<String>,
    /// The ssh program [env: STRATA_SSH] [default: ssh]; extra options come from
    /// $STRATA_SSHOPTS, else $NIX_SSHOPTS.
    #[arg(long, value_name = "PROGRAM")]
    pub ssh_program: Option<PathBuf>,
    /// Compress the connection (ssh's -C).
    #[arg(short = 'C', long)]
    pub compress: bool,
    /// Sign what is published to a binary cache with this secret key (`strata key generate`).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// How NARs are compressed in a binary cache: zstd, xz or none.
    #[arg(long, value_name = "METHOD", default_value = "zstd")]
    pub compression: String,
    /// Keys trusted to sign what comes from a binary cache, space-separated NAME:BASE64.
    #[arg(long, value_name = "KEYS")]
    pub trusted_public_keys: Option<String>,
    /// Print what was copied as JSON (the summary line still goes to standard error).
    #[arg(long)]
    pub json: bool,
}

pub fn copy(args: CopyArgs, store_root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let (url, sending) = match (&args.to, &args.from) {
        (Some(u), None) => (u.as_str(), true),
        (None, Some(u)) => (u.as_str(), false),
        _ => anyhow::bail!("give one of --to and --from"),
    };
    if !url.starts_with("ssh://") {
        return if sending {
            publish(&args, url, store_root, store_dir)
        } else {
            substitute(&args, url, store_root, store_dir)
        };
    }
    let target = SshTarget::parse(url)?;
    let mut ssh = Ssh::from_env(target)?;
    if let Some(p) = args.ssh_program {
        ssh.program = p.into_os_string();
    }
    if args.compress {
        ssh.options.push("-C".into());
    }
    let mut store = crate::open_store(store_root, store_dir)?;
    let remote = RemoteStore::new(ssh, store.store_dir().clone(), args.remote_program);
    let mut bar = ProgressLine::new(if sending { "sending" } else { "receiving" });
    let report = if sending {
        let paths = crate::store_cmd::parse_paths(&store, &args.paths)?;
        remote::copy_to(&store, &remote, &paths, &mut |p| bar.show(p))
    } else {
        let paths = args
            .paths
            .iter()
            .map(|a| {
                store
                    .store_dir()
                    .parse_containing(a)
                    .with_context(|| format!("'{a}' is not a store path"))
            })
            .collect::<Result<Vec<StorePath>>>()?;
        remote::copy_from(&mut store, &remote, &paths, &mut |p| bar.show(p))
    };
    bar.clear();
    let report = report.with_context(|| {
        let dir = if sending { "to" } else { "from" };
        format!("failed to copy {dir} {}", remote.target())
    })?;
    finish(&summary(&report, sending), args.json, &report)
}

/// `--to file:///DIR`: the closures written as a binary cache.
fn publish(
    args: &CopyArgs,
    url: &str,
    store_root: Option<PathBuf>,
    store_dir: &str,
) -> Result<ExitCode> {
    let Some(dir) = url.strip_prefix("file://").filter(|d| d.starts_with('/')) else {
        anyhow::bail!("cannot copy to '{url}': strata writes binary caches to file:///DIR (serve that directory over HTTP to share it) or copies to ssh://HOST");
    };
    let compression = Compression::parse(&args.compression).with_context(|| {
        format!(
            "compression '{}' is not one of zstd, xz, none",
            args.compression
        )
    })?;
    let key = args.key_file.as_deref().map(SecretKey::read).transpose()?;
    let store = crate::open_store(store_root, store_dir)?;
    let paths = crate::store_cmd::parse_paths(&store, &args.paths)?;
    let store_dir = store.store_dir().clone();
    let report = publish_cache(
        &store,
        std::path::Path::new(dir),
        &paths,
        &PublishOptions {
            compression,
            key: key.as_ref(),
            jobs: 0,
        },
        &|PublishEvent::Written { path, .. }| {
            eprintln!("copying {} to {url}", store_dir.display(path))
        },
    )
    .with_context(|| format!("failed to copy to {url}"))?;
    let line = format!(
        "wrote {} to {url}; it lacked {} of the closure's {}; {} ({} bytes, NAR {})",
        paths_n(report.written.len()),
        report.written.len(),
        report.closure,
        mib(report.file_bytes),
        report.file_bytes,
        mib(report.nar_bytes)
    );
    finish(&line, args.json, &report)
}

/// `--from file:///DIR|http(s)://...`: the closures substituted from a binary cache, every
/// path checked; any refusal leaves the store as it was.
fn substitute(
    args: &CopyArgs,
    url: &str,
    store_root: Option<PathBuf>,
    store_dir: &str,
) -> Result<ExitCode> {
    let trusted = TrustedKeys::parse(args.trusted_public_keys.as_deref().unwrap_or(""))
        .context("failed to read --trusted-public-keys")?;
    if trusted.is_empty() {
        anyhow::bail!("cannot copy from {url} without --trusted-public-keys: strata accepts only paths signed by a trusted key");
    }
    let mut store = crate::open_store(store_root, store_dir)?;
    let paths = args
        .paths
        .iter()
        .map(|a| {
            store
                .store_dir()
                .parse_containing(a)
                .with_context(|| format!("'{a}' is not a store path"))
        })
        .collect::<Result<Vec<StorePath>>>()?;
    let sub = Substituter::new(
        &[url.to_owned()],
        trusted,
        store.store_dir().clone(),
        SubstituterOptions {
            strict: true,
            ..SubstituterOptions::default()
        },
    )?;
    let dir = store.store_dir().clone();
    let report = sub
        .substitute(&mut store, &paths, &|e| {
            crate::substitute_args::print_event(&dir, &e)
        })
        .with_context(|| format!("failed to copy from {url}"))?;
    let line = format!(
        "received {} from {url}; {} ({} bytes, NAR {})",
        paths_n(report.substituted.len()),
        mib(report.file_bytes),
        report.file_bytes,
        mib(report.nar_bytes)
    );
    finish(&line, args.json, &report)
}

/// Ends a copy: its summary line on standard error, and with `--json` its report on standard
/// output.
fn finish(line: &str, json: bool, report: &impl serde::Serialize) -> Result<ExitCode> {
    eprintln!("{line}");
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / 1048576.0)
}

fn paths_n(n: usize) -> String {
    if n == 1 {
        "1 path".to_owned()
    } else {
        format!("{n} paths")
    }
}

/// The line every copy ends with: paths sent, what the receiving side lacked, bytes.
fn summary(r: &CopyReport, sending: bool) -> String {
    let (verb, prep, lacked) = if sending {
        ("sent", "to", "it")
    } else {
        ("received", "from", "this store")
    };
    format!(
        "{verb} {} {prep} {}; {lacked} lacked {} of the closure's {}; {} ({} bytes, NAR {})",
        paths_n(r.sent),
        r.remote,
        r.missing,
        r.closure,
        mib(r.bytes),
        r.bytes,
        mib(r.nar_bytes)
    )
}

/// One line on standard error, redrawn at most ten times a second, when it is a terminal.
pub(crate) struct ProgressLine {
    what: String,
    on: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl ProgressLine {
    /// A line that starts with `what` (`sending`, `[web] copying`...).
    pub(crate) fn new(what: impl Into<String>) -> ProgressLine {
        ProgressLine {
            what: what.into(),
            on: io::stderr().is_terminal(),
            last: None,
            drawn: false,
        }
    }

    pub(crate) fn show(&mut self, p: &CopyProgress) {
        if !self.on {
            return;
        }
        let done = p.paths_done == p.paths_total;
        if !done
            && self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(Instant::now());
        let bytes = match p.nar_total {
            Some(t) => format!("{} of {}", mib(p.bytes), mib(t)),
            None => mib(p.bytes),
        };
        let mut err = io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[K{}: {}/{} paths, {bytes}",
            self.what, p.paths_done, p.paths_total
        );
        let _ = err.flush();
        self.drawn = true;
    }

    pub(crate) fn clear(&mut self) {
        if self.drawn {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
    }
}
