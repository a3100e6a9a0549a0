//! What the sandbox and scheduler tests share: a store holding Debian's static busybox, and
//! derivations written the way the evaluator writes them.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use strata_builder::eval_io::FsIo;
use strata_lang::Evaluator;

use strata_store::derivation::{Derivation, Output};
use strata_store::{Hash, LocalStore, StoreDir, StorePath};

const BUSYBOX: &str = "/bin/busybox";

/// Runs `f` with an evaluator (reading the host, traces silenced) on the evaluation thread
/// ([`strata_builder::eval_thread`]).
pub fn on_eval_thread<T: Send + 'static>(
    f: impl FnOnce(&mut Evaluator) -> T + Send + 'static,
) -> T {
    strata_builder::eval_thread::run("eval", move || {
        let cfg = strata_builder::eval_thread::eval_config();
        let mut ev = Evaluator::new(cfg, Rc::new(FsIo::new(StoreDir::default())));
        ev.set_trace_sink(Box::new(|_| {}));
        ev.reset_stack_base();
        f(&mut ev)
    })
    .expect("evaluation thread")
}

/// A fresh store with busybox in it, and the derivations written so far.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub store: LocalStore,
    /// `<busybox store path>/bin/busybox`: busybox picks its applet from argv[0]'s base name
    /// (the builder's path), so it lives at `bin/busybox`.
    pub busybox: String,
    pub busybox_path: String,
    pub drvs: HashMap<String, Derivation>,
}

/// What a test derivation is made of.
#[derive(Default)]
pub struct DrvSpec<'a> {
    pub name: &'a str,
    pub script: &'a str,
    pub outputs: &'a [&'a str],
    pub input_drvs: &'a [(&'a StorePath, &'a str)],
    /// Store paths the builder reads (input sources), besides busybox.
    pub input_srcs: &'a [&'a StorePath],
    pub env: Vec<(String, String)>,
    /// `(mode, hash)` for a fixed output: mode `flat` or `recursive`.
    pub fixed: Option<(&'a str, Hash)>,
}

pub fn harness() -> Harness {
    assert!(
        Path::new(BUSYBOX).exists(),
        "the build tests need {BUSYBOX}: install Debian's busybox-static"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut store = LocalStore::open(&root, StoreDir::new("/nix/store").unwrap()).unwrap();
    let tree = dir.path().join("busybox");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::copy(BUSYBOX, tree.join("bin/busybox")).unwrap();
    let info = store.add_path(&tree, Some("busybox")).unwrap();
    let busybox_path = store.print(&info.path);
    Harness {
        dir,
        root,
        busybox: format!("{busybox_path}/bin/busybox"),
        busybox_path,
        store,
        drvs: HashMap::new(),
    }
}

impl Harness {
    /// Nix's hash modulo of a derivation written by this harness.
    pub fn drv_hash(&self, drv_path: &str) -> Hash {
        let d = &self.drvs[drv_path];
        d.hash_modulo(false, |p| Ok::<_, ()>(self.drv_hash(p)))
            .unwrap()
    }

    /// Writes a derivation running `spec.script` with busybox sh into the store, with its
    /// output paths computed as the evaluator computes them.
    pub fn write_drv(&mut self, spec: DrvSpec<'_>) -> (StorePath, Derivation) {
        let name = spec.name;
        let mut d = Derivation {
            system: "x86_64-linux".into(),
            builder: self.busybox.clone(),
            args: vec!["sh".into(), "-c".into(), spec.script.into()],
            ..Default::default()
        };
        d.input_srcs.insert(self.busybox_path.clone());
        for p in spec.input_srcs {
            d.input_srcs.insert(self.store.print(p));
        }
        for (p, o) in spec.input_drvs {
            d.input_drvs
                .entry(self.store.print(p))
                .or_default()
                .insert((*o).to_owned());
        }
        d.env.insert("name".into(), name.into());
        d.env.insert("builder".into(), self.busybox.clone());
        d.env.insert("system".into(), "x86_64-linux".into());
        for (k, v) in spec.env {
            d.env.insert(k, v);
        }
        let sd = self.store.store_dir().clone();
        if let Some((mode, hash)) = spec.fixed {
            let recursive = mode == "recursive";
            let p = sd.display(&sd.make_fixed_output_path(name, recursive, &hash).unwrap());
            d.env.insert("out".into(), p.clone());
            d.outputs.insert(
                "out".into(),
                Output {
                    path: p,
                    hash_algo: format!("{}{}", if recursive { "r:" } else { "" }, hash.algo()),
                    hash: hash.to_base16(),
                },
            );
        } else {
            for o in spec.outputs {
                d.env.insert((*o).into(), String::new());
                d.outputs.insert((*o).into(), Output::default());
            }
            let h = d
                .hash_modulo(true, |p| Ok::<_, ()>(self.drv_hash(p)))
                .unwrap();
            for o in spec.outputs {
                let p = sd.display(&sd.make_output_path(o, &h, name).unwrap());
                d.env.insert((*o).into(), p.clone());
                d.outputs.get_mut(*o).unwrap().path = p;
            }
        }
        let refs: BTreeSet<StorePath> = d
            .references()
            .iter()
            .map(|r| sd.parse(r).unwrap())
            .collect();
        let info = self
            .store
            .add_text(
                &format!("{name}.drv"),
                d.to_aterm(false, None).as_bytes(),
                &refs,
            )
            .unwrap();
        self.drvs.insert(self.store.print(&info.path), d.clone());
        (info.path, d)
    }
}
