//! The lexer's longest-match rules and the parser's precedences, on the shapes where Nix's
//! own parser decides in a way one might not guess, and the wording and places of errors.

use super::ast::{Bind, Key, KeyAt, Kind, Node, ParamNode, Piece};
use super::parse;
use crate::compile::BinOp;

/// A node as a compact S-expression.
fn show(n: &Node) -> String {
    match &n.kind {
        Kind::Int(v) => v.to_string(),
        Kind::Float(v) => format!("{v:?}f"),
        Kind::Uri(u) => format!("uri:{u}"),
        Kind::Var(v) => v.to_string(),
        Kind::CurPos => "curpos".to_owned(),
        Kind::Str(p) => format!("\"{}\"", pieces(p)),
        Kind::Path(p) => format!("path:{}", pieces(p)),
        Kind::SearchPath(s) => format!("<{s}>"),
        Kind::List(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(" ")),
        Kind::Attrs { rec, binds: b } => {
            format!("{}{{{}}}", if *rec { "rec" } else { "" }, binds(b))
        }
        Kind::Let { binds: b, body } => format!("(let {} in {})", binds(b), show(body)),
        Kind::LegacyLet(b) => format!("(let {{{}}})", binds(b)),
        Kind::With { ns, body } => format!("(with {} {})", show(ns), show(body)),
        Kind::If { cond, then, else_ } => {
            format!("(if {} {} {})", show(cond), show(then), show(else_))
        }
        Kind::Assert { cond, body } => format!("(assert {} {})", show(cond), show(body)),
        Kind::Not(e) => format!("(! {})", show(e)),
        Kind::Neg(e) => format!("(neg {})", show(e)),
        Kind::Bin { op, lhs, rhs } => format!("({} {} {})", op_text(*op), show(lhs), show(rhs)),
        Kind::HasAttr { expr, path } => format!("(? {} {})", show(expr), keys(path)),
        Kind::Select {
            expr,
            path,
            default,
        } => match default {
            Some(d) => format!("(. {} {} or {})", show(expr), keys(path), show(d)),
            None => format!("(. {} {})", show(expr), keys(path)),
        },
        Kind::Apply { func, arg } => format!("({} {})", show(func), show(arg)),
        Kind::Lambda { param, body } => match param {
            ParamNode::Ident(n) => format!("(fn {n} {})", show(body)),
            ParamNode::Pattern {
                formals,
                ellipsis,
                bind,
            } => {
                let mut f: Vec<String> = formals
                    .iter()
                    .map(|f| match &f.default {
                        Some(d) => format!("{}?{}", f.name, show(d)),
                        None => f.name.to_string(),
                    })
                    .collect();
                if *ellipsis {
                    f.push("...".to_owned());
                }
                let at = bind.map(|b| format!("@{b}")).unwrap_or_default();
                format!("(fn {{{}}}{at} {})", f.join(","), show(body))
            }
        },
    }
}

fn op_text(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Concat => "++",
        BinOp::Update => "//",
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::And => "&&",
        BinOp::Or => "||",
        BinOp::Impl => "->",
    }
}

fn pieces(p: &[Piece]) -> String {
    p.iter()
        .map(|p| match p {
            Piece::Lit(l) => String::from_utf8_lossy(l).into_owned(),
            Piece::Interp(e) => format!("${{{}}}", show(e)),
        })
        .collect()
}

fn keys(p: &[KeyAt]) -> String {
    p.iter()
        .map(|k| match &k.key {
            Key::Ident(n) => n.to_string(),
            Key::Str(s) => format!("\"{}\"", pieces(s)),
            Key::Dynamic(e) => format!("${{{}}}", show(e)),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn binds(b: &[Bind]) -> String {
    b.iter()
        .map(|b| match b {
            Bind::Value { path, value, .. } => format!("{}={};", keys(path), show(value)),
            Bind::Inherit { from, names, .. } => {
                let from = from.as_ref().map(|f| format!("({}) ", show(f)));
                format!("inherit {}{};", from.unwrap_or_default(), keys(names))
            }
        })
        .collect()
}

fn ok(src: &str) -> String {
    match parse(src) {
        Ok(n) => show(&n),
        Err(e) => panic!("{src:?} did not parse: {e:?}"),
    }
}

/// The first error's message and byte offset.
fn err(src: &str) -> (String, u32) {
    match parse(src) {
        Ok(n) => panic!("{src:?} parsed as {}", show(&n)),
        Err(e) => (e[0].1.clone(), e[0].0.start),
    }
}

#[test]
fn the_longest_token_wins() {
    // A slash between path characters makes a path, even of digits or a dotted name.
    assert_eq!(ok("a/b"), "path:a/b");
    assert_eq!(ok("2/3"), "path:2/3");
    assert_eq!(ok("x.y/z"), "path:x.y/z");
    assert_eq!(ok("a / b"), "(/ a b)");
    assert_eq!(ok("a/ b"), "(/ a b)");
    assert_eq!(ok("a // b"), "(// a b)");
    // A colon followed by URI characters makes a URI; `-` and `'` belong to names.
    assert_eq!(ok("x:y"), "uri:x:y");
    assert_eq!(ok("x: y"), "(fn x y)");
    assert_eq!(ok("a-b"), "a-b");
    assert_eq!(ok("a - b"), "(- a b)");
    assert_eq!(ok("a'"), "a'");
    // Keywords win ties with names, but not longer names.
    assert_eq!(ok("iffy"), "iffy");
    assert_eq!(ok("inherited"), "inherited");
    // Numbers.
    assert_eq!(ok("1.5"), "1.5f");
    assert_eq!(ok(".5"), "0.5f");
    assert_eq!(ok("1."), "1.0f");
    assert_eq!(ok("1e3"), "(1 e3)");
    assert_eq!(ok("1.0e3"), "1000.0f");
    assert_eq!(ok("<nixpkgs/lib>"), "<nixpkgs/lib>");
    assert_eq!(ok("a < b"), "(< a b)");
    assert_eq!(ok("~/x"), "path:~/x");
    // Comments and blanks.
    assert_eq!(ok("# c\n1 /* x */ + 2 # end"), "(+ 1 2)");
}

#[test]
fn operators_bind_as_in_nix() {
    assert_eq!(ok("a - b - c"), "(- (- a b) c)");
    assert_eq!(ok("a ++ b ++ c"), "(++ a (++ b c))");
    assert_eq!(ok("a // b // c"), "(// a (// b c))");
    assert_eq!(ok("a -> b -> c"), "(-> a (-> b c))");
    assert_eq!(ok("a + b * c"), "(+ a (* b c))");
    // `!` takes the arithmetic to its right, but not comparisons.
    assert_eq!(ok("!a + b"), "(! (+ a b))");
    assert_eq!(ok("!a == b"), "(== (! a) b)");
    assert_eq!(ok("!a // b"), "(// (! a) b)");
    assert_eq!(ok("a && !b || c"), "(|| (&& a (! b)) c)");
    // Unary minus binds tighter than everything but application.
    assert_eq!(ok("-a * b"), "(* (neg a) b)");
    assert_eq!(ok("- f x"), "(neg (f x))");
    assert_eq!(ok("f -1"), "(- f 1)");
    // `?` binds tighter than `++` and takes an attribute path.
    assert_eq!(ok("a ++ b ? c.d"), "(++ a (? b c.d))");
    assert_eq!(ok("x ? ${y} && z"), "(&& (? x ${y}) z)");
    // Application and selection.
    assert_eq!(ok("f x.y z"), "((f (. x y)) z)");
    assert_eq!(
        ok("a.b.\"c d\".${e} or f x"),
        "((. a b.\"c d\".${e} or f) x)"
    );
    assert_eq!(ok("f or"), "(f or)");
    assert_eq!(ok("{ or = 1; }.or"), "(. {or=1;} or)");
    assert_eq!(ok("[ f x (g y) ]"), "[f x (g y)]");
}

#[test]
fn comparisons_do_not_chain() {
    assert_eq!(
        err("1 == 1 == true"),
        ("syntax error, unexpected '=='".into(), 7)
    );
    assert_eq!(err("a < b < c").0, "syntax error, unexpected '<'");
    assert_eq!(err("a ? b ? c").0, "syntax error, unexpected '?'");
    assert_eq!(ok("a < b == c"), "(== (< a b) c)");
}

#[test]
fn functions_sets_and_lets() {
    assert_eq!(ok("{ a, b ? 1, ... }@args: a"), "(fn {a,b?1,...}@args a)");
    assert_eq!(ok("args @ { a }: a"), "(fn {a}@args a)");
    assert_eq!(ok("{ }: 1"), "(fn {} 1)");
    assert_eq!(ok("{ }"), "{}");
    assert_eq!(ok("rec { a = 1; b.c = a; }"), "rec{a=1;b.c=a;}");
    assert_eq!(
        ok("{ inherit a; inherit (x) b \"c\"; ${d} = 1; }"),
        "{inherit a;inherit (x) b.\"c\";${d}=1;}"
    );
    assert_eq!(ok("let a = 1; in a"), "(let a=1; in a)");
    assert_eq!(ok("let { body = 1; }"), "(let {body=1;})");
    assert_eq!(ok("with x; assert y; z"), "(with x (assert y z))");
    assert_eq!(ok("if a then b else c"), "(if a b c)");
    assert_eq!(ok("__curPos"), "curpos");
}

#[test]
fn strings_are_unescaped() {
    assert_eq!(ok(r#""a\nb\t\"\\ \$""#), "\"a\nb\t\"\\ $\"");
    // `$` starts an interpolation only before `{`; `$${` is literal.
    assert_eq!(ok(r#""$a $${b} ${c}""#), "\"$a $${b} ${c}\"");
    assert_eq!(ok("\"a\r\nb\rc\""), "\"a\nb\nc\"");
    assert_eq!(ok(r#""x${"y${z}"}""#), "\"x${\"y${z}\"}\"");
}

#[test]
fn indented_strings_lose_their_common_indentation() {
    assert_eq!(ok("''\n    a\n      b\n    c\n  ''"), "\"a\n  b\nc\n\"");
    // Blank lines do not count; a last line of spaces is dropped.
    assert_eq!(ok("''\n  a\n\n    b\n   ''"), "\"a\n\n  b\n\"");
    // Escapes.
    assert_eq!(ok("''a''$b''\\nc'''d${x}''"), "\"a$b\nc''d${x}\"");
    assert_eq!(ok("''a'b $c''"), "\"a'b $c\"");
    assert_eq!(ok("''$${x}''"), "\"$${x}\"");
    // An interpolation ends a line's indentation.
    assert_eq!(ok("''\n  ${x}\n    y\n''"), "\"${x}\n  y\n\"");
    assert_eq!(ok("''''"), "\"\"");
}

#[test]
fn paths_with_interpolation() {
    assert_eq!(ok("./a/${x}/b.nix"), "path:./a/${x}/b.nix");
    assert_eq!(ok("./a${x}"), "path:./a${x}");
    assert_eq!(ok("./${x}"), "path:./${x}");
    assert_eq!(ok("~/${x}"), "path:~/${x}");
    assert_eq!(ok("[ ./a ./b ]"), "[path:./a path:./b]");
    assert_eq!(ok("f ./a${x} y"), "((f path:./a${x}) y)");
}

#[test]
fn errors_name_the_token_and_what_was_expected() {
    assert_eq!(
        err("{ a = 1 b = 2; }"),
        ("syntax error, unexpected '=', expecting ';'".into(), 10)
    );
    assert_eq!(
        err("(1 + 2))"),
        (
            "syntax error, unexpected ')', expecting end of file".into(),
            7
        )
    );
    assert_eq!(
        err("let a = 1; a"),
        (
            "syntax error, unexpected end of file, expecting '.' or '='".into(),
            11
        )
    );
    assert_eq!(err("let if = 1; in if").0, "syntax error, unexpected 'if'");
    assert_eq!(
        err("\"abc"),
        (
            "syntax error, unexpected end of file, expecting '\"'".into(),
            1
        )
    );
    assert_eq!(
        err("1 % 2").0,
        "syntax error, unexpected '%', expecting end of file"
    );
    assert_eq!(err("é").0, "syntax error, unexpected 'é'");
    assert_eq!(
        err("1 é").0,
        "syntax error, unexpected 'é', expecting end of file"
    );
    assert_eq!(err("./a/").0, "path './a/' has a trailing slash");
    assert_eq!(err("./a//b").0, "syntax error, path './a//b' contains '//'");
    assert_eq!(
        err("99999999999999999999").0,
        "invalid integer '99999999999999999999'"
    );
    assert_eq!(
        err("1 /* open").0,
        "syntax error, unterminated comment: '/*' has no '*/'"
    );
    // An unexpected end of file is placed where the last lexeme (blanks included) starts.
    assert_eq!(
        err("x:\n"),
        ("syntax error, unexpected end of file".into(), 2)
    );
    assert_eq!(err("{ a = 1;").1, 7);
}

#[test]
fn every_broken_binding_is_reported() {
    let e = parse("{ a = ; b = 1 +; c = 3; d = [ ; }").expect_err("broken");
    let msgs: Vec<(&str, u32)> = e.iter().map(|(r, m)| (m.as_str(), r.start)).collect();
    assert_eq!(
        msgs,
        vec![
            ("syntax error, unexpected ';'", 6),
            ("syntax error, unexpected ';'", 15),
            ("syntax error, unexpected ';'", 30),
        ]
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let run = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || parse(&src).map(|_| ()).map_err(|e| e[0].1.clone()))
        .expect("thread")
        .join()
        .expect("no panic");
    assert_eq!(
        run,
        Err("the expression nests too deeply to parse".to_owned())
    );
}

/// Lexes and parses every Nix file under `STRATA_PARSE_BENCH_DIR` many times; for profiling
/// (`cargo test --release -p strata-lang parse_speed -- --ignored --nocapture`).
#[test]
#[ignore = "a profiling aid, not a test"]
fn parse_speed() {
    let Some(dir) = std::env::var_os("STRATA_PARSE_BENCH_DIR") else {
        return;
    };
    let mut texts = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "nix") {
                texts.push(std::fs::read_to_string(&p).expect("read"));
            }
        }
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let start = std::time::Instant::now();
    let mut ok = 0;
    for _ in 0..20 {
        for t in &texts {
            ok += usize::from(parse(t).is_ok());
        }
    }
    println!(
        "{} files, {bytes} bytes, 20 times: {:?} ({ok} parsed)",
        texts.len(),
        start.elapsed()
    );
}

/// Random text made of Nix's token pieces (and a few stray bytes) never panics the parser:
/// it parses or it gives errors with positions inside the text.
#[test]
fn random_text_never_panics() {
    const PIECES: &[&str] = &[
        "a",
        "or",
        "if",
        "then",
        "else",
        "let",
        "in",
        "rec",
        "inherit",
        "with",
        "assert",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        ";",
        ":",
        ",",
        ".",
        "...",
        "=",
        "@",
        "?",
        "++",
        "+",
        "-",
        "*",
        "/",
        "//",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "&&",
        "||",
        "->",
        "!",
        "\"",
        "''",
        "'",
        "${",
        "$",
        "\\",
        "./a",
        "/b",
        "~/c",
        "<d>",
        "x:y",
        "1",
        "2.5",
        ".5",
        "#c\n",
        "/*c*/",
        "/*",
        "\n",
        " ",
        "é",
        "\r",
        "a/",
        "99999999999999999999",
        "__curPos",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = next() % 24;
        let mut text = String::new();
        for _ in 0..len {
            text.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
            if next() % 3 == 0 {
                text.push(' ');
            }
        }
        if let Err(errs) = parse(&text) {
            assert!(!errs.is_empty(), "{text:?}");
            for (r, msg) in &errs {
                assert!(
                    r.start as usize <= text.len() && r.end as usize <= text.len(),
                    "{text:?}: {msg} at {r:?}"
                );
                assert!(!msg.is_empty());
            }
        }
    }
}
