//! Unit tests of the evaluator with an in-memory world.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use crate::error::ErrorKind;
use crate::io::{EvalIo, FileKind, IoError, PathFilter};
use crate::source::Span;
use crate::{EvalConfig, Evaluator};

/// Files in memory; store paths are refused (nothing here needs them).
#[derive(Default)]
struct MemIo {
    files: BTreeMap<String, Vec<u8>>,
}

impl EvalIo for MemIo {
    fn read_file(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.files
            .get(path.to_str().unwrap_or(""))
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn path_exists(&self, path: &Path) -> bool {
        self.files.contains_key(path.to_str().unwrap_or(""))
    }
    fn is_dir(&self, _: &Path) -> bool {
        false
    }
    fn read_dir(&self, _: &Path) -> std::io::Result<Vec<(String, FileKind)>> {
        Ok(Vec::new())
    }
    fn get_env(&self, _: &str) -> Option<String> {
        None
    }
    fn add_path(&self, _: &Path, _: &str, _: Option<PathFilter<'_>>) -> Result<String, IoError> {
        Err(IoError::Unavailable { what: "store" })
    }
    fn add_text(&self, _: &str, _: &[u8], _: &[String]) -> Result<String, IoError> {
        Err(IoError::Unavailable { what: "store" })
    }
    fn fetch(
        &self,
        _: &str,
        _: &str,
        _: bool,
        _: Option<&strata_store::Hash>,
    ) -> Result<String, IoError> {
        Err(IoError::Unavailable { what: "network" })
    }
    fn store_dir(&self) -> String {
        "/nix/store".into()
    }
}

const STACK: usize = 64 << 20;

/// Evaluates on a thread with a known stack, as the CLI does.
fn run<T: Send + 'static>(f: impl FnOnce(&mut Evaluator) -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let config = EvalConfig {
                max_stack: STACK - (8 << 20),
                ..EvalConfig::default()
            };
            let mut ev = Evaluator::new(config, Rc::new(MemIo::default()));
            ev.reset_stack_base();
            f(&mut ev)
        })
        .expect("thread")
        .join()
        .expect("evaluation thread panicked")
}

fn eval_print(src: &'static str) -> Result<String, String> {
    run(move |ev| {
        let span = Span {
            file: 0,
            start: 0,
            end: 0,
        };
        let v = ev.eval_string(src).map_err(|e| e.render(&ev.sources))?;
        let out =
            crate::print::print_value(ev, &v, true, span).map_err(|e| e.render(&ev.sources))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    })
}

#[test]
fn thunks_are_evaluated_at_most_once() {
    let count = run(|ev| {
        let n = Rc::new(RefCell::new(0));
        let n2 = n.clone();
        ev.set_trace_sink(Box::new(move |_| *n2.borrow_mut() += 1));
        let v = ev
            .eval_string("let x = builtins.trace \"forced\" 1; in [ x x (x + x) ]")
            .expect("eval");
        crate::print::print_value(
            ev,
            &v,
            true,
            Span {
                file: 0,
                start: 0,
                end: 0,
            },
        )
        .expect("print");
        let c = *n.borrow();
        c
    });
    assert_eq!(count, 1);
}

#[test]
fn laziness_skips_unused_errors() {
    assert_eq!(
        eval_print("let a = throw \"no\"; b = 2; in b").as_deref(),
        Ok("2")
    );
    assert_eq!(
        eval_print("let a = { x = 1; y = a.x + 1; }; in a.y").as_deref(),
        Ok("2")
    );
}

#[test]
fn infinite_recursion_is_reported() {
    let e = eval_print("let x = x + 1; in x").expect_err("must fail");
    assert!(e.contains("infinite recursion encountered"), "{e}");
}

#[test]
fn deep_recursion_is_an_error_not_a_crash() {
    let kind = run(|ev| {
        let r = ev.eval_string("let f = n: 1 + f (n + 1); in f 0");
        r.err().map(|e| e.kind.clone())
    });
    assert_eq!(kind, Some(ErrorKind::StackOverflow));
}

#[test]
fn every_syntax_error_is_reported_with_its_position() {
    let e = eval_print("{ a = ; b = 1 +; }").expect_err("must fail");
    assert!(e.matches("error: syntax error").count() >= 2, "{e}");
    assert!(e.contains("«string»:1:"), "{e}");
}

#[test]
fn errors_show_source_and_frames() {
    let e = eval_print("let f = { a }: a; in f { a = 1; b = 1; }").expect_err("must fail");
    assert!(e.contains("called with unexpected argument 'b'"), "{e}");
    assert!(e.contains("1| let f"), "{e}");
    assert!(e.contains("while calling"), "{e}");
}

#[test]
fn floats_print_like_cxx_streams() {
    use crate::print::{float_to_string, format_float};
    assert_eq!(format_float(0.1 + 0.2), "0.3");
    assert_eq!(format_float(2.0), "2");
    assert_eq!(format_float(1e10), "1e+10");
    assert_eq!(format_float(1.5e-7), "1.5e-07");
    assert_eq!(format_float(123456.7), "123457");
    assert_eq!(format_float(1234567.0), "1.23457e+06");
    assert_eq!(format_float(-0.0), "-0");
    assert_eq!(float_to_string(0.1), "0.100000");
}

#[test]
fn versions_compare_as_nix_does() {
    use crate::builtins::compare_versions_for_tests as cmp;
    assert_eq!(cmp("1.0", "2.3"), -1);
    assert_eq!(cmp("2.1", "2.3"), -1);
    assert_eq!(cmp("2.3", "2.3"), 0);
    assert_eq!(cmp("2.5", "2.3"), 1);
    assert_eq!(cmp("3.1", "2.3"), 1);
    assert_eq!(cmp("2.3.1", "2.3"), 1);
    assert_eq!(cmp("2.3.1", "2.3a"), 1);
    assert_eq!(cmp("2.3pre1", "2.3"), -1);
    assert_eq!(cmp("2.3", "2.3pre1"), 1);
}

#[test]
fn imports_read_through_the_io_trait() {
    let out = run(|ev| {
        let io = MemIo {
            files: [("/lib/a.nix".to_owned(), b"{ x = 40 + 2; }".to_vec())]
                .into_iter()
                .collect(),
        };
        let mut ev2 = Evaluator::new(ev.config.clone(), Rc::new(io));
        ev2.reset_stack_base();
        let v = ev2.eval_string("(import /lib/a.nix).x").expect("eval");
        let p = crate::print::print_value(
            &mut ev2,
            &v,
            true,
            Span {
                file: 0,
                start: 0,
                end: 0,
            },
        )
        .expect("print");
        String::from_utf8_lossy(&p).into_owned()
    });
    assert_eq!(out, "42");
}

#[test]
fn from_json_errors_name_the_byte_offset() {
    for (src, want) in [
        (
            r#"builtins.fromJSON "[1, 2] x""#,
            "invalid JSON at byte 7: unexpected text after the value",
        ),
        (
            r#"builtins.fromJSON "[1, 1e400]""#,
            "invalid JSON at byte 4: number overflow parsing '1e400'",
        ),
        (r#"builtins.fromJSON "\"\\u12""#, "truncated \\u escape"),
        (
            r#"builtins.fromJSON "\"\\u12zz\"""#,
            "invalid JSON at byte 3: bad \\u escape",
        ),
    ] {
        let e = eval_print(src).expect_err(src);
        assert!(e.contains(&format!("error: {want}\n")), "{src}: {e}");
    }
}
