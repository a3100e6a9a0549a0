//! The thread the evaluator runs on. Deep configurations recurse deeply, so every evaluation
//! (`strata build` and the commands built on it, `strata eval`, `strata eval-config`,
//! `strata options`, the tests) runs on a thread of its own with a big stack: [`run`] spawns
//! it and joins it, [`eval_stack`] says how big it is, and [`eval_config`] gives the
//! evaluator the matching stack limit.
//!
//! Must not: evaluate anything itself or choose the evaluator's I/O.

use std::io;

use strata_lang::EvalConfig;

/// How far before the end of its stack the evaluator stops with an error.
const STACK_MARGIN: usize = 64 << 20;

/// The evaluation thread could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum EvalThreadError {
    #[error("cannot start the evaluation thread: {0}")]
    Spawn(#[source] io::Error),
    #[error("the evaluator panicked")]
    Panicked,
}

/// The stack of the thread the evaluation runs on: 1 GiB, or a quarter of the memory on a
/// smaller machine, where the kernel would refuse to reserve 1 GiB at once (a 1 GiB virtual
/// machine has less than that to give).
pub fn eval_stack() -> usize {
    // SAFETY: sysconf only reads configuration values.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let memory =
        usize::try_from(pages.max(0)).unwrap_or(0) * usize::try_from(size.max(0)).unwrap_or(0);
    if memory == 0 {
        return 1 << 30;
    }
    (memory / 4).clamp(256 << 20, 1 << 30)
}

/// The evaluator's default configuration for a thread started by [`run`]: it stops with an
/// error 64 MiB before the end of the [`eval_stack`].
pub fn eval_config() -> EvalConfig {
    EvalConfig {
        max_stack: eval_stack() - STACK_MARGIN,
        ..EvalConfig::default()
    }
}

/// Runs `f` on a new thread called `name` with an [`eval_stack`]-sized stack and returns its
/// result. `f` may borrow from the caller: the thread is joined before `run` returns.
pub fn run<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, EvalThreadError> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(eval_stack())
            .spawn_scoped(s, f)
            .map_err(EvalThreadError::Spawn)?
            .join()
            .map_err(|_| EvalThreadError::Panicked)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_a_named_big_thread_and_reports_panics() {
        let local = String::from("borrowed");
        let got = run("eval-test", || {
            (
                std::thread::current().name().map(str::to_owned),
                local.len(),
            )
        })
        .unwrap();
        assert_eq!(got, (Some("eval-test".to_owned()), 8));
        assert!(eval_config().max_stack < eval_stack());
        let err = run("eval-test", || -> () { panic!("boom") }).unwrap_err();
        assert!(matches!(err, EvalThreadError::Panicked));
    }
}
