//! Realising a whole graph of derivations: reading the closure of the targets' `.drv` files,
//! skipping what is valid already, and running [`build::realise`] in dependency order on up
//! to `jobs` worker threads.
//!
//! The graph is read on the calling thread from one store handle. A derivation whose outputs
//! are all valid is skipped without looking at its inputs (as Nix does: its dependencies are
//! not needed); so is one whose outputs the binary caches have, asked a level of the graph at a
//! time, in parallel, and fetched together before any build starts ([`plan`]). The rest are
//! built by a pool of worker threads, each with its own [`LocalStore`] handle on the same root
//! (a handle is not `Sync`; several handles on one root are safe). The calling thread hands
//! out a build only when all its input derivations are realised and fewer than `jobs` builds
//! are running, so the order is always a dependency order. A failure stops the handing out of
//! new builds (running ones finish) unless `keep_going` is set, in which case everything that
//! does not depend on a failure is built; dependents of a failed build are never started.

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
    /// Binary caches asked for the graph's missing outputs before anything is built; outputs
    /// they give (with their runtime closures, signed by a trusted key) make the build, and
    /// everything only the build needed, unnecessary, and the derivation is reported as
    /// skipped.
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

/// The derivations that have to be built, and the outputs of every derivation read.
struct Plan {
    nodes: Vec<Node>,
    all_outputs: BTreeMap<StorePath, BTreeMap<String, StorePath>>,
}

/// Decides what to build, and substitutes what the caches have first.
///
/// The graph is walked from the targets a level at a time. A derivation whose outputs are
/// valid is skipped without reading its inputs. The missing outputs of a whole level are asked
/// of the caches at once, in parallel ([`Substituter::query`]); a derivation whose missing
/// outputs are all there is substituted and, as for a valid one, its inputs are not read:
/// what only its build needed is neither fetched nor built (Nix's rule: a substituted path
/// brings its runtime closure, nothing else). The rest are built, and their inputs make the
/// next level. Everything offered is then fetched in one batch. A derivation whose
/// substitution failed after all (a NAR refused, a cache gone) is built instead, and its
/// inputs walked in the same way; the caches' answers are kept for the run, so no path is
/// asked twice.
fn plan(
    store: &mut LocalStore,
    targets: &[StorePath],
    opts: &SchedulerOptions,
    report: &dyn Fn(Progress<'_>),
) -> Result<Plan, SchedulerError> {
    let store_dir = store.store_dir().clone();
    let on_event = |e: strata_store::cache::Event<'_>| {
        if let Some(f) = &opts.on_substitute {
            f(&e);
        }
    };
    let mut read: BTreeMap<StorePath, Derivation> = BTreeMap::new();
    let mut all_outputs: BTreeMap<StorePath, BTreeMap<String, StorePath>> = BTreeMap::new();
    let mut valid: BTreeSet<StorePath> = BTreeSet::new();
    let mut to_build: Vec<StorePath> = Vec::new();
    let mut building: BTreeSet<StorePath> = BTreeSet::new();
    // Derivations whose substitution failed: built whatever the caches say.
    let mut forced: BTreeSet<StorePath> = BTreeSet::new();
    let mut frontier: Vec<StorePath> = targets.to_vec();
    loop {
        // (derivation, its missing outputs) that the caches can give.
        let mut offered: Vec<(StorePath, Vec<StorePath>)> = Vec::new();
        let mut offered_set: BTreeSet<StorePath> = BTreeSet::new();
        let mut level = std::mem::take(&mut frontier);
        while !level.is_empty() {
            let mut fresh: Vec<(StorePath, Vec<StorePath>)> = Vec::new();
            let mut seen: BTreeSet<StorePath> = BTreeSet::new();
            for d in level {
                if valid.contains(&d)
                    || building.contains(&d)
                    || offered_set.contains(&d)
                    || !seen.insert(d.clone())
                {
                    continue;
                }
                if !read.contains_key(&d) {
                    let (drv, outputs) = read_drv(store, &d)?;
                    all_outputs.insert(d.clone(), outputs);
                    read.insert(d.clone(), drv);
                }
                let mut missing = Vec::new();
                for p in all_outputs[&d].values() {
                    if !store.is_valid(p)? {
                        missing.push(p.clone());
                    }
                }
                if missing.is_empty() {
                    report(Progress::Skipped { drv: &d });
                    valid.insert(d);
                } else {
                    fresh.push((d, missing));
                }
            }
            let have = match &opts.substituter {
                Some(sub) => {
                    let asked: Vec<StorePath> = fresh
                        .iter()
                        .filter(|(d, _)| !forced.contains(d))
                        .flat_map(|(_, m)| m.iter().cloned())
                        .collect();
                    query(sub, &asked, &on_event)
                }
                None => BTreeSet::new(),
            };
            let mut next = Vec::new();
            for (d, missing) in fresh {
                if !forced.contains(&d) && missing.iter().all(|p| have.contains(p)) {
                    offered_set.insert(d.clone());
                    offered.push((d, missing));
                    continue;
                }
                for input in read[&d].input_drvs.keys() {
                    next.push(store_dir.parse(input).map_err(|e| {
                        SchedulerError::BadDerivation {
                            drv: store_dir.display(&d),
                            problem: format!("input derivation '{input}': {e}"),
                        }
                    })?);
                }
                building.insert(d.clone());
                to_build.push(d);
            }
            level = next;
        }
        let Some(sub) = opts.substituter.as_ref().filter(|_| !offered.is_empty()) else {
            break;
        };
        let wanted: Vec<StorePath> = offered
            .iter()
            .flat_map(|(_, m)| m.iter().cloned())
            .collect();
        if let Err(e) = sub.substitute(store, &wanted, &on_event) {
            tracing::warn!("substitution failed, building instead: {e}");
        }
        for (d, missing) in offered {
            let mut all = true;
            for p in &missing {
                if !store.is_valid(p)? {
                    all = false;
                    break;
                }
            }
            if all {
                report(Progress::Skipped { drv: &d });
                valid.insert(d);
            } else {
                forced.insert(d.clone());
                frontier.push(d);
            }
        }
    }

    // The derivations to build, each waiting for those of its inputs that are built too.
    let index: BTreeMap<&StorePath, usize> =
        to_build.iter().enumerate().map(|(i, d)| (d, i)).collect();
    let mut nodes: Vec<Node> = Vec::with_capacity(to_build.len());
    for d in &to_build {
        let drv = read
            .get(d)
            .cloned()
            .ok_or_else(|| SchedulerError::BadDerivation {
                drv: store_dir.display(d),
                problem: "it was not read".into(),
            })?;
        let mut deps = BTreeSet::new();
        for input in drv.input_drvs.keys() {
            if let Some(&j) = store_dir.parse(input).ok().and_then(|p| index.get(&p)) {
                deps.insert(j);
            }
        }
        nodes.push(Node {
            path: d.clone(),
            outputs: all_outputs[d].clone(),
            drv,
            deps,
            dependents: Vec::new(),
        });
    }
    for i in 0..nodes.len() {
        let deps: Vec<usize> = nodes[i].deps.iter().copied().collect();
        for j in deps {
            nodes[j].dependents.push(i);
        }
    }
    Ok(Plan { nodes, all_outputs })
}

/// The paths of `asked` that some cache has (a cache's failure only means it has none).
fn query(
    sub: &Substituter,
    asked: &[StorePath],
    on_event: &(dyn Fn(strata_store::cache::Event<'_>) + Sync),
) -> BTreeSet<StorePath> {
    if asked.is_empty() {
        return BTreeSet::new();
    }
    match sub.query(asked, on_event) {
        Ok(found) => asked
            .iter()
            .zip(found)
            .filter(|(_, f)| *f)
            .map(|(p, _)| p.clone())
            .collect(),
        Err(e) => {
            tracing::warn!("cannot ask the binary caches, building instead: {e}");
            BTreeSet::new()
        }
    }
}

/// Realises the derivations `targets` (`.drv` store paths) and everything they need, and
/// returns each target's output paths by name. With a substituter, outputs the caches have
/// are fetched instead of built (see [`plan`]).
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
    let Plan {
        nodes,
        mut all_outputs,
    } = plan(&mut store, targets, opts, &report)?;
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
