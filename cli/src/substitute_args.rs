//! The binary caches a build asks before building: `--substituters`,
//! `--trusted-public-keys`, `--offline`, else strata's configuration file
//! (`/etc/strata/strata.conf`, which a strata machine's `nix.settings.substituters` and
//! `nix.settings.trusted-public-keys` write), in nix.conf's `name = value` form.

use std::io;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;
use strata_builder::scheduler::SchedulerOptions;
use strata_store::cache::{Event, Substituter, SubstituterOptions, TrustedKeys};
use strata_store::StoreDir;

/// strata's configuration file on a machine it set up.
pub const CONFIG_FILE: &str = "/etc/strata/strata.conf";

#[derive(Debug, Clone, Default, Args)]
pub struct SubstituteArgs {
    /// Binary caches to ask before building, space-separated (file:///DIR, http(s)://...)
    /// [default: `substituters` in /etc/strata/strata.conf].
    #[arg(long, value_name = "URLS")]
    pub substituters: Option<String>,
    /// Keys whose signatures make a cache's path acceptable, space-separated NAME:BASE64
    /// [default: `trusted-public-keys` in /etc/strata/strata.conf].
    #[arg(long, value_name = "KEYS")]
    pub trusted_public_keys: Option<String>,
    /// Ask no binary cache.
    #[arg(long)]
    pub offline: bool,
    /// Seconds to wait for a cache before skipping it.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub substituter_timeout: u64,
}

/// `name = value` lines of a nix.conf-style file (comments with `#`).
fn read_conf(file: &Path) -> Result<Vec<(String, String)>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("failed to read '{}'", file.display())),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            anyhow::bail!(
                "{}:{}: expected 'name = value', found '{line}'",
                file.display(),
                i + 1
            );
        };
        out.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(out)
}

impl SubstituteArgs {
    /// The substituter these arguments (or the configuration file) ask for; `None` when
    /// offline or none is configured.
    pub fn substituter(&self, store_dir: &StoreDir) -> Result<Option<Arc<Substituter>>> {
        if self.offline {
            return Ok(None);
        }
        let conf = read_conf(Path::new(CONFIG_FILE))?;
        let from_conf = |name: &str| {
            conf.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let urls = self
            .substituters
            .clone()
            .or_else(|| from_conf("substituters"))
            .unwrap_or_default();
        let urls: Vec<String> = urls.split_whitespace().map(str::to_owned).collect();
        if urls.is_empty() {
            return Ok(None);
        }
        let keys = self
            .trusted_public_keys
            .clone()
            .or_else(|| from_conf("trusted-public-keys"))
            .unwrap_or_default();
        let trusted =
            TrustedKeys::parse(&keys).context("failed to read the trusted public keys")?;
        let sub = Substituter::new(
            &urls,
            trusted,
            store_dir.clone(),
            SubstituterOptions {
                timeout: std::time::Duration::from_secs(self.substituter_timeout.max(1)),
                ..SubstituterOptions::default()
            },
        )?;
        Ok(Some(Arc::new(sub)))
    }

    /// Sets the scheduler's substituter and a progress printer for it, which prints what was
    /// substituted ([`Tally`]) once the scheduler options are dropped.
    pub fn apply(&self, opts: &mut SchedulerOptions, store_dir: &StoreDir) -> Result<()> {
        opts.substituter = self.substituter(store_dir)?;
        if opts.substituter.is_some() {
            let tally = Arc::new(Tally::new(store_dir.clone()));
            opts.on_substitute = Some(Arc::new(move |e: &Event<'_>| tally.record(e)));
        }
        Ok(())
    }
}

/// What one command substituted, per cache. Every event is printed as it comes
/// ([`print_event`]); the totals are printed as one line per cache by [`Tally::finish`], or
/// when the tally is dropped. The building verbs (`build`, `switch`, `image`) share one
/// scheduler configuration for all their realisations, and it goes when their build is over:
/// dropping is their "the end", wherever the build returns from.
#[derive(Debug)]
pub struct Tally {
    dir: StoreDir,
    /// Per cache URL: paths, downloaded bytes, NAR bytes.
    per_cache: std::sync::Mutex<std::collections::BTreeMap<String, (usize, u64, u64)>>,
}

impl Tally {
    pub fn new(dir: StoreDir) -> Tally {
        Tally {
            dir,
            per_cache: Default::default(),
        }
    }

    /// Prints the event and counts what it substituted.
    pub fn record(&self, e: &Event<'_>) {
        print_event(&self.dir, e);
        if let Event::Substituted {
            cache,
            file_bytes,
            nar_bytes,
            ..
        } = e
        {
            if let Ok(mut m) = self.per_cache.lock() {
                let t = m.entry((*cache).to_owned()).or_default();
                t.0 += 1;
                t.1 += file_bytes;
                t.2 += nar_bytes;
            }
        }
    }

    /// The summary lines, one per cache that gave something (none when nothing was
    /// substituted).
    pub fn summary(&self) -> Vec<String> {
        let Ok(m) = self.per_cache.lock() else {
            return Vec::new();
        };
        m.iter()
            .map(|(cache, (n, file, nar))| {
                format!(
                    "substituted {n} path{} from {cache}: {:.2} MiB downloaded ({file} bytes), {:.2} MiB unpacked ({nar} bytes)",
                    if *n == 1 { "" } else { "s" },
                    *file as f64 / 1048576.0,
                    *nar as f64 / 1048576.0,
                )
            })
            .collect()
    }

    /// Prints the summary and forgets the totals (so that dropping prints nothing more).
    pub fn finish(&self) {
        for line in self.summary() {
            eprintln!("{line}");
        }
        if let Ok(mut m) = self.per_cache.lock() {
            m.clear();
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One line on standard error for each thing a substituter does.
pub fn print_event(dir: &StoreDir, e: &Event<'_>) {
    let line = match e {
        Event::Fetching {
            path,
            cache,
            file_size,
            nar_size,
        } => format!(
            "substituting {} from {cache} ({}{:.2} MiB NAR)",
            dir.display(path),
            file_size.map_or(String::new(), |f| format!(
                "{:.2} MiB download, ",
                f as f64 / 1048576.0
            )),
            *nar_size as f64 / 1048576.0
        ),
        // Counted by [`Tally`], printed once at the end.
        Event::Substituted { .. } => return,
        Event::CacheSkipped { cache, error } => {
            format!("warning: skipping binary cache {cache}: {error}")
        }
        Event::Refused {
            path,
            cache,
            reason,
        } => format!(
            "warning: not substituting {} from {cache}: {reason}",
            dir.display(path)
        ),
    };
    eprintln!("{line}");
}
