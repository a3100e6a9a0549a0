//! `strata key generate` and `strata store sign`: Ed25519 keys in Nix's form and signatures
//! recorded in the store ([`strata_store::cache::keys`]).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use strata_store::cache::{fingerprint, SecretKey};
use strata_store::LocalStore;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a signing key (like `nix-store --generate-binary-cache-key`): the secret goes to
    /// FILE (mode 0600), the public key to FILE.pub and to standard output.
    Generate {
        /// The key's name, e.g. `cache.example.org-1`.
        name: String,
        /// Where the secret key is written; it must not exist yet.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

pub fn run(cmd: KeyCommand) -> Result<ExitCode> {
    match cmd {
        KeyCommand::Generate { name, output } => {
            let key = SecretKey::generate(&name)?;
            let public = key.public().to_text();
            write_new(&output, key.to_text().as_bytes(), 0o600).with_context(|| {
                format!("failed to write the secret key to '{}'", output.display())
            })?;
            let mut pub_file = output.clone().into_os_string();
            pub_file.push(".pub");
            let pub_file = PathBuf::from(pub_file);
            write_new(&pub_file, public.as_bytes(), 0o644).with_context(|| {
                format!("failed to write the public key to '{}'", pub_file.display())
            })?;
            println!("{public}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Creates `path` (never replacing a file: a key is not overwritten by mistake) with `mode`.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

/// `strata store sign --key-file K PATH...`: signs each path (not its closure) and records
/// the signature in the store.
pub fn sign(store: &mut LocalStore, key_file: &Path, paths: &[String]) -> Result<()> {
    let key = SecretKey::read(key_file)?;
    let paths = crate::store_cmd::parse_paths(store, paths)?;
    let mut sigs = Vec::new();
    for p in &paths {
        let info = store.require_info(p)?;
        let fp = fingerprint(
            store.store_dir(),
            p,
            &info.nar_hash,
            info.nar_size,
            &info.references,
        );
        sigs.push((p.clone(), vec![key.sign(fp.as_bytes())]));
    }
    store
        .add_signatures(&sigs)
        .context("failed to record the signatures")?;
    eprintln!(
        "signed {} path{} with key '{}'",
        paths.len(),
        if paths.len() == 1 { "" } else { "s" },
        key.name()
    );
    Ok(())
}
