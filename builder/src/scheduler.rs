//! Realising a whole graph of derivations: reading the closure of the targets' `.drv` files,
//! skipping what is valid already, and running [`build::realise`] in dependency order on up
//! to `jobs` worker threads.
//!
//! The graph is read on the calling thread from one store handle. A derivation whose outputs
//! are all valid is skipped without looking at its inputs (as Nix does: its dependencies are
//! not needed). The rest are built by a pool of worker threads, each with its own
//! [`LocalStore`] handle on the same root (a handle is not `Sync`; several handles on one root
//! are safe). The calling thread hands out a build only when all its input derivations are
//! realised and fewer than `jobs` builds are running, so the order is always a dependency
//! order. A failure stops the handing out of new builds (running ones finish) unless
//! `keep_going` is set, in which case everything that does not depend on a failure is built;
//! dependents of a failed build are never started.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use strata_store::cache::Substituter;
use strata_store::derivation::Derivation;
use strata_store::{LocalStore, StoreDir, StoreError, StorePath};

use crate::build::{self, BuildError, BuildOptions};

/// What the scheduler reports while it works. Events are delivered on the calling thread.
#[derive(Debug)]
pub enum Progress<'a> {
    /// All outputs of the derivation were valid already; nothing ran.
    Skipped { drv: &'a StorePath },
    /// The derivation's build started.
    Started { drv: &'a StorePath },
    /// The derivation's build finished and its outputs are registered.
    Finished {
        drv: &'a StorePath,
        outputs: &'a BTreeMap<String, StorePath>,
    },
    /// The derivation's build failed.
    Failed {
        drv: &'a StorePath,
        error: &'a BuildError,
    },
    /// The derivation was not built because its input derivation `failed` failed (or was not
    /// built itself).
    DependencyFailed {
        drv: &'a StorePath,
        failed: &'a StorePath,
    },
}

/// A progress callback.
pub type ProgressFn = dyn Fn(&Progress<'_>) + Send + Sync;

/// How [`realise_all`] schedules builds.
#[derive(Clone, Default)]
pub struct SchedulerOptions {
    /// How many builds run at once; 0 means the number of CPUs.
    pub jobs: usize,
    /// Keep building what does not depend on a failed build (like Nix's `--keep-going`).
    pub keep_going: bool,
    /// Options for every build (`input_outputs` is filled in by the scheduler).
    pub build: BuildOptions,
    /// Called for every derivation that is skipped, started, finished or failed.
    pub progress: Option<Arc<ProgressFn>>,
    /// Binary caches asked for a derivation's outputs before it is built; outputs they give
    /// (with their closures, signed by a trusted key) make the build unnecessary, and the
    /// derivation is reported as skipped.
    pub substituter: Option<Arc<Substituter>>,
    /// Called for what the substituter does (downloads, caches skipped, refusals).
    pub on_substitute: Option<Arc<SubstituteFn>>,
}

/// A substitution progress callback.
pub type SubstituteFn = dyn Fn(&strata_store::cache::Event<'_>) + Send + Sync;

impl fmt::Debug for SchedulerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerOptions")
            .field("jobs", &self.jobs)
            .field("keep_going", &self.keep_going)
            .field("build", &self.build)
            .field("progress", &self.progress.as_ref().map(|_| "<callback>"))
            .field("substituter", &self.substituter)
            .finish()
    }
}

impl SchedulerOptions {
    /// The number of builds that may run at once.
    pub fn effective_jobs(&self) -> usize {
        if self.jobs > 0 {
            self.jobs
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// One failed build.
#[derive(Debug)]
pub struct BuildFailure {
    /// The `.drv` path, printed.
    pub drv: String,
    pub error: BuildError,
}

/// Everything that can go wrong while realising a graph.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read derivation '{drv}': {problem}")]
    BadDerivation { drv: String, problem: String },
    #[error("the derivations form a dependency cycle through '{drv}'")]
    Cycle { drv: String },
    #[error("{}", render_failures(failures, *not_built))]
    BuildsFailed {
        /// Every failed build, in the order they failed.
        failures: Vec<BuildFailure>,
        /// How many derivations were not built because a dependency failed or because the
        /// scheduler stopped after the first failure.
        not_built: usize,
    },
}

fn render_failures(failures: &[BuildFailure], not_built: usize) -> String {
    let mut s = String::new();
    if failures.len() > 1 {
        s.push_str(&format!("{} builds failed:\n", failures.len()));
    }
    for (i, f) in failures.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&format!("build of '{}' failed: {}", f.drv, f.error));
    }
    if not_built > 0 {
        s.push_str(&format!(
            "\n{not_built} other derivation{} not built",
            if not_built == 1 { " was" } else { "s were" }
        ));
    }
    s
}

/// A derivation of the graph.
struct Node {
    path: StorePath,
    drv: Derivation,
    outputs: BTreeMap<String, StorePath>,
    /// Input derivations that still have to be built (indices).
    deps: BTreeSet<usize>,
    /// Derivations that have this one among their `deps`.
    dependents: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
    Failed,
    /// Not built: a dependency failed (the index of the failed one) or the scheduler stopped.
    NotBuilt,
}

struct Job {
    index: usize,
    drv_path: StorePath,
    drv: Derivation,
    opts: BuildOptions,
}

type JobResult = (usize, Result<BTreeMap<String, StorePath>, BuildError>);

/// Reads and parses a `.drv` file; returns it with its output paths.
fn read_drv(
    store: &LocalStore,
    path: &StorePath,
) -> Result<(Derivation, BTreeMap<String, StorePath>), SchedulerError> {
    let name = store.print(path);
    let bad = |problem: String| SchedulerError::BadDerivation {
        drv: name.clone(),
        problem,
    };
    if !path.name().ends_with(".drv") {
        return Err(bad("not a derivation (.drv) path".to_owned()));
    }
    if !store.is_valid(path)? {
        return Err(bad("it is not valid in the store".to_owned()));
    }
    let text = fs::read_to_string(store.real_path(path)).map_err(|e| bad(e.to_string()))?;
    let drv = Derivation::parse(&text).map_err(|e| bad(e.to_string()))?;
    let mut outputs = BTreeMap::new();
    for (o, out) in &drv.outputs {
        let p = store
            .store_dir()
            .parse(&out.path)
            .map_err(|e| bad(format!("output '{o}': {e}")))?;
        outputs.insert(o.clone(), p);
    }
    if outputs.is_empty() {
        return Err(bad("it has no outputs".to_owned()));
    }
    Ok((drv, outputs))
}

/// Realises the derivations `targets` (`.drv` store paths) and everything they need, and
/// returns each target's output paths by name.
/// Asks the substituter for a derivation's missing outputs; whether all are valid after.
/// A cache that fails or whose paths are refused costs nothing but the build.
fn substitute_outputs(
    store: &mut LocalStore,
    sub: &Substituter,
    opts: &SchedulerOptions,
    outputs: &BTreeMap<String, StorePath>,
) -> Result<bool, SchedulerError> {
    let mut missing = Vec::new();
    for p in outputs.values() {
        if !store.is_valid(p)? {
            missing.push(p.clone());
        }
    }
    let on_event = |e: strata_store::cache::Event<'_>| {
        if let Some(f) = &opts.on_substitute {
            f(&e);
        }
    };
    if let Err(e) = sub.substitute(store, &missing, &on_event) {
        tracing::warn!("substitution failed, building instead: {e}");
        return Ok(false);
    }
    for p in outputs.values() {
        if !store.is_valid(p)? {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn realise_all(
    store_root: &Path,
    store_dir: &StoreDir,
    targets: &[StorePath],
    opts: &SchedulerOptions,
) -> Result<BTreeMap<StorePath, BTreeMap<String, StorePath>>, SchedulerError> {
    let report = |p: Progress<'_>| {
        if let Some(cb) = &opts.progress {
            cb(&p);
        }
    };
    let mut store = LocalStore::open(store_root, store_dir.clone())?;

    // Read the graph, pruned at derivations whose outputs are all valid.
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: BTreeMap<StorePath, usize> = BTreeMap::new();
    let mut all_outputs: BTreeMap<StorePath, BTreeMap<String, StorePath>> = BTreeMap::new();
    let mut skipped: BTreeSet<StorePath> = BTreeSet::new();
    // (derivation, the node that needs it)
    let mut queue: VecDeque<(StorePath, Option<usize>)> =
        targets.iter().map(|t| (t.clone(), None)).collect();
    while let Some((path, parent)) = queue.pop_front() {
        if let Some(&i) = index.get(&path) {
            if let Some(parent) = parent {
                nodes[parent].deps.insert(i);
                nodes[i].dependents.push(parent);
            }
            continue;
        }
        if skipped.contains(&path) {
            continue;
        }
        let (drv, outputs) = read_drv(&store, &path)?;
        let mut valid = true;
        for p in outputs.values() {
            if !store.is_valid(p)? {
                valid = false;
                break;
            }
        }
        if !valid {
            if let Some(sub) = &opts.substituter {
                valid = substitute_outputs(&mut store, sub, opts, &outputs)?;
            }
        }
        all_outputs.insert(path.clone(), outputs.clone());
        if valid {
            report(Progress::Skipped { drv: &path });
            skipped.insert(path);
            continue;
        }
        let i = nodes.len();
        for input in drv.input_drvs.keys() {
            let p = store_dir
                .parse(input)
                .map_err(|e| SchedulerError::BadDerivation {
                    drv: store.print(&path),
                    problem: format!("input derivation '{input}': {e}"),
                })?;
            queue.push_back((p, Some(i)));
        }
        if let Some(parent) = parent {
            nodes.push(Node {
                path: path.clone(),
                drv,
                outputs,
                deps: BTreeSet::new(),
                dependents: vec![parent],
            });
            nodes[parent].deps.insert(i);
        } else {
            nodes.push(Node {
                path: path.clone(),
                drv,
                outputs,
                deps: BTreeSet::new(),
                dependents: Vec::new(),
            });
        }
        index.insert(path, i);
    }
    drop(store);
    check_acyclic(&nodes, store_dir)?;

    let mut state = vec![State::Waiting; nodes.len()];
    let mut remaining: Vec<usize> = nodes.iter().map(|n| n.deps.len()).collect();
    let mut ready: VecDeque<usize> = (0..nodes.len()).filter(|&i| remaining[i] == 0).collect();
    let mut failures: Vec<BuildFailure> = Vec::new();
    let mut stopped = false;
    let jobs = opts.effective_jobs().max(1).min(nodes.len().max(1));

    if !nodes.is_empty() {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx) = mpsc::channel::<JobResult>();
        std::thread::scope(|s| {
            for _ in 0..jobs {
                let job_rx = Arc::clone(&job_rx);
                let res_tx = res_tx.clone();
                s.spawn(move || worker(store_root, store_dir, &job_rx, &res_tx));
            }
            drop(res_tx);
            let mut running = 0usize;
            loop {
                while !stopped && running < jobs {
                    let Some(i) = ready.pop_front() else { break };
                    let node = &nodes[i];
                    let mut bopts = opts.build.clone();
                    for input in node.drv.input_drvs.keys() {
                        if let Some(outs) = store_dir
                            .parse(input)
                            .ok()
                            .and_then(|p| all_outputs.get(&p))
                        {
                            bopts.input_outputs.insert(input.clone(), outs.clone());
                        }
                    }
                    state[i] = State::Running;
                    report(Progress::Started { drv: &node.path });
                    let job = Job {
                        index: i,
                        drv_path: node.path.clone(),
                        drv: node.drv.clone(),
                        opts: bopts,
                    };
                    if job_tx.send(job).is_err() {
                        // Every worker is gone (they only end when the channel closes).
                        state[i] = State::NotBuilt;
                        stopped = true;
                        break;
                    }
                    running += 1;
                }
                if running == 0 {
                    break;
                }
                let Ok((i, result)) = res_rx.recv() else {
                    break;
                };
                running -= 1;
                match result {
                    Ok(outputs) => {
                        state[i] = State::Done;
                        report(Progress::Finished {
                            drv: &nodes[i].path,
                            outputs: &outputs,
                        });
                        if outputs != nodes[i].outputs {
                            all_outputs.insert(nodes[i].path.clone(), outputs);
                        }
                        for &d in &nodes[i].dependents {
                            remaining[d] -= 1;
                            if remaining[d] == 0 && state[d] == State::Waiting {
                                ready.push_back(d);
                            }
                        }
                    }
                    Err(error) => {
                        state[i] = State::Failed;
                        report(Progress::Failed {
                            drv: &nodes[i].path,
                            error: &error,
                        });
                        // Every transitive dependent is never started.
                        let mut stack: Vec<usize> = nodes[i].dependents.clone();
                        while let Some(d) = stack.pop() {
                            if state[d] == State::Waiting {
                                state[d] = State::NotBuilt;
                                report(Progress::DependencyFailed {
                                    drv: &nodes[d].path,
                                    failed: &nodes[i].path,
                                });
                                stack.extend(nodes[d].dependents.iter().copied());
                            }
                        }
                        failures.push(BuildFailure {
                            drv: store_dir.display(&nodes[i].path),
                            error,
                        });
                        if !opts.keep_going {
                            stopped = true;
                        }
                    }
                }
            }
            drop(job_tx);
        });
    }

    let not_built = state
        .iter()
        .filter(|s| matches!(s, State::Waiting | State::NotBuilt))
        .count();
    if !failures.is_empty() {
        return Err(SchedulerError::BuildsFailed {
            failures,
            not_built,
        });
    }
    if let Some(i) = state.iter().position(|s| *s != State::Done) {
        // Cannot happen after the acyclicity check; never report success for it.
        return Err(SchedulerError::Cycle {
            drv: store_dir.display(&nodes[i].path),
        });
    }
    let mut result = BTreeMap::new();
    for t in targets {
        if let Some(outs) = all_outputs.get(t) {
            result.insert(t.clone(), outs.clone());
        }
    }
    Ok(result)
}

/// A worker thread: builds jobs with its own store handle until the job channel closes.
fn worker(
    store_root: &Path,
    store_dir: &StoreDir,
    jobs: &Mutex<mpsc::Receiver<Job>>,
    results: &mpsc::Sender<JobResult>,
) {
    let mut store: Option<LocalStore> = None;
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let s = match &mut store {
                Some(s) => s,
                None => store.insert(LocalStore::open(store_root, store_dir.clone())?),
            };
            build::realise(s, &job.drv_path, &job.drv, &job.opts)
        }))
        .unwrap_or_else(|_| {
            // Never leave the scheduler waiting for a result that will not come.
            store = None;
            Err(BuildError::Io {
                context: "the build thread panicked".to_owned(),
                source: std::io::Error::other("panic"),
            })
        });
        if results.send((job.index, result)).is_err() {
            return;
        }
    }
}

/// Refuses a graph with a cycle (impossible for derivations made by hashing, but a
/// hand-written store could hold one, and the scheduler would wait forever).
fn check_acyclic(nodes: &[Node], store_dir: &StoreDir) -> Result<(), SchedulerError> {
    let mut remaining: Vec<usize> = nodes.iter().map(|n| n.deps.len()).collect();
    let mut queue: Vec<usize> = (0..nodes.len()).filter(|&i| remaining[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop() {
        seen += 1;
        for &d in &nodes[i].dependents {
            remaining[d] -= 1;
            if remaining[d] == 0 {
                queue.push(d);
            }
        }
    }
    if seen == nodes.len() {
        return Ok(());
    }
    let i = remaining.iter().position(|&r| r > 0).unwrap_or(0);
    Err(SchedulerError::Cycle {
        drv: store_dir.display(&nodes[i].path),
    })
}
