//! Binary caches, strata against Nix 2.8 side by side in one run:
//!
//! ```text
//! cargo bench -p strata-cli --bench binary_cache
//! ```
//!
//! The example's system is built once (kept in `<target>/bench-data/binary-cache/store`, so
//! later runs reuse it), then, for its whole closure and the same compression:
//!
//! 1. `publish`: `strata copy --to file://DIR` against `nix copy --from STORE --to
//!    file://DIR?compression=...` (Nix reads strata's store as a chroot store), each into an
//!    empty directory.
//! 2. `substitute over HTTP`: strata's cache served by lighttpd on 127.0.0.1; `strata copy
//!    --from http://...` into an empty store against `nix copy --from http://... --to DIR`
//!    into an empty chroot store, both with the cache's key trusted.
//!    Then `strata build` of the example into an empty store with that cache as its
//!    substituter (evaluation included), against the same Nix copy.
//! 3. The decompression limit: `zstd -d` (or `xz -d`) of the same NAR files, one process,
//!    output thrown away: no substituter can be faster than reading and decompressing its
//!    files once on one core.
//!
//! Each case runs `STRATA_BENCH_REPS` times (3 by default); the best is shown.
//! `STRATA_BENCH_COMPRESSION` chooses `zstd` (default) or `xz`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

fn run(c: &mut Command) -> (Duration, String) {
    let what = format!("{c:?}");
    let start = Instant::now();
    let out = c.stdin(Stdio::null()).output().unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn strata(root: &Path) -> Command {
    let mut c = Command::new(STRATA);
    c.arg("--store-root").arg(root);
    c.env_remove("STRATA_DEBIAN_MIRROR");
    c
}

struct Lighttpd(Child, u16);

impl Lighttpd {
    fn serve(dir: &Path, conf_dir: &Path) -> Lighttpd {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = conf_dir.join("lighttpd.conf");
        fs::write(
            &conf,
            format!(
                "server.document-root = \"{}\"\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\n\
                 server.errorlog = \"{}\"\nserver.max-keep-alive-requests = 100000\n",
                dir.display(),
                conf_dir.join("error.log").display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/lighttpd")
            .arg("-D")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .spawn()
            .expect("lighttpd (scripts/setup --tests installs it)");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "lighttpd did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Lighttpd(child, port)
    }
}

impl Drop for Lighttpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn best(reps: usize, mut f: impl FnMut(usize) -> Duration) -> Duration {
    (0..reps).map(&mut f).min().unwrap()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

fn line(what: &str, strata: Duration, nix: Duration, mb: f64) {
    println!(
        "{what:<28} strata {:>8.2} s ({:>6.1} MiB/s)   nix {:>8.2} s ({:>6.1} MiB/s)   strata/nix {:.2}x",
        strata.as_secs_f64(),
        mb / strata.as_secs_f64(),
        nix.as_secs_f64(),
        mb / nix.as_secs_f64(),
        strata.as_secs_f64() / nix.as_secs_f64()
    );
}

fn main() {
    let reps = common::reps();
    let compression =
        std::env::var("STRATA_BENCH_COMPRESSION").unwrap_or_else(|_| "zstd".to_owned());
    assert!(matches!(compression.as_str(), "zstd" | "xz"), "zstd or xz");
    let data = common::target_dir().join("bench-data/binary-cache");
    let store = data.join("store");
    fs::create_dir_all(&data).unwrap();
    let example = common::repo().join("examples/configuration.nix");
    eprintln!("building the example in {} (once)", store.display());
    let (_, toplevel) = run(strata(&store)
        .args(["build", "--no-out-link", "-f"])
        .arg(&example));
    let (_, closure) = run(strata(&store).args(["store", "closure", &toplevel]));
    let closure: Vec<String> = closure.lines().map(str::to_owned).collect();
    let (_, infos) = run(strata(&store)
        .args(["store", "path-info", "--json"])
        .args(&closure));
    let infos: serde_json::Value = serde_json::from_str(&infos).unwrap();
    let nar_bytes: u64 = infos
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["narSize"].as_u64().unwrap())
        .sum();
    let work = tempfile::tempdir_in(&data).unwrap();
    let key = work.path().join("bench.sec");
    let (_, public) = run(Command::new(STRATA)
        .args(["key", "generate", "bench-1", "-o"])
        .arg(&key));
    let nix_key = work.path().join("nix.sec");
    let nix_pub = work.path().join("nix.pub");
    run(common::nix_command("nix-store")
        .args(["--generate-binary-cache-key", "bench-nix-1"])
        .arg(&nix_key)
        .arg(&nix_pub));
    let nix_public = fs::read_to_string(&nix_pub).unwrap();
    println!(
        "closure of the example: {} paths, {:.1} MiB of NAR; compression {compression}; best of {reps}",
        closure.len(),
        mib(nar_bytes)
    );

    // 1. Publishing.
    let strata_cache = |i: usize| work.path().join(format!("strata-cache-{i}"));
    let t_strata = best(reps, |i| {
        let dir = strata_cache(i);
        run(strata(&store)
            .args(["copy", "--to", &format!("file://{}", dir.display())])
            .args(["--compression", &compression, "--key-file"])
            .arg(&key)
            .arg(&toplevel))
        .0
    });
    let t_nix = best(reps, |i| {
        let dir = work.path().join(format!("nix-cache-{i}"));
        let mut c = common::nix_command("nix");
        c.args([
            "--extra-experimental-features",
            "nix-command",
            "copy",
            "--from",
        ])
        .arg(&store)
        .arg("--to")
        .arg(format!(
            "file://{}?compression={compression}&secret-key={}",
            dir.display(),
            nix_key.display()
        ))
        .arg(&toplevel);
        run(&mut c).0
    });
    line(
        "publish (copy --to file://)",
        t_strata,
        t_nix,
        mib(nar_bytes),
    );
    let file_bytes: u64 = fs::read_dir(strata_cache(0).join("nar"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let nix_file_bytes: u64 = fs::read_dir(work.path().join("nix-cache-0/nar"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "  cache size: strata {:.1} MiB, nix {:.1} MiB",
        mib(file_bytes),
        mib(nix_file_bytes)
    );

    // 2. Substituting the closure over HTTP from strata's cache.
    let server = Lighttpd::serve(&strata_cache(0), work.path());
    let url = format!("http://127.0.0.1:{}", server.1);
    let t_strata = best(reps, |i| {
        let dest = work.path().join(format!("strata-dest-{i}"));
        run(strata(&dest)
            .args(["copy", "--from", &url, "--trusted-public-keys", &public])
            .arg(&toplevel))
        .0
    });
    let t_nix = best(reps, |i| {
        let dest = work.path().join(format!("nix-dest-{i}"));
        let mut c = common::nix_command("nix");
        c.args([
            "--extra-experimental-features",
            "nix-command",
            "copy",
            "--from",
            &url,
            "--to",
        ])
        .arg(&dest)
        .args([
            "--option",
            "trusted-public-keys",
            &format!("{public} {}", nix_public.trim()),
        ])
        .arg(&toplevel);
        run(&mut c).0
    });
    line(
        "substitute (copy --from http)",
        t_strata,
        t_nix,
        mib(nar_bytes),
    );
    // 2b. The same closure substituted inside a build, as a fleet machine gets it: `strata
    // build` of the example into an empty store with the cache as its substituter (the
    // evaluation included), against the same Nix copy.
    let t_build = best(reps, |i| {
        let dest = work.path().join(format!("strata-build-{i}"));
        let (took, out) = run(strata(&dest)
            .args(["build", "--no-out-link", "-f"])
            .arg(&example)
            .args(["--substituters", &url, "--trusted-public-keys", &public]));
        assert_eq!(
            out, toplevel,
            "the build from the cache made another toplevel"
        );
        took
    });
    line("build from the cache", t_build, t_nix, mib(nar_bytes));

    // 3. The decompression limit on the same files.
    let files: Vec<PathBuf> = fs::read_dir(strata_cache(0).join("nar"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let t_limit = best(reps, |_| {
        let mut c = Command::new(&compression);
        c.args(["-d", "-c", "-q"])
            .args(&files)
            .stdout(Stdio::null());
        let start = Instant::now();
        assert!(c.status().unwrap().success());
        start.elapsed()
    });
    println!(
        "decompression limit ({compression} -d, one core): {:.2} s ({:.1} MiB/s of NAR); strata substitutes at {:.0}% of it",
        t_limit.as_secs_f64(),
        mib(nar_bytes) / t_limit.as_secs_f64(),
        100.0 * t_limit.as_secs_f64() / t_strata.as_secs_f64()
    );
}
