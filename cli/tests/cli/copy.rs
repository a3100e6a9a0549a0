//! `strata copy --to|--from` between two local stores: a stand-in for `ssh` (a script given
//! through `STRATA_SSH`) logs its arguments, drops the options and the destination and runs the
//! remote command here with `STRATA_STORE_ROOT` set to the other store, so the whole exchange
//! (the question, the one stream, the import) runs as it does over a real connection. Modes of
//! the script cut the connection or kill the importing process midway; other scripts stand in
//! for a remote strata that answers garbage.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::{run, strata, strata_store, Output, Rng};

/// The stand-in for `ssh`. `FAKE_SSH_MODE`: `cut-to` passes only the first `FAKE_SSH_CUT` bytes
/// of a stream sent to `store import`; `kill-import` kills that import with SIGKILL after them;
/// `cut-from` passes only the first `FAKE_SSH_CUT` bytes of a stream from `store export`;
/// `unreachable` fails as ssh does when it cannot connect.
const FAKE_SSH: &str = r#"#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_SSH_LOG"
if [ "$FAKE_SSH_MODE" = unreachable ]; then
    echo "ssh: connect to host machine-b port 2222: Connection refused" >&2
    exit 255
fi
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
[ "$#" -ge 3 ] || { echo "fake ssh: no destination or command" >&2; exit 255; }
shift 2
export STRATA_STORE_ROOT="$FAKE_SSH_ROOT" PATH="$FAKE_SSH_PATH"
case "$FAKE_SSH_MODE:$*" in
cut-to:*" store import")
    head -c "$FAKE_SSH_CUT" | sh -c "$*"
    exit 255 ;;
kill-import:*" store import")
    fifo="$FAKE_SSH_TMP/fifo"
    mkfifo "$fifo"
    sh -c "exec $*" < "$fifo" &
    pid=$!
    { head -c "$FAKE_SSH_CUT"; sleep 1; kill -9 "$pid"; } > "$fifo"
    wait "$pid"
    rm -f "$fifo"
    exit 255 ;;
cut-from:*" store export "*)
    sh -c "$*" | head -c "$FAKE_SSH_CUT"
    exit 255 ;;
esac
exec sh -c "$*"
"#;

/// A remote strata that lies where `FAKE_LIE` says: `not-a-path` and `unasked` answer `store
/// missing` with a line that is no store path or a path nobody asked about, `trailing` and
/// `other` answer `store export` with a stream followed by junk or with a path not asked for.
const LIAR: &str = r#"#!/bin/sh
case "$FAKE_LIE:$*" in
not-a-path:*"store missing")
    cat > /dev/null; echo "hello"; exit 0 ;;
unasked:*"store missing")
    cat > /dev/null; echo "$FAKE_OTHER"; exit 0 ;;
trailing:*"store export "*)
    "$FAKE_REAL" "$@"; echo "junk"; exit 0 ;;
other:*"store export "*)
    cat > /dev/null; exec "$FAKE_REAL" store export --only "$FAKE_OTHER" ;;
esac
exec "$FAKE_REAL" "$@"
"#;

/// Two stores, `a` (here) and `b` (the "remote"), and the scripts between them.
struct Pair {
    dir: TempDir,
}

impl Pair {
    fn new() -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("bin")).unwrap();
        fs::create_dir_all(d.join("tmp")).unwrap();
        symlink(env!("CARGO_BIN_EXE_strata"), d.join("bin/strata")).unwrap();
        for (name, text) in [("ssh", FAKE_SSH), ("liar", LIAR)] {
            fs::write(d.join(name), text).unwrap();
            fs::set_permissions(d.join(name), fs::Permissions::from_mode(0o755)).unwrap();
        }
        Pair { dir }
    }

    fn a(&self) -> PathBuf {
        self.dir.path().join("a")
    }

    fn b(&self) -> PathBuf {
        self.dir.path().join("b")
    }

    fn log(&self) -> Vec<String> {
        fs::read_to_string(self.dir.path().join("ssh.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `strata --store-root A copy ARGS...` through the stand-in, which finds `strata` on the
    /// remote `PATH`.
    fn copy_cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = strata();
        c.arg("--store-root")
            .arg(self.a())
            .arg("copy")
            .args(args)
            .env("STRATA_SSH", d.join("ssh"))
            .env_remove("STRATA_SSHOPTS")
            .env_remove("NIX_SSHOPTS")
            .env("FAKE_SSH_LOG", d.join("ssh.log"))
            .env("FAKE_SSH_ROOT", self.b())
            .env("FAKE_SSH_TMP", d.join("tmp"))
            .env(
                "FAKE_SSH_PATH",
                format!("{}:/usr/bin:/bin", d.join("bin").display()),
            )
            .env("FAKE_REAL", env!("CARGO_BIN_EXE_strata"))
            .env("FAKE_SSH_MODE", "");
        c
    }

    fn copy(&self, args: &[&str]) -> Output {
        run(&mut self.copy_cmd(args), None)
    }

    /// A successful `copy --json`'s report.
    fn copy_ok(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let o = self.copy(&all).ok();
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

fn store(root: &Path, args: &[&str]) -> Output {
    run(&mut strata_store(root, args), None)
}

/// The paths among `paths` the store at `root` lacks.
fn missing(root: &Path, paths: &[String]) -> Vec<String> {
    let list: String = paths.iter().map(|p| format!("{p}\n")).collect();
    run(&mut strata_store(root, ["missing"]), Some(list.as_bytes()))
        .ok()
        .lines()
}

fn path_info(root: &Path, paths: &[String]) -> serde_json::Value {
    let mut args = vec!["path-info", "--json"];
    args.extend(paths.iter().map(String::as_str));
    serde_json::from_slice(&store(root, &args).ok().stdout).unwrap()
}

/// What must not change when a copy fails: the valid paths (verified) and the store
/// directory's entries (no half-imported trees).
fn snapshot(root: &Path) -> (serde_json::Value, BTreeSet<String>) {
    let v: serde_json::Value =
        serde_json::from_slice(&store(root, &["verify", "--json"]).stdout).unwrap();
    assert_eq!(v["problems"], serde_json::json!([]), "{}", root.display());
    let entries = fs::read_dir(root.join("nix/store"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    (v["checked"].clone(), entries)
}

/// A closure in the store at `root`: `n` leaves of `size` bytes (compressible about as a
/// system's files are: letters from a small alphabet), and a top path referring to all of
/// them. Returns the leaves and the top.
fn closure(root: &Path, seed: u64, n: usize, size: usize) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(seed);
    let mut leaves = Vec::new();
    for i in 0..n {
        let f = dir.path().join(format!("leaf-{seed}-{i}"));
        let data: Vec<u8> = rng
            .bytes(size)
            .iter()
            .map(|b| b"abcdefghijklmnop"[usize::from(b & 15)])
            .collect();
        fs::create_dir_all(&f).unwrap();
        fs::write(f.join("data"), data).unwrap();
        leaves.push(store(root, &["add", f.to_str().unwrap()]).ok().line());
    }
    let mut args = vec!["add-text".to_owned(), format!("top-{seed}")];
    for l in &leaves {
        args.push("--reference".into());
        args.push(l.clone());
    }
    let top = run(
        &mut strata_store(root, &args),
        Some(leaves.join("\n").as_bytes()),
    )
    .ok()
    .line();
    (leaves, top)
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap()
}

#[test]
fn copy_to_sends_only_what_the_target_lacks() {
    let p = Pair::new();
    let (leaves, top) = closure(&p.a(), 1, 20, 64 * 1024);
    let url = "ssh://alice@machine-b:2222";

    // The target holds 18 of the 20 leaves first: copied alone, each brings only itself.
    let r = p.copy_ok(&["--to", url, &leaves[0]]);
    assert_eq!(
        (n(&r["closure"]), n(&r["missing"]), n(&r["sent"])),
        (1, 1, 1)
    );
    let mut first = vec!["--to", url];
    first.extend(leaves[1..18].iter().map(String::as_str));
    let r = p.copy_ok(&first);
    assert_eq!((n(&r["missing"]), n(&r["sent"])), (17, 17));

    // The top's closure: the target lacks two leaves and the top, 3 of 21, and only those go.
    let mut all = leaves.clone();
    all.push(top.clone());
    let lacked = missing(&p.b(), &all);
    assert_eq!(lacked.len(), 3, "{lacked:?}");
    let log_before = p.log().len();
    let o = p.copy(&["--to", url, &top, "--json"]).ok();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(n(&r["closure"]), 21);
    assert_eq!(n(&r["missing"]), 3);
    assert_eq!(n(&r["sent"]), 3, "paths sent == paths the target lacked");
    let sent: BTreeSet<String> = r["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, lacked.iter().cloned().collect());
    assert!(
        o.stderr.contains(&format!(
            "sent 3 paths to {url}; it lacked 3 of the closure's 21;"
        )),
        "{}",
        o.stderr
    );
    // Two connections: the question and the stream; both name the port, the user, the host,
    // and run strata with this store's directory.
    let log = p.log()[log_before..].to_vec();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        log[0],
        "-p 2222 -- alice@machine-b strata --store-dir /nix/store store missing"
    );
    assert_eq!(
        log[1],
        "-p 2222 -- alice@machine-b strata --store-dir /nix/store store import"
    );

    // Bytes sent against the NAR size of what was missing: the stream's framing only.
    let nar: u64 = path_info(&p.a(), &lacked)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| n(&i["narSize"]))
        .sum();
    assert_eq!(n(&r["narBytes"]), nar);
    let bytes = n(&r["bytes"]);
    let ratio = bytes as f64 / nar as f64;
    let mut export = vec!["export", "--only"];
    export.extend(lacked.iter().map(String::as_str));
    let stream = store(&p.a(), &export).ok().stdout;
    assert_eq!(stream.len() as u64, bytes, "what went is one export stream");
    let gz = gzip_size(&stream);
    eprintln!(
        "copy of a closure the target holds 90% of (18 of 20 leaves): {bytes} bytes sent for \
         {nar} bytes of missing NAR ({ratio:.4}x); gzip -6 of the stream, about what ssh -C \
         sends: {gz} bytes ({:.4}x)",
        gz as f64 / nar as f64
    );
    assert!(ratio <= 1.05, "{ratio}");

    // The closure arrived valid, with the references and NAR hashes it has here; as an import
    // does, the paths are not "ultimate" there and carry no signatures.
    let here = path_info(&p.a(), &all);
    let there = path_info(&p.b(), &all);
    for (h, t) in here
        .as_array()
        .unwrap()
        .iter()
        .zip(there.as_array().unwrap())
    {
        assert_eq!(h["path"], t["path"]);
        assert_eq!(h["narHash"], t["narHash"]);
        assert_eq!(h["references"], t["references"]);
        assert_eq!(t["ultimate"], false);
        assert_eq!(t["signatures"], serde_json::json!([]));
        assert!(n(&t["registrationTime"]) > 0);
    }
    snapshot(&p.b());

    // Again: nothing is missing, nothing is sent, and the stream is not even opened.
    let log_before = p.log().len();
    let o = p.copy(&["--to", url, &top]).ok();
    assert!(
        o.stderr.contains("sent 0 paths") && o.stderr.contains("it lacked 0 of the closure's 21"),
        "{}",
        o.stderr
    );
    assert_eq!(p.log().len(), log_before + 1);
}

#[test]
fn copy_from_fetches_only_what_this_store_lacks() {
    let p = Pair::new();
    // The closure is on b; a holds 4 of its 10 leaves (copied from b first).
    let (leaves, top) = closure(&p.b(), 2, 10, 16 * 1024);
    let url = "ssh://machine-b";
    let mut first = vec!["--from", url];
    first.extend(leaves[..4].iter().map(String::as_str));
    let r = p.copy_ok(&first);
    assert_eq!((n(&r["missing"]), n(&r["sent"])), (4, 4));

    let mut all = leaves.clone();
    all.push(top.clone());
    let lacked = missing(&p.a(), &all);
    assert_eq!(lacked.len(), 7);
    let log_before = p.log().len();
    let o = p.copy(&["--from", url, &top, "--json"]).ok();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (n(&r["closure"]), n(&r["missing"]), n(&r["sent"])),
        (11, 7, 7)
    );
    assert!(
        o.stderr.contains(&format!(
            "received 7 paths from {url}; this store lacked 7 of the closure's 11;"
        )),
        "{}",
        o.stderr
    );
    let log = p.log()[log_before..].to_vec();
    assert_eq!(
        log,
        [
            "-- machine-b strata --store-dir /nix/store store closure --stdin",
            "-- machine-b strata --store-dir /nix/store store export --only --stdin",
        ]
    );
    assert!(missing(&p.a(), &all).is_empty());
    let here = path_info(&p.a(), &all);
    let there = path_info(&p.b(), &all);
    for (h, t) in here
        .as_array()
        .unwrap()
        .iter()
        .zip(there.as_array().unwrap())
    {
        assert_eq!(h["narHash"], t["narHash"]);
        assert_eq!(h["references"], t["references"]);
    }
    snapshot(&p.a());
}

#[test]
fn an_interrupted_copy_leaves_the_target_as_it_was() {
    let p = Pair::new();
    let (leaves, top) = closure(&p.a(), 3, 6, 256 * 1024);
    let url = "ssh://machine-b";
    p.copy_ok(&["--to", url, &leaves[0]]);
    let mut all = leaves.clone();
    all.push(top.clone());

    // The connection drops in the middle of the third path's archive; then the importing
    // process is killed there.
    for mode in ["cut-to", "kill-import"] {
        let before = snapshot(&p.b());
        let o = run(
            p.copy_cmd(&["--to", url, &top])
                .env("FAKE_SSH_MODE", mode)
                .env("FAKE_SSH_CUT", (600 * 1024).to_string()),
            None,
        );
        assert_eq!(o.code, Some(1), "{mode}: {}", o.stderr);
        assert!(
            o.stderr
                .starts_with(&format!("error: failed to copy to {url}: ")),
            "{mode}: {}",
            o.stderr
        );
        assert!(
            o.stderr.contains(&format!(
                "the connection to {url} broke, nothing was copied: "
            )),
            "{mode}: {}",
            o.stderr
        );
        if mode == "cut-to" {
            // What the far side's import said.
            assert!(o.stderr.contains("ends early at byte"), "{}", o.stderr);
        }
        // Valid as it was: the same valid paths, all verified, and (once the store is opened
        // again, which clears a killed process's staging trees) no other entries.
        assert_eq!(snapshot(&p.b()), before, "{mode}");
        assert_eq!(missing(&p.b(), &all).len(), 6, "{mode}");
    }
    // The same copy then succeeds.
    let r = p.copy_ok(&["--to", url, &top]);
    assert_eq!((n(&r["missing"]), n(&r["sent"])), (6, 6));
    snapshot(&p.b());

    // From the other side: the stream from b is cut; this store is left as it was.
    let c = Pair::new();
    let (_, top) = closure(&c.b(), 4, 4, 256 * 1024);
    let before = snapshot(&c.a());
    let o = run(
        c.copy_cmd(&["--from", url, &top])
            .env("FAKE_SSH_MODE", "cut-from")
            .env("FAKE_SSH_CUT", (300 * 1024).to_string()),
        None,
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "error: failed to copy from {url}: the connection to {url} broke, nothing was copied"
        )),
        "{}",
        o.stderr
    );
    assert_eq!(snapshot(&c.a()), before);
}

#[test]
fn bad_targets_and_answers_are_clear_errors_that_change_nothing() {
    let p = Pair::new();
    let (leaves, top) = closure(&p.a(), 5, 2, 1024);
    let d = p.dir.path();
    let url = "ssh://machine-b";
    let fails = |c: &mut Command, want: &[&str]| {
        let o = run(c, None);
        assert_eq!(o.code, Some(1), "{}", o.stderr);
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        for w in want {
            assert!(o.stderr.contains(w), "expected {w:?} in:\n{}", o.stderr);
        }
        o
    };

    // A path that is not valid here; a URL that is no machine.
    let absent = "/nix/store/ffffffffffffffffffffffffffffffff-absent";
    fails(
        &mut p.copy_cmd(&["--to", url, absent]),
        &[&format!("path '{absent}' is not valid in this store")],
    );
    fails(
        &mut p.copy_cmd(&["--to", "http://machine-b", &top]),
        &["cannot copy to 'http://machine-b': strata writes binary caches to file:///DIR"],
    );
    fails(
        &mut p.copy_cmd(&["--to", "ssh://-oProxyCommand=x", &top]),
        &["is not a host name"],
    );

    // Unreachable: what ssh says is passed on.
    fails(
        p.copy_cmd(&["--to", url, &top])
            .env("FAKE_SSH_MODE", "unreachable"),
        &[&format!(
            "cannot reach {url}: ssh: connect to host machine-b port 2222: Connection refused"
        )],
    );
    // And with the host's own OpenSSH client, to a closed port on this machine.
    let real = fails(
        p.copy_cmd(&["--to", "ssh://127.0.0.1:1", &top])
            .env("STRATA_SSH", "ssh")
            .env(
                "STRATA_SSHOPTS",
                "-F /dev/null -o BatchMode=yes -o ConnectTimeout=5",
            ),
        &["cannot reach ssh://127.0.0.1:1: "],
    );
    assert!(real.stderr.contains("port 1"), "{}", real.stderr);
    fails(
        p.copy_cmd(&["--to", url, &top])
            .env("STRATA_SSHOPTS", "-o 'unclosed"),
        &["$STRATA_SSHOPTS cannot be split into ssh options: a single quote is not closed"],
    );

    // No strata on the remote PATH (nor where a strata machine keeps it); then pointed at it.
    let no_strata = || {
        let mut c = p.copy_cmd(&["--to", url, &leaves[0]]);
        c.env("FAKE_SSH_PATH", "/usr/bin:/bin");
        c
    };
    fails(
        &mut no_strata(),
        &[&format!("strata not found on {url} (tried `strata` and `/run/current-system/strata/bin/strata`); pass --remote-program")],
    );
    let real_strata = d.join("bin/strata");
    fails(
        no_strata().args(["--remote-program", "/nowhere/strata"]),
        &[&format!(
            "strata not found on {url} (tried `/nowhere/strata`)"
        )],
    );
    let r: serde_json::Value = serde_json::from_slice(
        &run(
            no_strata().args(["--remote-program", real_strata.to_str().unwrap(), "--json"]),
            None,
        )
        .ok()
        .stdout,
    )
    .unwrap();
    assert_eq!(n(&r["sent"]), 1);
    assert!(p.log().last().unwrap().contains(&format!(
        "-- machine-b {} --store-dir",
        real_strata.display()
    )));

    // A remote that answers garbage: nothing is sent, nothing changes there.
    let liar = d.join("liar");
    let liar = liar.to_str().unwrap();
    let before = snapshot(&p.b());
    fails(
        p.copy_cmd(&["--to", url, &top, "--remote-program", liar])
            .env("FAKE_LIE", "not-a-path"),
        &[&format!("{url} answered `strata store missing` with something else than asked: line 1: \"hello\" is not a store path")],
    );
    fails(
        p.copy_cmd(&["--to", url, &leaves[1], "--remote-program", liar])
            .env("FAKE_LIE", "unasked")
            .env("FAKE_OTHER", &top),
        &[&format!("'{top}' was not asked about")],
    );
    assert_eq!(snapshot(&p.b()), before);

    // A remote whose stream is more than asked for: refused whole, this store as it was.
    let q = Pair::new();
    let (qleaves, qtop) = closure(&q.b(), 6, 3, 4096);
    let liar = q.dir.path().join("liar");
    let liar = liar.to_str().unwrap();
    let before = snapshot(&q.a());
    fails(
        q.copy_cmd(&["--from", url, &qtop, "--remote-program", liar])
            .env("FAKE_LIE", "trailing"),
        &[&format!("the stream from {url} was refused, nothing was imported: malformed export stream at byte "), "trailing data"],
    );
    fails(
        q.copy_cmd(&["--from", url, &qleaves[0], "--remote-program", liar])
            .env("FAKE_LIE", "other")
            .env("FAKE_OTHER", &qleaves[1]),
        &[&format!("path '{}' was not asked for", qleaves[1])],
    );
    assert_eq!(snapshot(&q.a()), before);
    // A path the remote store does not have.
    fails(
        &mut q.copy_cmd(&["--from", url, absent]),
        &[&format!(
            "`strata store closure --stdin` failed on {url} (exit status 1): path '{absent}' is \
             not valid in the store"
        )],
    );
}

/// The size of `data` compressed by `gzip -6`.
fn gzip_size(data: &[u8]) -> usize {
    run(Command::new("gzip").args(["-6", "-c"]), Some(data))
        .ok()
        .stdout
        .len()
}
