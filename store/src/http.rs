//! The HTTP client settings every download in strata shares (binary caches, `.deb`s, flake
//! inputs): which certificate authorities a TLS server is checked against, the user agent,
//! and no proxy for the loopback addresses.
//!
//! Trusted authorities, as Nix chooses them: the file `NIX_SSL_CERT_FILE` names, else the one
//! `SSL_CERT_FILE` names, else the system's bundle (`/etc/ssl/certs/ca-certificates.crt`,
//! Debian's `ca-certificates`), else the Mozilla roots built into strata. A file named by
//! either variable that cannot be read or holds no certificate is an error naming it, not a
//! silent fallback: the user chose it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use thiserror::Error;
use ureq::config::ConfigBuilder;
use ureq::tls::{PemItem, RootCerts, TlsConfig};
use ureq::typestate::AgentScope;

/// The system's bundle of trusted certificate authorities.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A certificate file that cannot be used.
#[derive(Debug, Clone, Error)]
#[error("cannot use the certificate authorities in {} ({from}): {problem}", path.display())]
pub struct CertFileError {
    /// Where the file's name came from: an environment variable, or "the system bundle".
    pub from: String,
    pub path: PathBuf,
    pub problem: String,
}

/// An agent configuration for requests to `url`: the trusted authorities chosen as the module
/// says, HTTP error statuses left to the caller, strata's user agent, and no proxy when `url`
/// is on a loopback address. Timeouts are the caller's.
pub fn agent_config(url: &str) -> Result<ConfigBuilder<AgentScope>, CertFileError> {
    let tls = TlsConfig::builder().root_certs(roots()?).build();
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")));
    if is_loopback(url) {
        config = config.proxy(None);
    }
    Ok(config)
}

/// Whether an http(s) URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The trusted authorities, read once per process.
fn roots() -> Result<RootCerts, CertFileError> {
    static ROOTS: OnceLock<Result<RootCerts, CertFileError>> = OnceLock::new();
    ROOTS.get_or_init(choose_roots).clone()
}

fn choose_roots() -> Result<RootCerts, CertFileError> {
    for var in ["NIX_SSL_CERT_FILE", "SSL_CERT_FILE"] {
        if let Some(file) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return read_bundle(Path::new(&file), var);
        }
    }
    if Path::new(SYSTEM_BUNDLE).is_file() {
        return read_bundle(Path::new(SYSTEM_BUNDLE), "the system bundle");
    }
    Ok(RootCerts::WebPki)
}

/// The certificates of a PEM file; other PEM items (keys) are passed over.
pub fn read_bundle(path: &Path, from: &str) -> Result<RootCerts, CertFileError> {
    let err = |problem: String| CertFileError {
        from: from.to_owned(),
        path: path.to_owned(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(err(format!("not a PEM file: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(err("it holds no certificate".to_owned()));
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for url in [
            "http://127.0.0.1:8080/x",
            "https://localhost/cache",
            "http://user@127.1.2.3",
            "http://[::1]:80/",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://cache.example/x",
            "http://10.0.0.1/",
            "http://[fe80::1]/",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn bundles_that_cannot_be_used_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = read_bundle(&missing, "SSL_CERT_FILE").unwrap_err();
        assert!(e.to_string().contains("none.pem"), "{e}");
        assert!(e.to_string().contains("SSL_CERT_FILE"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = read_bundle(&empty, "NIX_SSL_CERT_FILE").unwrap_err();
        assert!(e.to_string().contains("holds no certificate"), "{e}");
    }

    #[test]
    fn the_system_bundle_is_read_when_present() {
        if !Path::new(SYSTEM_BUNDLE).is_file() {
            return;
        }
        match read_bundle(Path::new(SYSTEM_BUNDLE), "the system bundle").unwrap() {
            RootCerts::Specific(c) => assert!(!c.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}
