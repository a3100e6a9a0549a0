//! Realising graphs of derivations with the scheduler, busybox as the only tool.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use strata_builder::scheduler::{realise_all, Progress, SchedulerError, SchedulerOptions};
use strata_store::StorePath;

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

/// What the progress callback saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Skipped(StorePath),
    Started(StorePath),
    Finished(StorePath),
    Failed(StorePath),
    DependencyFailed(StorePath),
}

type Events = Arc<Mutex<Vec<Ev>>>;

/// Each target's outputs by name.
type Built = BTreeMap<StorePath, BTreeMap<String, StorePath>>;

fn env() -> Env {
    Env(harness())
}

impl Env {
    /// Writes a derivation with one output `out` running `script` with busybox sh; the
    /// `out` output of input `i` is in `$in<i>`.
    fn drv(&mut self, name: &str, script: &str, inputs: &[&StorePath]) -> StorePath {
        let input_drvs: Vec<(&StorePath, &str)> = inputs.iter().map(|p| (*p, "out")).collect();
        let env = inputs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    format!("in{i}"),
                    self.drvs[&self.store.print(p)].outputs["out"].path.clone(),
                )
            })
            .collect();
        self.write_drv(DrvSpec {
            name,
            script,
            outputs: &["out"],
            input_drvs: &input_drvs,
            env,
            ..Default::default()
        })
        .0
    }

    fn out(&self, drv: &StorePath) -> StorePath {
        let d = &self.drvs[&self.store.print(drv)];
        self.store.parse_path(&d.outputs["out"].path).unwrap()
    }

    fn valid(&self, drv: &StorePath) -> bool {
        self.store.is_valid(&self.out(drv)).unwrap()
    }

    fn read(&self, drv: &StorePath) -> String {
        std::fs::read_to_string(self.store.real_path(&self.out(drv))).unwrap()
    }

    fn realise(
        &self,
        targets: &[&StorePath],
        jobs: usize,
        keep_going: bool,
    ) -> (Result<Built, SchedulerError>, Vec<Ev>) {
        let events: Events = Arc::default();
        let ev = Arc::clone(&events);
        let opts = SchedulerOptions {
            jobs,
            keep_going,
            progress: Some(Arc::new(move |p: &Progress<'_>| {
                let e = match p {
                    Progress::Skipped { drv } => Ev::Skipped((*drv).clone()),
                    Progress::Started { drv } => Ev::Started((*drv).clone()),
                    Progress::Finished { drv, .. } => Ev::Finished((*drv).clone()),
                    Progress::Failed { drv, .. } => Ev::Failed((*drv).clone()),
                    Progress::DependencyFailed { drv, .. } => Ev::DependencyFailed((*drv).clone()),
                };
                ev.lock().unwrap().push(e);
            })),
            ..Default::default()
        };
        let targets: Vec<StorePath> = targets.iter().map(|t| (*t).clone()).collect();
        let r = realise_all(&self.root, self.store.store_dir(), &targets, &opts);
        let events = events.lock().unwrap().clone();
        (r, events)
    }
}

fn pos(events: &[Ev], e: &Ev) -> usize {
    let found: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, x)| *x == e)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "{e:?} must occur once in {events:#?}");
    found[0]
}

/// A <- B, A <- C, B,C <- D; each output holds its inputs' contents and its own name.
fn diamond(e: &mut Env) -> [StorePath; 4] {
    let a = e.drv("a", "echo A > $out", &[]);
    let b = e.drv("b", "{ cat $in0; echo B; } > $out", &[&a]);
    let c = e.drv("c", "{ cat $in0; echo C; } > $out", &[&a]);
    let d = e.drv("d", "{ cat $in0 $in1; echo D; } > $out", &[&b, &c]);
    [a, b, c, d]
}

#[test]
fn diamond_builds_each_once_in_dependency_order() {
    let mut e = env();
    let [a, b, c, d] = diamond(&mut e);
    let (r, ev) = e.realise(&[&d], 2, false);
    let outs = r.unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[&d]["out"], e.out(&d));
    assert_eq!(e.read(&d), "A\nB\nA\nC\nD\n");
    for x in [&a, &b, &c, &d] {
        assert!(pos(&ev, &Ev::Started(x.clone())) < pos(&ev, &Ev::Finished(x.clone())));
    }
    for (dep, user) in [(&a, &b), (&a, &c), (&b, &d), (&c, &d)] {
        assert!(
            pos(&ev, &Ev::Finished(dep.clone())) < pos(&ev, &Ev::Started(user.clone())),
            "{dep} must be built before {user}: {ev:#?}"
        );
    }
    assert_eq!(ev.len(), 8, "{ev:#?}");
}

#[test]
fn second_run_starts_nothing() {
    let mut e = env();
    let [a, b, c, d] = diamond(&mut e);
    // A valid input is skipped, the rest is built.
    let (r, ev) = e.realise(&[&a], 1, false);
    r.unwrap();
    assert_eq!(ev, [Ev::Started(a.clone()), Ev::Finished(a.clone())]);
    let (r, ev) = e.realise(&[&d], 0, false);
    let first = r.unwrap();
    assert!(ev.contains(&Ev::Skipped(a.clone())), "{ev:#?}");
    assert!(!ev.contains(&Ev::Started(a.clone())), "{ev:#?}");
    for x in [&b, &c, &d] {
        assert!(ev.contains(&Ev::Finished(x.clone())), "{ev:#?}");
    }
    let (r, ev) = e.realise(&[&d, &b], 0, false);
    let second = r.unwrap();
    assert_eq!(second[&d], first[&d]);
    assert_eq!(second[&b]["out"], e.out(&b));
    assert!(!ev.is_empty());
    assert!(
        ev.iter().all(|x| matches!(x, Ev::Skipped(_))),
        "only skips expected: {ev:#?}"
    );
}

/// The interval (from /proc/uptime, shared by all sandboxes of the machine) a build ran in.
fn interval(e: &Env, drv: &StorePath) -> (f64, f64) {
    let text = e.read(drv);
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(v.len(), 2, "{text}");
    (v[0], v[1])
}

fn sleeper(e: &mut Env, name: &str) -> StorePath {
    e.drv(
        name,
        "read s rest < /proc/uptime; sleep 1; read t rest < /proc/uptime; echo $s $t > $out",
        &[],
    )
}

#[test]
fn independent_builds_run_in_parallel() {
    let mut e = env();
    let x = sleeper(&mut e, "par-x");
    let y = sleeper(&mut e, "par-y");
    let (r, _) = e.realise(&[&x, &y], 2, false);
    r.unwrap_or_else(|err| panic!("{err}"));
    let (s1, e1) = interval(&e, &x);
    let (s2, e2) = interval(&e, &y);
    assert!(
        s1.max(s2) < e1.min(e2),
        "with 2 jobs the builds must overlap: {s1}..{e1} and {s2}..{e2}"
    );
}

#[test]
fn one_job_builds_sequentially() {
    let mut e = env();
    let x = sleeper(&mut e, "seq-x");
    let y = sleeper(&mut e, "seq-y");
    let (r, ev) = e.realise(&[&x, &y], 1, false);
    r.unwrap_or_else(|err| panic!("{err}"));
    let (s1, e1) = interval(&e, &x);
    let (s2, e2) = interval(&e, &y);
    assert!(
        e1 <= s2 || e2 <= s1,
        "with 1 job the builds must not overlap: {s1}..{e1} and {s2}..{e2}"
    );
    let (first, second) = if s1 < s2 { (&x, &y) } else { (&y, &x) };
    assert!(pos(&ev, &Ev::Finished(first.clone())) < pos(&ev, &Ev::Started(second.clone())));
}

#[test]
fn failure_stops_dependents() {
    let mut e = env();
    let bad = e.drv(
        "bad",
        "echo about to fail; echo the-reason >&2; exit 3",
        &[],
    );
    let user = e.drv("user", "cat $in0 > $out", &[&bad]);
    let sibling = e.drv("sibling", "echo ok > $out", &[]);
    let top = e.drv("top", "cat $in0 $in1 > $out", &[&user, &sibling]);
    let (r, ev) = e.realise(&[&top], 1, false);
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, SchedulerError::BuildsFailed { failures, .. } if failures.len() == 1),
        "{msg}"
    );
    assert!(msg.contains(&e.store.print(&bad)), "{msg}");
    assert!(msg.contains("exit code 3"), "{msg}");
    assert!(msg.contains("the-reason"), "the log tail is shown: {msg}");
    assert!(!e.valid(&bad) && !e.valid(&user) && !e.valid(&top));
    for x in [&user, &top] {
        assert!(!ev.contains(&Ev::Started(x.clone())), "{ev:#?}");
    }
    assert!(ev.contains(&Ev::Failed(bad.clone())), "{ev:#?}");
    // The sibling may or may not have been built before the failure.

    // With keep_going everything not depending on a failure is built, and every failure
    // is reported.
    let bad2 = e.drv("bad2", "exit 4", &[]);
    let top2 = e.drv(
        "top2",
        "cat $in0 $in1 $in2 > $out",
        &[&user, &sibling, &bad2],
    );
    let other = e.drv("other", "echo other > $out", &[]);
    let (r, ev) = e.realise(&[&top2, &other], 1, true);
    let err = r.unwrap_err();
    let msg = err.to_string();
    let SchedulerError::BuildsFailed {
        failures,
        not_built,
    } = &err
    else {
        panic!("{msg}");
    };
    assert_eq!(failures.len(), 2, "{msg}");
    assert_eq!(*not_built, 2, "user and top2: {msg}");
    assert!(
        msg.contains("exit code 3") && msg.contains("exit code 4"),
        "{msg}"
    );
    assert!(e.valid(&sibling) && e.valid(&other));
    assert_eq!(e.read(&sibling), "ok\n");
    assert!(!e.valid(&user) && !e.valid(&top2));
    for x in [&user, &top2] {
        assert!(!ev.contains(&Ev::Started(x.clone())), "{ev:#?}");
        assert!(ev.contains(&Ev::DependencyFailed(x.clone())), "{ev:#?}");
    }
}

#[test]
fn bad_targets_are_refused() {
    let mut e = env();
    let text = e
        .store
        .add_text("plain.drv", b"not a derivation", &BTreeSet::new())
        .unwrap()
        .path;
    let (r, ev) = e.realise(&[&text], 1, false);
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("cannot read derivation"), "{msg}");
    assert!(ev.is_empty());
    let a = e.drv("a", "echo A > $out", &[]);
    let missing: StorePath = StorePath::from_base_name(&format!(
        "{}-missing.drv",
        &a.hash_part().chars().rev().collect::<String>()
    ))
    .unwrap();
    let (r, _) = e.realise(&[&a, &missing], 1, false);
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("not valid"), "{msg}");
    assert!(!e.valid(&a), "nothing runs when the graph cannot be read");
}
