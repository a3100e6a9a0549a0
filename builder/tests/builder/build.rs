//! Realising derivations in the sandbox, with Debian's static busybox as the only tool.

use std::collections::{BTreeMap, BTreeSet};

use strata_builder::build::{realise, BuildError, BuildOptions};
use strata_store::derivation::Derivation;
use strata_store::{Hash, HashAlgo, StorePath};

use crate::common::{harness, DrvSpec, Harness};

/// The shared harness, with the helpers these tests use.
struct Env(Harness);

impl std::ops::Deref for Env {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.0
    }
}

impl std::ops::DerefMut for Env {
    fn deref_mut(&mut self) -> &mut Harness {
        &mut self.0
    }
}

fn env() -> Env {
    Env(harness())
}

impl Env {
    /// Writes a derivation running `script` with busybox sh, as the evaluator would.
    fn drv(
        &mut self,
        name: &str,
        script: &str,
        outputs: &[&str],
        input_drvs: &[(&StorePath, &str)],
        fixed: Option<(&str, Hash)>,
    ) -> (StorePath, Derivation) {
        self.write_drv(DrvSpec {
            name,
            script,
            outputs,
            input_drvs,
            fixed,
            ..Default::default()
        })
    }

    fn realise(
        &mut self,
        p: &StorePath,
        d: &Derivation,
    ) -> Result<BTreeMap<String, StorePath>, BuildError> {
        realise(&mut self.store, p, d, &BuildOptions::default())
    }

    fn must_realise(&mut self, p: &StorePath, d: &Derivation) -> BTreeMap<String, StorePath> {
        match self.realise(p, d) {
            Ok(o) => o,
            Err(e) => panic!("build failed: {e}"),
        }
    }

    fn read(&self, p: &StorePath, sub: &str) -> String {
        let real = self.store.real_path(p);
        let f = if sub.is_empty() { real } else { real.join(sub) };
        std::fs::read_to_string(f).unwrap()
    }

    fn nothing_valid(&self, d: &Derivation) {
        for o in d.outputs.values() {
            let p = self.store.store_dir().parse(&o.path).unwrap();
            assert!(!self.store.is_valid(&p).unwrap(), "{} is valid", o.path);
            assert!(!self.store.real_path(&p).exists(), "{} exists", o.path);
        }
    }
}

#[test]
fn simple_build_and_environment() {
    let mut e = env();
    let (p, d) = e.drv(
        "simple",
        "echo building; echo hello > $out; \
         echo \"$HOME $TMPDIR $NIX_BUILD_TOP $PWD $TZ $SOURCE_DATE_EPOCH $PATH $NIX_STORE\" >> $out; \
         echo \"$(pwd) $(hostname) $(id -u) $(id -g)\" >> $out; ls / | tr '\\n' ' ' >> $out",
        &["out"],
        &[],
        None,
    );
    let outs = e.must_realise(&p, &d);
    let out = &outs["out"];
    let text = e.read(out, "");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("hello"));
    assert_eq!(
        lines.next(),
        Some("/homeless-shelter /build /build /build UTC 1 /path-not-set /nix/store")
    );
    assert_eq!(lines.next(), Some("/build localhost 1000 100"));
    assert_eq!(lines.next(), Some("build dev etc nix proc tmp "));
    let info = e.store.require_info(out).unwrap();
    assert_eq!(info.deriver.as_ref(), Some(&p));
    assert!(info.references.is_empty());
    assert_eq!(
        e.store
            .verify(Some(std::slice::from_ref(out)))
            .unwrap()
            .problems,
        Vec::<String>::new()
    );
    // The log is kept.
    let log = e
        .store
        .state_dir()
        .parent()
        .unwrap()
        .join("log/strata/drvs")
        .join(p.hash_part());
    assert_eq!(std::fs::read_to_string(log).unwrap(), "building\n");

    let again = e.must_realise(&p, &d);
    assert_eq!(again, outs);
}

#[test]
fn valid_outputs_are_not_rebuilt() {
    let mut e = env();
    let (p, d) = e.drv("noop", "echo run >&2; echo x > $out", &["out"], &[], None);
    e.must_realise(&p, &d);
    let log = e
        .store
        .state_dir()
        .parent()
        .unwrap()
        .join("log/strata/drvs")
        .join(p.hash_part());
    std::fs::remove_file(&log).unwrap();
    e.must_realise(&p, &d);
    assert!(!log.exists(), "the builder ran again");
}

#[test]
fn two_outputs() {
    let mut e = env();
    let (p, d) = e.drv(
        "multi",
        "mkdir -p $out/bin $dev; echo o > $out/bin/o; echo $out > $dev/ref",
        &["out", "dev"],
        &[],
        None,
    );
    let outs = e.must_realise(&p, &d);
    assert_eq!(outs.len(), 2);
    assert_eq!(e.read(&outs["out"], "bin/o"), "o\n");
    let dev = e.store.require_info(&outs["dev"]).unwrap();
    assert_eq!(dev.references, [outs["out"].clone()].into_iter().collect());
    assert!(e
        .store
        .require_info(&outs["out"])
        .unwrap()
        .references
        .is_empty());
}

#[test]
fn dependent_build_registers_references() {
    let mut e = env();
    let (p1, d1) = e.drv(
        "dep",
        "mkdir $out; echo lib > $out/lib",
        &["out"],
        &[],
        None,
    );
    let o1 = e.must_realise(&p1, &d1)["out"].clone();
    let script = format!(
        "cat {}/lib > $out.tmp; echo {}/lib >> $out.tmp; mv $out.tmp $out",
        e.store.print(&o1),
        e.store.print(&o1)
    );
    let (p2, d2) = e.drv("user", &script, &["out"], &[(&p1, "out")], None);
    let o2 = e.must_realise(&p2, &d2)["out"].clone();
    assert_eq!(
        e.read(&o2, ""),
        format!("lib\n{}/lib\n", e.store.print(&o1))
    );
    let info = e.store.require_info(&o2).unwrap();
    assert_eq!(info.references, [o1].into_iter().collect());
}

#[test]
fn failing_build_keeps_log_and_registers_nothing() {
    let mut e = env();
    let (p, d) = e.drv(
        "fail",
        "for i in $(seq 1 30); do echo line $i; done; mkdir $out; echo partial > $out/f; exit 1",
        &["out"],
        &[],
        None,
    );
    let err = e.realise(&p, &d).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BuildError::Failed { .. }), "{msg}");
    assert!(msg.contains("exit code 1"), "{msg}");
    assert!(msg.contains("line 30") && msg.contains("line 11"), "{msg}");
    assert!(!msg.contains("line 10\n"), "{msg}");
    e.nothing_valid(&d);
}

#[test]
fn timeout_kills_the_build() {
    let mut e = env();
    let (p, d) = e.drv(
        "slow",
        "sleep 1000 & sleep 1000; touch $out",
        &["out"],
        &[],
        None,
    );
    let opts = BuildOptions {
        timeout: Some(std::time::Duration::from_millis(500)),
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let err = realise(&mut e.store, &p, &d, &opts).unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    e.nothing_valid(&d);
}

fn sha256_of(data: &[u8]) -> Hash {
    Hash::of(HashAlgo::Sha256, data)
}

#[test]
fn fixed_output_flat() {
    let mut e = env();
    let (p, d) = e.drv(
        "fixed",
        "printf 'fixed contents\\n' > $out",
        &["out"],
        &[],
        Some(("flat", sha256_of(b"fixed contents\n"))),
    );
    let out = e.must_realise(&p, &d)["out"].clone();
    assert_eq!(e.read(&out, ""), "fixed contents\n");
    let info = e.store.require_info(&out).unwrap();
    assert_eq!(
        info.ca.as_deref(),
        Some(format!("fixed:{}", sha256_of(b"fixed contents\n")).as_str())
    );
}

#[test]
fn fixed_output_wrong_hash() {
    let mut e = env();
    let (p, d) = e.drv(
        "fixed-bad",
        "printf 'other contents\\n' > $out",
        &["out"],
        &[],
        Some(("flat", sha256_of(b"expected\n"))),
    );
    let err = e.realise(&p, &d).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BuildError::HashMismatch { .. }), "{msg}");
    assert!(msg.contains(&sha256_of(b"expected\n").to_sri()), "{msg}");
    assert!(
        msg.contains(&sha256_of(b"other contents\n").to_sri()),
        "{msg}"
    );
    e.nothing_valid(&d);
}

#[test]
fn sandbox_hides_the_host() {
    let mut e = env();
    // A valid store path that is not an input must not be visible.
    let other = e
        .store
        .add_text("secret", b"secret", &BTreeSet::new())
        .unwrap()
        .path;
    let other = e.store.print(&other);
    // Nor may any host file outside the inputs.
    let host_marker = e.dir.path().join("host-secret");
    std::fs::write(&host_marker, "secret").unwrap();
    let script = format!(
        "set -u; r=''; \
         test -e {other} && r=\"$r store-path-visible\"; \
         test -e {marker} && r=\"$r host-file-visible\"; \
         test -e /etc/hostname && r=\"$r etc-hostname-visible\"; \
         test -e /work && r=\"$r work-visible\"; \
         ls /nix/store | grep -v busybox | grep -q . && r=\"$r extra-store-entries\"; \
         wget -q -T 2 -O /build/x http://127.0.0.1:1/ 2>/dev/null && r=\"$r connected\"; \
         links=$(ip -o link show | sed 's/^[0-9]*: \\([^:@]*\\).*/\\1/' | tr '\\n' ' '); \
         test \"$links\" = 'lo ' || r=\"$r links:$links\"; \
         grep -v '^ *lo:' /proc/net/dev | grep -q ':' && r=\"$r netdev\"; \
         test $$ = 1 || r=\"$r not-pid-1\"; \
         test \"$(ls /proc | grep '^[0-9]' | sort -n | tail -1)\" -lt 50 || r=\"$r host-processes\"; \
         echo \"result:$r\" > $out",
        marker = host_marker.display()
    );
    let (p, d) = e.drv("escape", &script, &["out"], &[], None);
    let out = e.must_realise(&p, &d)["out"].clone();
    assert_eq!(e.read(&out, ""), "result:\n");
}

#[test]
fn inputs_are_read_only() {
    let mut e = env();
    let script = format!(
        "if echo x > {bb} 2>/dev/null || rm -f {bb} 2>/dev/null; then echo writable > $out; else echo ro > $out; fi",
        bb = e.busybox
    );
    let (p, d) = e.drv("ro", &script, &["out"], &[], None);
    let out = e.must_realise(&p, &d)["out"].clone();
    assert_eq!(e.read(&out, ""), "ro\n");
    assert_eq!(e.store.verify(None).unwrap().problems, Vec::<String>::new());
}

#[test]
fn missing_output_is_an_error() {
    let mut e = env();
    let (p, d) = e.drv("lazy", "true", &["out"], &[], None);
    let err = e.realise(&p, &d).unwrap_err();
    assert!(matches!(err, BuildError::OutputMissing { .. }), "{err}");
    e.nothing_valid(&d);
}
