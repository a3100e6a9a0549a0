//! The parser: tokens into the syntax tree of [`ast`], by recursive descent with operator
//! precedence climbing, following the grammar and precedences of Nix's own parser.
//!
//! A syntax error names the token found, where it is, and what was expected when that is
//! one or two things (as Nix does). After an error inside a binding of a set or `let`, the
//! parser skips to the binding's `;` and goes on, so that one run reports every broken
//! binding rather than only the first.

pub mod ast;
mod lexer;

use ast::{Bind, Formal, Key, KeyAt, Kind, Node, ParamNode, Piece, Range};
use lexer::{LexError, Tok, T};

use crate::compile::BinOp;
use crate::value::intern;

/// How deeply the parser may recurse (each bracket, each right-hand side of `++` and the like
/// counts) before it refuses the expression: the compiler and the evaluator recurse as
/// deeply.
const MAX_NESTING: u32 = 6000;

/// Errors after which the parser stops looking for more.
const MAX_ERRORS: usize = 20;

/// Every syntax error found, with where it is.
pub type SyntaxErrors = Vec<(Range, String)>;

/// Parses a whole file or expression.
pub fn parse(text: &str) -> Result<Node, SyntaxErrors> {
    let lexed = lexer::lex(text);
    let mut p = Parser {
        text,
        toks: lexed.toks,
        lex_error: lexed.error,
        pos: 0,
        prev_end: 0,
        errors: Vec::new(),
        nesting: 0,
    };
    let root = p.expr();
    if let Ok(root) = root {
        if p.peek() != T::Eof {
            p.unexpected(" expecting end of file");
        } else if p.errors.is_empty() {
            return Ok(root);
        }
    }
    Err(p.errors)
}

/// A syntax error, already recorded.
struct Fail;

type P<X> = Result<X, Fail>;

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Tok>,
    lex_error: Option<LexError>,
    pos: usize,
    /// Where the last token taken ends.
    prev_end: u32,
    errors: SyntaxErrors,
    nesting: u32,
}

/// Binary operators: precedence (higher binds tighter) and whether they group to the right.
/// `!` sits between `//` and `+`, and unary `-` above `?`, as in Nix.
fn infix(t: T) -> Option<(u8, Assoc, Option<BinOp>)> {
    use Assoc::*;
    Some(match t {
        T::Impl => (1, Right, Some(BinOp::Impl)),
        T::Or => (2, Left, Some(BinOp::Or)),
        T::And => (3, Left, Some(BinOp::And)),
        T::Eq => (4, None, Some(BinOp::Eq)),
        T::Ne => (4, None, Some(BinOp::Ne)),
        T::Lt => (5, None, Some(BinOp::Lt)),
        T::Le => (5, None, Some(BinOp::Le)),
        T::Gt => (5, None, Some(BinOp::Gt)),
        T::Ge => (5, None, Some(BinOp::Ge)),
        T::Update => (6, Right, Some(BinOp::Update)),
        T::Plus => (8, Left, Some(BinOp::Add)),
        T::Minus => (8, Left, Some(BinOp::Sub)),
        T::Star => (9, Left, Some(BinOp::Mul)),
        T::Slash => (9, Left, Some(BinOp::Div)),
        T::Concat => (10, Right, Some(BinOp::Concat)),
        // `?`: its right side is an attribute path.
        T::Question => (11, None, Option::None),
        _ => return Option::None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Assoc {
    Left,
    Right,
    None,
}

/// The least precedence an operator inside `!x` may have to belong to `x`.
const NOT_OPERAND: u8 = 8;
/// Nothing but application binds tighter than unary minus.
const NEG_OPERAND: u8 = 12;

/// Whether a token can start an argument of a function application.
fn starts_simple(t: T) -> bool {
    matches!(
        t,
        T::Ident
            | T::Int
            | T::Float
            | T::StrOpen
            | T::IndOpen
            | T::Path
            | T::SearchPath
            | T::Uri
            | T::LParen
            | T::Rec
            | T::LBrace
            | T::LBrack
    )
}

impl Parser<'_> {
    fn tok(&self) -> Tok {
        self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek(&self) -> T {
        self.tok().kind
    }

    fn peek_at(&self, k: usize) -> T {
        self.toks.get(self.pos + k).map_or(T::Eof, |t| t.kind)
    }

    fn bump(&mut self) -> Tok {
        let t = self.tok();
        if !matches!(t.kind, T::Eof | T::Error) {
            self.pos += 1;
        }
        self.prev_end = t.end;
        t
    }

    /// Whether the token here can start a function's argument or a list's item.
    fn starts_arg(&self) -> bool {
        starts_simple(self.peek()) || (self.peek() == T::Let && self.peek_at(1) == T::LBrace)
    }

    fn text_of(&self, t: Tok) -> &str {
        self.text
            .get(t.start as usize..t.end as usize)
            .unwrap_or("")
    }

    fn range_from(&self, start: u32) -> Range {
        Range {
            start,
            end: self.prev_end.max(start),
        }
    }

    /// What the user sees for the token found.
    fn shown(&self, t: Tok) -> String {
        match t.kind {
            T::Eof => "end of file".to_owned(),
            T::PathEnd => "end of path".to_owned(),
            T::StrText | T::IndText => "string text".to_owned(),
            _ => {
                let s = self.text_of(t);
                let first: String = s.lines().next().unwrap_or("").chars().take(24).collect();
                format!("'{first}'")
            }
        }
    }

    /// Records "unexpected <token>" (with `expecting`, which starts with a comma or is
    /// empty) at the current token.
    fn unexpected(&mut self, expecting: &str) -> Fail {
        let t = self.tok();
        let msg = match (t.kind, &self.lex_error) {
            (T::Error, Some(e)) => e.to_string(),
            _ => {
                let comma = if expecting.is_empty() { "" } else { "," };
                format!(
                    "syntax error, unexpected {}{comma}{expecting}",
                    self.shown(t)
                )
            }
        };
        let at = Range {
            start: t.start,
            end: t.end,
        };
        if !self.errors.iter().any(|(r, _)| r.start == at.start) {
            self.errors.push((at, msg));
        }
        Fail
    }

    fn expect(&mut self, kind: T, name: &str) -> P<Tok> {
        if self.peek() == kind {
            Ok(self.bump())
        } else {
            Err(self.unexpected(&format!(" expecting {name}")))
        }
    }

    fn node(&self, kind: Kind, start: u32) -> Node {
        Node {
            kind,
            at: self.range_from(start),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Expressions

    /// A whole expression: a function, `assert`, `with`, `let`, `if`, or an operator
    /// expression.
    fn expr(&mut self) -> P<Node> {
        self.nested(Self::expr_inner)
    }

    /// Runs `f` one level of nesting deeper, refusing too many levels.
    fn nested(&mut self, f: impl FnOnce(&mut Self) -> P<Node>) -> P<Node> {
        if self.nesting >= MAX_NESTING {
            let t = self.tok();
            self.errors.push((
                Range {
                    start: t.start,
                    end: t.end,
                },
                "the expression nests too deeply to parse".to_owned(),
            ));
            return Err(Fail);
        }
        self.nesting += 1;
        let r = f(self);
        self.nesting -= 1;
        r
    }

    fn expr_inner(&mut self) -> P<Node> {
        let start = self.tok().start;
        match self.peek() {
            T::Ident if self.peek_at(1) == T::Colon => {
                let name = self.ident_name();
                self.bump();
                let body = self.expr()?;
                Ok(self.node(
                    Kind::Lambda {
                        param: ParamNode::Ident(name),
                        body: Box::new(body),
                    },
                    start,
                ))
            }
            T::Ident if self.peek_at(1) == T::At => {
                let name = self.ident_name();
                self.bump();
                if self.peek() != T::LBrace {
                    return Err(self.unexpected(" expecting '{'"));
                }
                self.pattern_lambda(start, Some(name))
            }
            T::LBrace if self.is_pattern() => self.pattern_lambda(start, None),
            T::Assert | T::With => {
                // `assert c; body` and `with ns; body`.
                let keyword = self.bump().kind;
                let first = Box::new(self.expr()?);
                self.expect(T::Semi, "';'")?;
                let body = Box::new(self.expr()?);
                let kind = if keyword == T::Assert {
                    Kind::Assert { cond: first, body }
                } else {
                    Kind::With { ns: first, body }
                };
                Ok(self.node(kind, start))
            }
            T::Let if self.peek_at(1) != T::LBrace => {
                self.bump();
                let binds = self.binds(T::In)?;
                self.expect(T::In, "'in'")?;
                let body = self.expr()?;
                Ok(self.node(
                    Kind::Let {
                        binds,
                        body: Box::new(body),
                    },
                    start,
                ))
            }
            T::If => {
                self.bump();
                let cond = self.expr()?;
                self.expect(T::Then, "'then'")?;
                let then = self.expr()?;
                self.expect(T::Else, "'else'")?;
                let else_ = self.expr()?;
                Ok(self.node(
                    Kind::If {
                        cond: Box::new(cond),
                        then: Box::new(then),
                        else_: Box::new(else_),
                    },
                    start,
                ))
            }
            _ => self.op_expr(0),
        }
    }

    /// The identifier at the current token, taken.
    fn ident_name(&mut self) -> crate::value::Name {
        let t = self.bump();
        intern(self.text_of(t))
    }

    /// Whether the `{` here opens a function's pattern rather than a set.
    fn is_pattern(&self) -> bool {
        match self.peek_at(1) {
            T::RBrace => matches!(self.peek_at(2), T::Colon | T::At),
            T::Ellipsis => true,
            T::Ident => matches!(self.peek_at(2), T::Comma | T::Question | T::RBrace),
            _ => false,
        }
    }

    /// `{ a, b ? d, ... } @ x: body` (or `x @ { ... }: body` when `bind` is given), at `{`.
    fn pattern_lambda(&mut self, start: u32, bind: Option<crate::value::Name>) -> P<Node> {
        self.bump();
        let mut formals = Vec::new();
        let mut ellipsis = false;
        loop {
            match self.peek() {
                T::RBrace => break,
                T::Ellipsis => {
                    self.bump();
                    ellipsis = true;
                    if self.peek() != T::RBrace {
                        return Err(self.unexpected(" expecting '}'"));
                    }
                    break;
                }
                T::Ident => {
                    let fstart = self.tok().start;
                    let name = self.ident_name();
                    let default = if self.peek() == T::Question {
                        self.bump();
                        Some(self.expr()?)
                    } else {
                        None
                    };
                    formals.push(Formal {
                        name,
                        default,
                        at: self.range_from(fstart),
                    });
                    match self.peek() {
                        T::Comma => {
                            self.bump();
                        }
                        T::RBrace => break,
                        _ => return Err(self.unexpected(" expecting ',' or '}'")),
                    }
                }
                _ => return Err(self.unexpected("")),
            }
        }
        self.bump();
        let mut bind = bind;
        if self.peek() == T::At {
            if bind.is_some() {
                return Err(self.unexpected(" expecting ':'"));
            }
            self.bump();
            if self.peek() != T::Ident {
                return Err(self.unexpected(" expecting an identifier"));
            }
            bind = Some(self.ident_name());
        }
        self.expect(T::Colon, "':'")?;
        let body = self.expr()?;
        Ok(self.node(
            Kind::Lambda {
                param: ParamNode::Pattern {
                    formals,
                    ellipsis,
                    bind,
                },
                body: Box::new(body),
            },
            start,
        ))
    }

    /// Operators, by precedence climbing: operators below `min` are left to the caller.
    fn op_expr(&mut self, min: u8) -> P<Node> {
        self.nested(|p| p.op_expr_inner(min))
    }

    fn op_expr_inner(&mut self, min: u8) -> P<Node> {
        let start = self.tok().start;
        let mut lhs = match self.peek() {
            T::Not => {
                self.bump();
                let e = self.op_expr(NOT_OPERAND)?;
                self.node(Kind::Not(Box::new(e)), start)
            }
            T::Minus => {
                self.bump();
                let e = self.op_expr(NEG_OPERAND)?;
                self.node(Kind::Neg(Box::new(e)), start)
            }
            _ => self.app()?,
        };
        while let Some((prec, assoc, op)) = infix(self.peek()) {
            if prec < min {
                break;
            }
            self.bump();
            lhs = match op {
                None => {
                    let path = self.attrpath()?;
                    self.node(
                        Kind::HasAttr {
                            expr: Box::new(lhs),
                            path,
                        },
                        start,
                    )
                }
                Some(op) => {
                    let rhs_min = if assoc == Assoc::Right {
                        prec
                    } else {
                        prec + 1
                    };
                    let rhs = self.op_expr(rhs_min)?;
                    self.node(
                        Kind::Bin {
                            op,
                            lhs: Box::new(lhs),
                            rhs: Box::new(rhs),
                        },
                        start,
                    )
                }
            };
            // `a == b == c` and `a < b < c` do not parse, as in Nix.
            if assoc == Assoc::None {
                if let Some((p2, _, _)) = infix(self.peek()) {
                    if p2 == prec {
                        return Err(self.unexpected(""));
                    }
                }
            }
        }
        Ok(lhs)
    }

    /// Function application: `f a b`.
    fn app(&mut self) -> P<Node> {
        let start = self.tok().start;
        let mut f = self.select()?;
        while self.starts_arg() {
            let arg = self.select()?;
            f = self.node(
                Kind::Apply {
                    func: Box::new(f),
                    arg: Box::new(arg),
                },
                start,
            );
        }
        Ok(f)
    }

    /// `e.a.b`, `e.a or d`, and `e or` (a call of the function `or`, which Nix keeps for old
    /// code).
    fn select(&mut self) -> P<Node> {
        let start = self.tok().start;
        let e = self.simple()?;
        match self.peek() {
            T::Dot => {
                self.bump();
                let path = self.attrpath()?;
                let default = if self.peek() == T::OrKw {
                    self.bump();
                    Some(Box::new(self.select()?))
                } else {
                    None
                };
                Ok(self.node(
                    Kind::Select {
                        expr: Box::new(e),
                        path,
                        default,
                    },
                    start,
                ))
            }
            T::OrKw => {
                let t = self.bump();
                let or = Node {
                    kind: Kind::Var(intern("or")),
                    at: Range {
                        start: t.start,
                        end: t.end,
                    },
                };
                Ok(self.node(
                    Kind::Apply {
                        func: Box::new(e),
                        arg: Box::new(or),
                    },
                    start,
                ))
            }
            _ => Ok(e),
        }
    }

    fn simple(&mut self) -> P<Node> {
        self.nested(Self::simple_inner)
    }

    fn simple_inner(&mut self) -> P<Node> {
        let t = self.tok();
        let start = t.start;
        match t.kind {
            T::Ident => {
                self.bump();
                let text = self.text_of(t);
                let kind = if text == "__curPos" {
                    Kind::CurPos
                } else {
                    Kind::Var(intern(text))
                };
                Ok(self.node(kind, start))
            }
            T::Int => {
                self.bump();
                // The lexer has checked that it fits.
                let v = self.text_of(t).parse::<i64>().unwrap_or(i64::MAX);
                Ok(self.node(Kind::Int(v), start))
            }
            T::Float => {
                self.bump();
                let text = self.text_of(t);
                // Rust reads every float the lexer's rule accepts (`1.`, `.5`, `1.e5`).
                match text.parse::<f64>() {
                    Ok(v) => Ok(self.node(Kind::Float(v), start)),
                    Err(_) => {
                        self.errors.push((
                            Range { start, end: t.end },
                            format!("invalid float '{text}'"),
                        ));
                        Err(Fail)
                    }
                }
            }
            T::Uri => {
                self.bump();
                let s = self.text_of(t).to_owned();
                Ok(self.node(Kind::Uri(s), start))
            }
            T::SearchPath => {
                self.bump();
                let s = self.text_of(t);
                let s = s[1..s.len() - 1].to_owned();
                Ok(self.node(Kind::SearchPath(s), start))
            }
            T::StrOpen => {
                let parts = self.string()?;
                Ok(self.node(Kind::Str(parts), start))
            }
            T::IndOpen => {
                let parts = self.indented()?;
                Ok(self.node(Kind::Str(parts), start))
            }
            T::Path => {
                let parts = self.path()?;
                Ok(self.node(Kind::Path(parts), start))
            }
            T::LParen => {
                self.bump();
                let e = self.expr()?;
                self.expect(T::RParen, "')'")?;
                // The parentheses are part of the expression's range, as they are in Nix's
                // positions for what is inside.
                Ok(Node {
                    kind: e.kind,
                    at: e.at,
                })
            }
            T::Let => {
                // `let { ... }`: the old form, whose `body` attribute is its value.
                self.bump();
                self.expect(T::LBrace, "'{'")?;
                let binds = self.binds(T::RBrace)?;
                self.expect(T::RBrace, "'}'")?;
                Ok(self.node(Kind::LegacyLet(binds), start))
            }
            T::Rec => {
                self.bump();
                self.expect(T::LBrace, "'{'")?;
                let binds = self.binds(T::RBrace)?;
                self.expect(T::RBrace, "'}'")?;
                Ok(self.node(Kind::Attrs { rec: true, binds }, start))
            }
            T::LBrace => {
                self.bump();
                let binds = self.binds(T::RBrace)?;
                self.expect(T::RBrace, "'}'")?;
                Ok(self.node(Kind::Attrs { rec: false, binds }, start))
            }
            T::LBrack => {
                self.bump();
                let mut items = Vec::new();
                while self.peek() != T::RBrack {
                    if !self.starts_arg() {
                        return Err(self.unexpected(""));
                    }
                    items.push(self.select()?);
                }
                self.bump();
                Ok(self.node(Kind::List(items), start))
            }
            _ => Err(self.unexpected("")),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Bindings and attribute paths

    /// The bindings of a set (ending at `}`) or a `let` (ending at `in`). After a broken
    /// binding it skips to that binding's `;` and goes on; it fails if any binding did.
    fn binds(&mut self, end: T) -> P<Vec<Bind>> {
        let mut binds = Vec::new();
        let mut failed = false;
        let depth = self.tok().depth;
        loop {
            let t = self.peek();
            if t == end || t == T::Eof && failed {
                break;
            }
            match self.bind() {
                Ok(b) => binds.push(b),
                Err(Fail) => {
                    failed = true;
                    if self.errors.len() >= MAX_ERRORS || !self.skip_binding(depth, end) {
                        return Err(Fail);
                    }
                }
            }
        }
        if failed {
            Err(Fail)
        } else {
            Ok(binds)
        }
    }

    /// Skips past the `;` that ends the broken binding. Returns false when there is none
    /// before the set or `let` ends.
    fn skip_binding(&mut self, depth: u32, end: T) -> bool {
        loop {
            let t = self.tok();
            match t.kind {
                T::Eof | T::Error => return false,
                T::Semi if t.depth == depth => {
                    self.bump();
                    return true;
                }
                k if k == end && t.depth == depth => return false,
                _ if t.depth < depth => return false,
                _ => {
                    self.bump();
                }
            }
        }
    }

    fn bind(&mut self) -> P<Bind> {
        let start = self.tok().start;
        match self.peek() {
            T::Inherit => {
                self.bump();
                let from = if self.peek() == T::LParen {
                    self.bump();
                    let e = self.expr()?;
                    self.expect(T::RParen, "')'")?;
                    Some(e)
                } else {
                    None
                };
                let mut names = Vec::new();
                while matches!(self.peek(), T::Ident | T::OrKw | T::StrOpen | T::Interp) {
                    // Nix places an inherited name where the blank before it starts.
                    let lead = self.prev_end;
                    let mut k = self.attr()?;
                    if lead < k.at.start {
                        k.at.start = lead;
                    }
                    names.push(k);
                }
                self.expect(T::Semi, "';'")?;
                Ok(Bind::Inherit {
                    from,
                    names,
                    at: self.range_from(start),
                })
            }
            T::Ident | T::OrKw | T::StrOpen | T::Interp => {
                let path = self.attrpath()?;
                if self.peek() != T::Assign {
                    return Err(self.unexpected(" expecting '.' or '='"));
                }
                self.bump();
                let value = self.expr()?;
                self.expect(T::Semi, "';'")?;
                Ok(Bind::Value {
                    path,
                    value,
                    at: self.range_from(start),
                })
            }
            _ => Err(self.unexpected("")),
        }
    }

    fn attrpath(&mut self) -> P<Vec<KeyAt>> {
        let mut path = vec![self.attr()?];
        while self.peek() == T::Dot {
            self.bump();
            path.push(self.attr()?);
        }
        Ok(path)
    }

    /// One name: `a`, `or`, `"a b"`, `"${x}"` or `${x}`.
    fn attr(&mut self) -> P<KeyAt> {
        let t = self.tok();
        let key = match t.kind {
            T::Ident => {
                self.bump();
                Key::Ident(intern(self.text_of(t)))
            }
            T::OrKw => {
                self.bump();
                Key::Ident(intern("or"))
            }
            T::StrOpen => Key::Str(self.string()?),
            T::Interp => {
                self.bump();
                let e = self.expr()?;
                self.expect(T::RBrace, "'}'")?;
                Key::Dynamic(Box::new(e))
            }
            _ => return Err(self.unexpected("")),
        };
        Ok(KeyAt {
            key,
            at: self.range_from(t.start),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Strings and paths

    /// `"..."`, at its opening quote.
    fn string(&mut self) -> P<Vec<Piece>> {
        self.bump();
        self.pieces(Vec::new(), T::StrClose, T::StrText, " expecting '\"'")
    }

    /// The pieces of a string (text is unescaped) or of a path, up to the token that ends
    /// them.
    fn pieces(&mut self, mut parts: Vec<Piece>, end: T, text: T, expecting: &str) -> P<Vec<Piece>> {
        loop {
            let t = self.tok();
            match t.kind {
                k if k == end => {
                    self.bump();
                    return Ok(parts);
                }
                k if k == text => {
                    self.bump();
                    let raw = self.text_of(t).as_bytes();
                    let s = if text == T::StrText {
                        unescape(raw)
                    } else {
                        raw.to_vec()
                    };
                    push_lit(&mut parts, s);
                }
                T::Interp => parts.push(Piece::Interp(self.interpolation()?)),
                _ => return Err(self.unexpected(expecting)),
            }
        }
    }

    /// `${ e }`, at `${`.
    fn interpolation(&mut self) -> P<Node> {
        self.bump();
        let e = self.expr()?;
        self.expect(T::RBrace, "'}'")?;
        Ok(e)
    }

    /// `''...''`, at its opening quotes: the pieces with the common indentation removed.
    fn indented(&mut self) -> P<Vec<Piece>> {
        self.bump();
        let mut raw: Vec<IndPiece> = Vec::new();
        loop {
            let t = self.tok();
            match t.kind {
                T::IndClose => {
                    self.bump();
                    break;
                }
                T::IndText => {
                    self.bump();
                    raw.push(IndPiece::Text(self.text_of(t).as_bytes().to_vec(), true));
                }
                T::IndEscape => {
                    self.bump();
                    let s = self.text_of(t).as_bytes();
                    let v = match s {
                        b"'''" => b"''".to_vec(),
                        b"''$" => b"$".to_vec(),
                        _ if s.starts_with(b"''\\") => unescape(&s[2..]),
                        _ => s.to_vec(),
                    };
                    raw.push(IndPiece::Text(v, false));
                }
                T::Interp => raw.push(IndPiece::Interp(self.interpolation()?)),
                _ => return Err(self.unexpected(" expecting \"''\"")),
            }
        }
        Ok(strip_indentation(raw))
    }

    /// A path, at its first piece, to its end.
    fn path(&mut self) -> P<Vec<Piece>> {
        let first = self.bump();
        let parts = vec![Piece::Lit(self.text_of(first).as_bytes().to_vec())];
        self.pieces(parts, T::PathEnd, T::PathText, "")
    }
}

/// A piece of an indented string before its indentation is removed: text (and whether it
/// was written as is, so that its spaces are indentation) or an interpolation.
enum IndPiece {
    Text(Vec<u8>, bool),
    Interp(Node),
}

/// Removes the smallest indentation of an indented string's lines, as Nix does: lines with
/// only spaces do not count, an interpolation or an escape ends a line's indentation, and a
/// last line of only spaces is dropped.
fn strip_indentation(raw: Vec<IndPiece>) -> Vec<Piece> {
    let mut at_line_start = true;
    let mut min_indent = usize::MAX;
    let mut cur = 0usize;
    for p in &raw {
        match p {
            IndPiece::Text(s, true) => {
                for &c in s {
                    if at_line_start {
                        match c {
                            b' ' => cur += 1,
                            b'\n' => cur = 0,
                            _ => {
                                at_line_start = false;
                                min_indent = min_indent.min(cur);
                            }
                        }
                    } else if c == b'\n' {
                        at_line_start = true;
                        cur = 0;
                    }
                }
            }
            _ => {
                if at_line_start {
                    at_line_start = false;
                    min_indent = min_indent.min(cur);
                }
            }
        }
    }
    let mut out: Vec<Piece> = Vec::new();
    at_line_start = true;
    let mut dropped = 0usize;
    let count = raw.len();
    for (i, p) in raw.into_iter().enumerate() {
        match p {
            IndPiece::Interp(e) => {
                at_line_start = false;
                dropped = 0;
                out.push(Piece::Interp(e));
            }
            IndPiece::Text(s, _) => {
                let mut t = Vec::with_capacity(s.len());
                for &c in &s {
                    if at_line_start {
                        match c {
                            b' ' => {
                                if dropped >= min_indent {
                                    t.push(c);
                                }
                                dropped += 1;
                            }
                            b'\n' => {
                                dropped = 0;
                                t.push(c);
                            }
                            _ => {
                                at_line_start = false;
                                dropped = 0;
                                t.push(c);
                            }
                        }
                    } else {
                        t.push(c);
                        if c == b'\n' {
                            at_line_start = true;
                        }
                    }
                }
                // The last piece loses a final line of only spaces.
                if i + 1 == count {
                    if let Some(nl) = t.iter().rposition(|&c| c == b'\n') {
                        if t[nl + 1..].iter().all(|&c| c == b' ') {
                            t.truncate(nl + 1);
                        }
                    }
                }
                push_lit(&mut out, t);
            }
        }
    }
    out
}

/// Appends literal text, joined to a literal before it; empty text adds nothing.
fn push_lit(parts: &mut Vec<Piece>, s: Vec<u8>) {
    if s.is_empty() {
        return;
    }
    if let Some(Piece::Lit(prev)) = parts.last_mut() {
        prev.extend_from_slice(&s);
        return;
    }
    parts.push(Piece::Lit(s));
}

/// A string's escapes (`\n`, `\r`, `\t`, `\x` for any other x) decoded, and its line ends
/// (`\r\n`, `\r`) made `\n`.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        match c {
            b'\\' if i < s.len() => {
                let e = s[i];
                i += 1;
                out.push(match e {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    other => other,
                });
            }
            b'\r' => {
                out.push(b'\n');
                if s.get(i) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
