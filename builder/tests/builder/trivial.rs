//! The trivial builders of `modules/pkgs/trivial.nix`, evaluated in read-write mode and
//! built in the sandbox with Debian's static busybox as the only tool.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use strata_builder::eval_io::StoreIo;
use strata_builder::scheduler::{realise_all, SchedulerError, SchedulerOptions};
use strata_lang::source::Span;
use strata_lang::{EvalConfig, Evaluator};
use strata_store::{LocalStore, StoreDir, StorePath};

const BUSYBOX: &str = "/bin/busybox";

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: LocalStore,
    busybox: String,
}

fn env() -> Env {
    assert!(
        Path::new(BUSYBOX).exists(),
        "the build tests need {BUSYBOX}: install Debian's busybox-static"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut store = LocalStore::open(&root, StoreDir::default()).unwrap();
    let tree = dir.path().join("busybox");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::copy(BUSYBOX, tree.join("bin/busybox")).unwrap();
    let info = store.add_path(&tree, Some("busybox")).unwrap();
    Env {
        _dir: dir,
        root,
        busybox: store.print(&info.path),
        store,
    }
}

fn trivial_nix() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules/pkgs/trivial.nix")
}

const SPAN: Span = Span {
    file: 0,
    start: 0,
    end: 0,
};

impl Env {
    /// Evaluates `body` (a list of derivations, with the builders in scope as `t`) in
    /// read-write mode and returns their `.drv` paths.
    fn eval(&self, body: &str) -> Result<Vec<StorePath>, String> {
        let store = LocalStore::open(&self.root, StoreDir::default()).unwrap();
        let mut ev = Evaluator::new(EvalConfig::default(), Rc::new(StoreIo::new(store)));
        ev.set_trace_sink(Box::new(|_| {}));
        ev.reset_stack_base();
        let expr = format!(
            "let t = import {} {{ busybox = builtins.storePath \"{}\"; }}; in \
             map (d: d.drvPath) ({body})",
            trivial_nix().display(),
            self.busybox
        );
        let v = ev
            .eval_string(&expr)
            .and_then(|v| ev.deep_force(&v, SPAN))
            .map_err(|e| e.render(&ev.sources))?;
        let mut out = Vec::new();
        strata_lang::print::to_json(&mut ev, &v, SPAN, &mut out, &mut Default::default())
            .map_err(|e| e.render(&ev.sources))?;
        let paths: Vec<String> = serde_json::from_slice(&out).unwrap();
        Ok(paths
            .iter()
            .map(|p| self.store.store_dir().parse(p).unwrap())
            .collect())
    }

    fn must_eval(&self, body: &str) -> Vec<StorePath> {
        self.eval(body).unwrap_or_else(|e| panic!("{e}"))
    }

    fn build(&self, drvs: &[StorePath]) -> Result<Vec<StorePath>, SchedulerError> {
        let built = realise_all(
            &self.root,
            self.store.store_dir(),
            drvs,
            &SchedulerOptions::default(),
        )?;
        Ok(drvs.iter().map(|d| built[d]["out"].clone()).collect())
    }

    fn must_build(&self, body: &str) -> Vec<StorePath> {
        let drvs = self.must_eval(body);
        self.build(&drvs).unwrap_or_else(|e| panic!("{e}"))
    }

    fn real(&self, p: &StorePath, sub: &str) -> PathBuf {
        let real = self.store.real_path(p);
        if sub.is_empty() {
            real
        } else {
            real.join(sub)
        }
    }

    fn read(&self, p: &StorePath, sub: &str) -> String {
        std::fs::read_to_string(self.real(p, sub)).unwrap()
    }

    fn mode(&self, p: &StorePath, sub: &str) -> u32 {
        std::fs::symlink_metadata(self.real(p, sub))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    fn references(&self, p: &StorePath) -> Vec<String> {
        let info = self.store.path_info(p).unwrap().unwrap();
        info.references
            .iter()
            .map(|r| self.store.print(r))
            .collect()
    }
}

#[test]
fn write_text_is_reproducible() {
    let e = env();
    let body = r#"[ (t.writeText "hello.txt" "hello, world\n") ]"#;
    let drvs = e.must_eval(body);
    assert_eq!(
        e.must_eval(body),
        drvs,
        "evaluating twice gives one drvPath"
    );
    let out = e.build(&drvs).unwrap();
    assert!(e.store.print(&out[0]).ends_with("-hello.txt"));
    assert_eq!(e.read(&out[0], ""), "hello, world\n");
    assert_eq!(e.mode(&out[0], ""), 0o444);
    assert!(e.references(&out[0]).is_empty());
    let hash = e.store.path_info(&out[0]).unwrap().unwrap().nar_hash;

    // A fresh store builds the same path with the same contents.
    let f = env();
    assert_eq!(f.busybox, e.busybox);
    let drvs2 = f.must_eval(body);
    assert_eq!(drvs2, drvs);
    let out2 = f.build(&drvs2).unwrap();
    assert_eq!(out2, out);
    assert_eq!(f.store.path_info(&out2[0]).unwrap().unwrap().nar_hash, hash);
}

#[test]
fn scripts_are_executable() {
    let e = env();
    let out = e.must_build(
        r#"[
          (t.writeScript "script" "echo hi\n")
          (t.writeShellScript "shell-script" "echo hi")
          (t.writeTextFile { name = "exe"; text = "x"; executable = true; destination = "/libexec/x"; })
          (t.writeTextFile { name = "plain"; text = "y"; destination = "/share/y"; })
        ]"#,
    );
    assert_eq!(e.read(&out[0], ""), "echo hi\n");
    assert_eq!(e.mode(&out[0], ""), 0o555);
    let script = e.read(&out[1], "");
    assert!(
        script.starts_with("#!/nix/store/") && script.contains("-busybox-shell/bin/sh\necho hi"),
        "{script}"
    );
    assert_eq!(e.mode(&out[1], ""), 0o555);
    // The shebang's shell is a reference.
    let refs = e.references(&out[1]);
    assert_eq!(refs.len(), 1);
    assert!(refs[0].ends_with("-busybox-shell"), "{refs:?}");
    assert_eq!(e.mode(&out[2], "libexec/x"), 0o555);
    assert_eq!(e.read(&out[3], "share/y"), "y");
    assert_eq!(e.mode(&out[3], "share/y"), 0o444);
    assert_eq!(e.mode(&out[3], "share"), 0o555);
}

#[test]
fn destination_must_be_absolute() {
    let e = env();
    let err = e
        .eval(r#"[ (t.writeTextFile { name = "x"; text = ""; destination = "bin/x"; }) ]"#)
        .unwrap_err();
    assert!(err.contains("must start with '/'"), "{err}");
}

#[test]
fn shell_script_bin_runs() {
    let e = env();
    let out = e.must_build(
        r#"let
             greet = t.writeShellScriptBin "greet" ''
               echo "hello from $0 to $1"
             '';
           in [
             greet
             (t.runCommand "use-greet" { } "${greet}/bin/greet you > $out")
           ]"#,
    );
    let bin = e.store.print(&out[0]);
    assert_eq!(e.mode(&out[0], "bin/greet"), 0o555);
    assert_eq!(
        e.read(&out[1], ""),
        format!("hello from {bin}/bin/greet to you\n")
    );
    // The output names the script (through $0), and only that.
    assert_eq!(e.references(&out[1]), vec![bin]);
}

#[test]
fn run_command_environment() {
    let e = env();
    let out = e.must_build(
        r#"[ (t.runCommand "env-test" { FOO = "bar"; n = 3; flag = true; list = [ "a" "b" ]; } ''
             mkdir $out
             echo "$FOO $n $flag $list" > $out/vars
             # The script reaches the builder as a file, not in the environment.
             echo "''${buildCommand-unset} $(cat "$buildCommandPath" | head -n 1)" > $out/cmd
             # Applets are on PATH.
             ls / | sort | tr '\n' ' ' > $out/ls
           '') ]"#,
    );
    assert_eq!(e.read(&out[0], "vars"), "bar 3 1 a b\n");
    assert_eq!(e.read(&out[0], "cmd"), "unset mkdir $out\n");
    assert_eq!(e.read(&out[0], "ls"), "build dev etc nix proc tmp ");

    // A failing command fails the build (`sh -e`).
    let drvs = e.must_eval(r#"[ (t.runCommand "fails" { } "false; mkdir $out") ]"#);
    let err = e.build(&drvs).unwrap_err().to_string();
    assert!(err.contains("failed with exit code 1"), "{err}");
}

#[test]
fn symlink_join_links_into_the_right_paths() {
    let e = env();
    let out = e.must_build(
        r#"let
             a = t.writeTextFile { name = "a"; text = "A"; destination = "/share/doc/a"; };
             b = t.writeTextFile { name = "b"; text = "B"; destination = "/share/doc/b"; };
             b2 = t.writeTextFile { name = "b2"; text = "B2"; destination = "/share/doc/b"; };
           in [ a b (t.symlinkJoin { name = "joined"; paths = [ a b b2 ]; }) ]"#,
    );
    let (a, b, joined) = (&out[0], &out[1], &out[2]);
    let link = |sub: &str| std::fs::read_link(e.real(joined, sub)).unwrap();
    assert_eq!(
        link("share/doc/a"),
        PathBuf::from(format!("{}/share/doc/a", e.store.print(a)))
    );
    // The first path with a file wins.
    assert_eq!(
        link("share/doc/b"),
        PathBuf::from(format!("{}/share/doc/b", e.store.print(b)))
    );
    assert!(e.real(joined, "share/doc").is_dir());
    assert!(!e.real(joined, "share").is_symlink());
    let mut want = vec![e.store.print(a), e.store.print(b)];
    want.sort();
    assert_eq!(e.references(joined), want);
}

#[test]
fn build_env_links_and_detects_collisions() {
    let e = env();
    let prelude = r#"let
             a = t.writeTextFile { name = "a"; text = "A"; destination = "/bin/x"; };
             a2 = t.writeTextFile { name = "a2"; text = "A"; destination = "/bin/x"; };
             b = t.writeTextFile { name = "b"; text = "B"; destination = "/bin/x"; };
             c = t.writeTextFile { name = "c"; text = "C"; destination = "/share/c"; };
           in "#;
    let out = e.must_build(&format!(
        r#"{prelude} [ a c
             (t.buildEnv {{ name = "env"; paths = [ a a2 c ]; }})
             (t.buildEnv {{ name = "bin-only"; paths = [ a c ]; pathsToLink = [ "/bin" ]; }})
             (t.buildEnv {{ name = "ignored"; paths = [ a b ]; ignoreCollisions = true; }})
           ]"#
    ));
    let (a, c) = (e.store.print(&out[0]), e.store.print(&out[1]));
    let link = |p: &StorePath, sub: &str| std::fs::read_link(e.real(p, sub)).unwrap();
    // Files with equal contents are no collision.
    assert_eq!(link(&out[2], "bin/x"), PathBuf::from(format!("{a}/bin/x")));
    assert_eq!(
        link(&out[2], "share/c"),
        PathBuf::from(format!("{c}/share/c"))
    );
    assert_eq!(e.references(&out[2]), vec![a.clone(), c.clone()]);
    assert_eq!(link(&out[3], "bin/x"), PathBuf::from(format!("{a}/bin/x")));
    assert!(!e.real(&out[3], "share").exists());
    assert_eq!(link(&out[4], "bin/x"), PathBuf::from(format!("{a}/bin/x")));

    let drvs = e.must_eval(&format!(
        r#"{prelude} [ b (t.buildEnv {{ name = "clash"; paths = [ a b ]; }}) ]"#
    ));
    let err = e.build(&drvs).unwrap_err().to_string();
    let b = e.store.print(&e.build(&drvs[..1]).unwrap()[0]);
    assert!(
        err.contains(&format!("collision between '{a}/bin/x' and '{b}/bin/x'")),
        "{err}"
    );
}

#[test]
fn text_with_a_store_path_gets_the_reference() {
    let e = env();
    let out = e.must_build(
        r#"let dep = t.writeText "dep" "x"; in
           [ dep (t.writeText "user" "uses ${dep}\n") (t.writeText "plain" "uses nothing") ]"#,
    );
    let dep = e.store.print(&out[0]);
    assert_eq!(e.read(&out[1], ""), format!("uses {dep}\n"));
    assert_eq!(e.references(&out[1]), vec![dep]);
    assert!(e.references(&out[2]).is_empty());
}
