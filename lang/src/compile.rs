//! Lowering: the `rnix` syntax tree becomes a small expression tree in which every variable is
//! resolved to a slot in a frame (or, under `with`, to a dynamic lookup), attribute paths in
//! definitions are merged, and `<search>` paths are desugared as Nix does.
//!
//! Like Nix, an undefined variable is an error here, before evaluation starts.

use std::collections::BTreeMap;
use std::rc::Rc;

use rnix::ast::{self, AstToken, HasEntry};
use rowan::ast::AstNode;

use crate::error::{ErrorKind, EvalError};
use crate::source::Span;
use crate::value::{Name, Value};

/// A string or path piece: literal bytes or an interpolated expression.
#[derive(Debug)]
pub enum Part {
    Lit(Vec<u8>),
    Expr(Rc<Expr>),
}

/// An attribute name in a selection or definition.
#[derive(Debug)]
pub enum AttrName {
    Static(Name),
    Dynamic(Rc<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Concat,
    Update,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Impl,
}

/// The lowered expression.
pub enum Expr {
    Const(Value),
    /// A variable in frame `depth` levels up, slot `index`.
    Local {
        depth: u32,
        index: u32,
    },
    /// A variable found only in `with` scopes: `withs` are the depths of the enclosing
    /// `with` frames, innermost first.
    WithVar {
        name: Name,
        withs: Rc<[u32]>,
        span: Span,
    },
    Str {
        parts: Vec<Part>,
        span: Span,
    },
    /// A path with interpolation; `base` is the directory a relative path resolves against.
    Path {
        parts: Vec<Part>,
        base: Option<String>,
        span: Span,
    },
    Attrs(Rc<AttrsDef>),
    List(Vec<Rc<Expr>>),
    Select {
        expr: Rc<Expr>,
        path: Vec<AttrName>,
        default: Option<Rc<Expr>>,
        span: Span,
    },
    HasAttr {
        expr: Rc<Expr>,
        path: Vec<AttrName>,
        span: Span,
    },
    Lambda(Rc<LambdaDef>),
    Apply {
        func: Rc<Expr>,
        arg: Rc<Expr>,
        span: Span,
    },
    Let {
        def: Rc<AttrsDef>,
        body: Rc<Expr>,
    },
    With {
        ns: Rc<Expr>,
        body: Rc<Expr>,
        span: Span,
    },
    If {
        cond: Rc<Expr>,
        then: Rc<Expr>,
        else_: Rc<Expr>,
        span: Span,
    },
    Assert {
        cond: Rc<Expr>,
        body: Rc<Expr>,
        span: Span,
        text: String,
    },
    Bin {
        op: BinOp,
        lhs: Rc<Expr>,
        rhs: Rc<Expr>,
        span: Span,
    },
    Not {
        expr: Rc<Expr>,
        span: Span,
    },
    Neg {
        expr: Rc<Expr>,
        span: Span,
    },
    CurPos(Span),
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Const(_) => f.write_str("Const"),
            Expr::Local { depth, index } => write!(f, "Local({depth},{index})"),
            Expr::WithVar { name, .. } => write!(f, "WithVar({name})"),
            Expr::Str { .. } => f.write_str("Str"),
            Expr::Path { .. } => f.write_str("Path"),
            Expr::Attrs(_) => f.write_str("Attrs"),
            Expr::List(_) => f.write_str("List"),
            Expr::Select { .. } => f.write_str("Select"),
            Expr::HasAttr { .. } => f.write_str("HasAttr"),
            Expr::Lambda(_) => f.write_str("Lambda"),
            Expr::Apply { .. } => f.write_str("Apply"),
            Expr::Let { .. } => f.write_str("Let"),
            Expr::With { .. } => f.write_str("With"),
            Expr::If { .. } => f.write_str("If"),
            Expr::Assert { .. } => f.write_str("Assert"),
            Expr::Bin { op, .. } => write!(f, "Bin({op:?})"),
            Expr::Not { .. } => f.write_str("Not"),
            Expr::Neg { .. } => f.write_str("Neg"),
            Expr::CurPos(_) => f.write_str("CurPos"),
        }
    }
}

/// How an attribute's value is computed.
#[derive(Debug)]
pub enum AttrValue {
    /// An expression evaluated in the set's own frame (for `rec` and `let`) or in the
    /// enclosing one.
    Expr(Rc<Expr>),
    /// `inherit x;`: evaluated in the enclosing frame, even in `rec` and `let`.
    Inherited(Rc<Expr>),
}

/// A static attribute of a set or `let`.
#[derive(Debug)]
pub struct StaticAttr {
    pub name: Name,
    pub value: AttrValue,
    pub span: Span,
}

/// An attribute set literal or the bindings of a `let`.
#[derive(Debug)]
pub struct AttrsDef {
    /// Whether the bindings get a frame of their own (`rec` sets and `let`).
    pub rec: bool,
    /// Sorted by name.
    pub statics: Vec<StaticAttr>,
    pub dynamics: Vec<(Rc<Expr>, Rc<Expr>, Span)>,
}

/// A function's parameter.
#[derive(Debug)]
pub enum Param {
    /// `x: ...`: one slot.
    Ident(Name),
    /// `{ a, b ? d, ... } @ x: ...`: one slot per formal (in this order), then `x`.
    Pattern {
        formals: Vec<(Name, Option<Rc<Expr>>, Span)>,
        ellipsis: bool,
        bind: Option<Name>,
    },
}

/// A function literal.
#[derive(Debug)]
pub struct LambdaDef {
    pub param: Param,
    pub body: Rc<Expr>,
    pub span: Span,
    /// The attribute or variable it was bound to, for messages.
    pub name: Option<Name>,
}

impl LambdaDef {
    pub fn slots(&self) -> usize {
        match &self.param {
            Param::Ident(_) => 1,
            Param::Pattern { formals, bind, .. } => formals.len() + usize::from(bind.is_some()),
        }
    }
}

/// A compile-time scope.
enum Scope {
    /// Names and their slot indices.
    Static(Rc<BTreeMap<Name, u32>>),
    With,
}

/// Lowers syntax trees of one file.
#[allow(missing_debug_implementations)]
pub struct Compiler<'a> {
    file: u32,
    src: Option<Rc<crate::source::Source>>,
    /// Directory relative paths resolve against.
    base_dir: Option<String>,
    scopes: Vec<Scope>,
    interner: &'a mut crate::eval::Interner,
    errors: Vec<(Span, String)>,
}

fn span_of(file: u32, node: &rnix::SyntaxNode) -> Span {
    let r = node.text_range();
    Span {
        file,
        start: r.start().into(),
        end: r.end().into(),
    }
}

/// A definition being collected for one attribute while lowering a set.
enum Pending {
    Done(AttrValue, Span),
    /// A nested set built from `a.b = ...` paths, possibly merged with a literal `a = { ... }`.
    Nested(NestedSet, Span),
}

#[derive(Default)]
struct NestedSet {
    statics: BTreeMap<Name, Pending>,
    dynamics: Vec<(Rc<Expr>, Rc<Expr>, Span)>,
}

impl<'a> Compiler<'a> {
    /// `globals` are the names of the outermost frame (the builtins scope).
    pub fn new(
        file: u32,
        base_dir: Option<String>,
        globals: &Rc<BTreeMap<Name, u32>>,
        interner: &'a mut crate::eval::Interner,
    ) -> Compiler<'a> {
        Compiler {
            file,
            src: None,
            base_dir,
            scopes: vec![Scope::Static(globals.clone())],
            interner,
            errors: Vec::new(),
        }
    }

    /// Lowers a whole parsed file, or returns every problem found.
    pub fn compile_root(
        mut self,
        root: &ast::Root,
        parse_errors: &[rnix::ParseError],
    ) -> Result<Rc<Expr>, EvalError> {
        // A tree with parse errors is not lowered: its nodes may be incomplete. Every parse
        // error is reported, with its position.
        if !parse_errors.is_empty() {
            let text = self
                .src
                .as_ref()
                .map(|s| s.text.clone())
                .unwrap_or_default();
            let mut errs: Vec<(Span, String)> = Vec::new();
            for e in parse_errors {
                let (span, msg) = describe_parse_error(self.file, &text, e);
                // The parser reports some problems twice at one place as it recovers.
                if !errs.iter().any(|(s, _)| s.start == span.start) {
                    errs.push((span, msg));
                }
            }
            return Err(EvalError::new(ErrorKind::Syntax(errs), None));
        }
        let expr = match root.expr() {
            Some(e) => self.expr(&e),
            None => {
                let span = Span {
                    file: self.file,
                    start: 0,
                    end: 0,
                };
                let errs = vec![(span, "unexpected end of file".to_owned())];
                return Err(EvalError::new(ErrorKind::Syntax(errs), None));
            }
        };
        // Like Nix, report the first problem found while binding names.
        match self.errors.first() {
            None => Ok(expr),
            Some((span, msg)) => Err(EvalError::new(ErrorKind::Eval(msg.clone()), Some(*span))),
        }
    }

    /// Adds a scope of names (slots in that order) between the globals and the file, as
    /// `scopedImport` needs.
    pub fn with_scope(mut self, names: BTreeMap<Name, u32>) -> Self {
        self.scopes.push(Scope::Static(Rc::new(names)));
        self
    }

    /// Gives the compiler its source, so messages can name positions.
    pub fn with_source(mut self, src: Rc<crate::source::Source>) -> Self {
        self.src = Some(src);
        self
    }

    fn pos(&self, span: Span) -> String {
        match &self.src {
            Some(s) => {
                let (l, c) = s.line_col(span.start);
                format!("{}:{l}:{c}", s.name)
            }
            None => "«unknown»".to_owned(),
        }
    }

    fn already(&mut self, span: Span, name: &str, prev: Span) {
        let msg = format!("attribute '{name}' already defined at {}", self.pos(prev));
        self.err(span, msg);
    }

    fn name(&mut self, s: &str) -> Name {
        self.interner.intern(s)
    }

    fn err(&mut self, span: Span, msg: impl Into<String>) -> Rc<Expr> {
        self.errors.push((span, msg.into()));
        Rc::new(Expr::Const(Value::Null))
    }

    fn lookup(&mut self, name: &str, span: Span) -> Rc<Expr> {
        let mut withs = Vec::new();
        let sym = crate::value::intern(name);
        for (depth, scope) in self.scopes.iter().rev().enumerate() {
            let depth = depth as u32;
            match scope {
                Scope::Static(names) => {
                    if let Some(&index) = names.get(&sym) {
                        return Rc::new(Expr::Local { depth, index });
                    }
                }
                Scope::With => withs.push(depth),
            }
        }
        if withs.is_empty() {
            return self.err(span, format!("undefined variable '{name}'"));
        }
        let name = self.name(name);
        Rc::new(Expr::WithVar {
            name,
            withs: withs.into(),
            span,
        })
    }

    fn expr(&mut self, e: &ast::Expr) -> Rc<Expr> {
        let span = span_of(self.file, e.syntax());
        match e {
            ast::Expr::Literal(l) => match l.kind() {
                ast::LiteralKind::Integer(i) => match i.value() {
                    Ok(v) => Rc::new(Expr::Const(Value::Int(v))),
                    Err(_) => self.err(span, format!("invalid integer '{}'", i.syntax().text())),
                },
                ast::LiteralKind::Float(f) => match f.value() {
                    Ok(v) => Rc::new(Expr::Const(Value::Float(v))),
                    Err(_) => self.err(span, format!("invalid float '{}'", f.syntax().text())),
                },
                ast::LiteralKind::Uri(u) => Rc::new(Expr::Const(Value::str(u.syntax().text()))),
            },
            ast::Expr::Ident(i) => {
                let text = i.syntax().text().to_string();
                self.lookup(&text, span)
            }
            ast::Expr::Str(s) => self.string(s, span),
            ast::Expr::PathAbs(p) => self.path(p.parts(), span, false),
            ast::Expr::PathRel(p) => self.path(p.parts(), span, true),
            ast::Expr::PathHome(p) => {
                // `~/x`: relative to $HOME, resolved when evaluated.
                let parts = p.parts();
                self.path(parts, span, false)
            }
            ast::Expr::PathSearch(p) => {
                let text = p.content().map(|c| c.text().to_owned()).unwrap_or_default();
                let name = text
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned();
                let find = self.lookup("__findFile", span);
                let nix_path = self.lookup("__nixPath", span);
                let inner = Rc::new(Expr::Apply {
                    func: find,
                    arg: nix_path,
                    span,
                });
                Rc::new(Expr::Apply {
                    func: inner,
                    arg: Rc::new(Expr::Const(Value::str(name))),
                    span,
                })
            }
            ast::Expr::Paren(p) => match p.expr() {
                Some(e) => self.expr(&e),
                None => self.err(span, "empty parentheses"),
            },
            ast::Expr::List(l) => {
                let items = l.items().map(|i| self.expr(&i)).collect();
                Rc::new(Expr::List(items))
            }
            ast::Expr::AttrSet(a) => {
                let rec = a.rec_token().is_some();
                let def = self.attrs(a, rec, false);
                Rc::new(Expr::Attrs(def))
            }
            ast::Expr::LetIn(l) => {
                let def = self.attrs(l, true, true);
                let names = def
                    .statics
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.name.clone(), i as u32))
                    .collect();
                self.scopes.push(Scope::Static(Rc::new(names)));
                let body = match l.body() {
                    Some(b) => self.expr(&b),
                    None => self.err(span, "'let' without a body"),
                };
                self.scopes.pop();
                Rc::new(Expr::Let { def, body })
            }
            ast::Expr::LegacyLet(l) => {
                // `let { body = ...; }`: a recursive set whose `body` is the value.
                let def = self.attrs(l, true, true);
                let names: BTreeMap<Name, u32> = def
                    .statics
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.name.clone(), i as u32))
                    .collect();
                self.scopes.push(Scope::Static(Rc::new(names)));
                let body = self.lookup("body", span);
                self.scopes.pop();
                Rc::new(Expr::Let { def, body })
            }
            ast::Expr::With(w) => {
                let ns = match w.namespace() {
                    Some(n) => self.expr(&n),
                    None => self.err(span, "'with' without a namespace"),
                };
                self.scopes.push(Scope::With);
                let body = match w.body() {
                    Some(b) => self.expr(&b),
                    None => self.err(span, "'with' without a body"),
                };
                self.scopes.pop();
                Rc::new(Expr::With { ns, body, span })
            }
            ast::Expr::IfElse(i) => {
                let cond = self.opt(i.condition(), span, "missing condition");
                let then = self.opt(i.body(), span, "missing 'then' branch");
                let else_ = self.opt(i.else_body(), span, "missing 'else' branch");
                Rc::new(Expr::If {
                    cond,
                    then,
                    else_,
                    span,
                })
            }
            ast::Expr::Assert(a) => {
                let text = a
                    .condition()
                    .map(|c| c.syntax().text().to_string())
                    .unwrap_or_default();
                let cond = self.opt(a.condition(), span, "missing assertion");
                let body = self.opt(a.body(), span, "missing body after 'assert'");
                let cspan = a
                    .condition()
                    .map(|c| span_of(self.file, c.syntax()))
                    .unwrap_or(span);
                Rc::new(Expr::Assert {
                    cond,
                    body,
                    span: cspan,
                    text,
                })
            }
            ast::Expr::UnaryOp(u) => {
                let inner = self.opt(u.expr(), span, "missing operand");
                match u.operator() {
                    Some(ast::UnaryOpKind::Invert) => Rc::new(Expr::Not { expr: inner, span }),
                    Some(ast::UnaryOpKind::Negate) => Rc::new(Expr::Neg { expr: inner, span }),
                    None => self.err(span, "unknown unary operator"),
                }
            }
            ast::Expr::BinOp(b) => {
                let lhs = self.opt(b.lhs(), span, "missing left operand");
                let rhs = self.opt(b.rhs(), span, "missing right operand");
                let op = match b.operator() {
                    Some(ast::BinOpKind::Add) => BinOp::Add,
                    Some(ast::BinOpKind::Sub) => BinOp::Sub,
                    Some(ast::BinOpKind::Mul) => BinOp::Mul,
                    Some(ast::BinOpKind::Div) => BinOp::Div,
                    Some(ast::BinOpKind::Concat) => BinOp::Concat,
                    Some(ast::BinOpKind::Update) => BinOp::Update,
                    Some(ast::BinOpKind::Equal) => BinOp::Eq,
                    Some(ast::BinOpKind::NotEqual) => BinOp::Ne,
                    Some(ast::BinOpKind::Less) => BinOp::Lt,
                    Some(ast::BinOpKind::LessOrEq) => BinOp::Le,
                    Some(ast::BinOpKind::More) => BinOp::Gt,
                    Some(ast::BinOpKind::MoreOrEq) => BinOp::Ge,
                    Some(ast::BinOpKind::And) => BinOp::And,
                    Some(ast::BinOpKind::Or) => BinOp::Or,
                    Some(ast::BinOpKind::Implication) => BinOp::Impl,
                    Some(ast::BinOpKind::PipeLeft | ast::BinOpKind::PipeRight) => {
                        return self.err(span, "the pipe operators '|>' and '<|' are not part of the Nix language strata implements");
                    }
                    None => return self.err(span, "unknown operator"),
                };
                Rc::new(Expr::Bin { op, lhs, rhs, span })
            }
            ast::Expr::Select(s) => {
                let expr = self.opt(s.expr(), span, "missing expression before '.'");
                let path = match s.attrpath() {
                    Some(p) => self.attrpath(&p),
                    None => {
                        self.err(span, "missing attribute name after '.'");
                        Vec::new()
                    }
                };
                let default = s.default_expr().map(|d| self.expr(&d));
                Rc::new(Expr::Select {
                    expr,
                    path,
                    default,
                    span,
                })
            }
            ast::Expr::HasAttr(h) => {
                let expr = self.opt(h.expr(), span, "missing expression before '?'");
                let path = match h.attrpath() {
                    Some(p) => self.attrpath(&p),
                    None => {
                        self.err(span, "missing attribute name after '?'");
                        Vec::new()
                    }
                };
                Rc::new(Expr::HasAttr { expr, path, span })
            }
            ast::Expr::Apply(a) => {
                let func = self.opt(a.lambda(), span, "missing function");
                let arg = self.opt(a.argument(), span, "missing argument");
                Rc::new(Expr::Apply { func, arg, span })
            }
            ast::Expr::Lambda(l) => Rc::new(Expr::Lambda(self.lambda(l, span, None))),
            ast::Expr::CurPos(_) => Rc::new(Expr::CurPos(span)),
            ast::Expr::Root(r) => match r.expr() {
                Some(e) => self.expr(&e),
                None => self.err(span, "empty expression"),
            },
            ast::Expr::Error(_) => self.err(span, format!("unexpected '{}'", e.syntax().text())),
        }
    }

    fn opt(&mut self, e: Option<ast::Expr>, span: Span, what: &str) -> Rc<Expr> {
        match e {
            Some(e) => self.expr(&e),
            None => self.err(span, what.to_owned()),
        }
    }

    fn lambda(&mut self, l: &ast::Lambda, span: Span, name: Option<Name>) -> Rc<LambdaDef> {
        let param = match l.param() {
            Some(ast::Param::IdentParam(p)) => {
                let n = p
                    .ident()
                    .map(|i| i.syntax().text().to_string())
                    .unwrap_or_default();
                Param::Ident(self.name(&n))
            }
            Some(ast::Param::Pattern(p)) => {
                let mut formals = Vec::new();
                let mut entries: Vec<(String, Option<ast::Expr>, Span)> = Vec::new();
                for e in p.pat_entries() {
                    let n = e
                        .ident()
                        .map(|i| i.syntax().text().to_string())
                        .unwrap_or_default();
                    let espan = span_of(self.file, e.syntax());
                    if entries.iter().any(|(m, _, _)| *m == n) {
                        self.err(espan, format!("duplicate formal function argument '{n}'"));
                    }
                    entries.push((n, e.default(), espan));
                }
                let bind = p
                    .pat_bind()
                    .and_then(|b| b.ident())
                    .map(|i| i.syntax().text().to_string());
                if let Some(b) = &bind {
                    if entries.iter().any(|(m, _, _)| m == b) {
                        self.err(span, format!("duplicate formal function argument '{b}'"));
                    }
                }
                // Formals sorted by name (as functionArgs lists them); slots follow that order.
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let mut names: BTreeMap<Name, u32> = BTreeMap::new();
                for (i, (n, _, _)) in entries.iter().enumerate() {
                    let nm = self.name(n);
                    names.insert(nm, i as u32);
                }
                let bind_name = bind.map(|b| self.name(&b));
                if let Some(b) = &bind_name {
                    names.insert(b.clone(), entries.len() as u32);
                }
                // Defaults see every formal.
                self.scopes.push(Scope::Static(Rc::new(names)));
                for (n, d, s) in entries {
                    let default = d.map(|d| self.expr(&d));
                    let nm = self.name(&n);
                    formals.push((nm, default, s));
                }
                self.scopes.pop();
                Param::Pattern {
                    formals,
                    ellipsis: p.ellipsis_token().is_some(),
                    bind: bind_name,
                }
            }
            None => {
                self.err(span, "function without a parameter");
                Param::Ident(self.name("_"))
            }
        };
        let names: BTreeMap<Name, u32> = match &param {
            Param::Ident(n) => [(n.clone(), 0)].into_iter().collect(),
            Param::Pattern { formals, bind, .. } => {
                let mut m: BTreeMap<Name, u32> = formals
                    .iter()
                    .enumerate()
                    .map(|(i, (n, _, _))| (n.clone(), i as u32))
                    .collect();
                if let Some(b) = bind {
                    m.insert(b.clone(), formals.len() as u32);
                }
                m
            }
        };
        self.scopes.push(Scope::Static(Rc::new(names)));
        let body = self.opt(l.body(), span, "function without a body");
        self.scopes.pop();
        Rc::new(LambdaDef {
            param,
            body,
            span,
            name,
        })
    }

    fn string(&mut self, s: &ast::Str, span: Span) -> Rc<Expr> {
        let mut parts = Vec::new();
        for p in s.normalized_parts() {
            match p {
                ast::InterpolPart::Literal(l) => {
                    if !l.is_empty() {
                        parts.push(Part::Lit(l.into_bytes()));
                    }
                }
                ast::InterpolPart::Interpolation(i) => {
                    let e = self.opt(i.expr(), span, "empty interpolation");
                    parts.push(Part::Expr(e));
                }
            }
        }
        match parts.as_slice() {
            [] => Rc::new(Expr::Const(Value::str(""))),
            [Part::Lit(l)] => Rc::new(Expr::Const(Value::str(l.clone()))),
            _ => Rc::new(Expr::Str { parts, span }),
        }
    }

    fn path(
        &mut self,
        raw: Vec<ast::InterpolPart<ast::PathContent>>,
        span: Span,
        relative: bool,
    ) -> Rc<Expr> {
        let mut parts = Vec::new();
        for p in raw {
            match p {
                ast::InterpolPart::Literal(l) => {
                    parts.push(Part::Lit(l.text().as_bytes().to_vec()))
                }
                ast::InterpolPart::Interpolation(i) => {
                    let e = self.opt(i.expr(), span, "empty interpolation");
                    parts.push(Part::Expr(e));
                }
            }
        }
        let base = if relative {
            match &self.base_dir {
                Some(b) => Some(b.clone()),
                None => {
                    return self.err(span, "relative path in an expression that has no directory")
                }
            }
        } else {
            None
        };
        Rc::new(Expr::Path { parts, base, span })
    }

    fn attr_name(&mut self, a: &ast::Attr) -> AttrName {
        match a {
            ast::Attr::Ident(i) => {
                let t = i.syntax().text().to_string();
                AttrName::Static(self.name(&t))
            }
            ast::Attr::Str(s) => {
                let span = span_of(self.file, s.syntax());
                let e = self.string(s, span);
                match &*e {
                    Expr::Const(Value::String(st)) => {
                        let t = st.to_str_lossy().into_owned();
                        AttrName::Static(self.name(&t))
                    }
                    _ => AttrName::Dynamic(e),
                }
            }
            ast::Attr::Dynamic(d) => {
                let span = span_of(self.file, d.syntax());
                let e = self.opt(d.expr(), span, "empty dynamic attribute");
                match &*e {
                    Expr::Const(Value::String(st)) => {
                        let t = st.to_str_lossy().into_owned();
                        AttrName::Static(self.name(&t))
                    }
                    _ => AttrName::Dynamic(e),
                }
            }
        }
    }

    fn attrpath(&mut self, p: &ast::Attrpath) -> Vec<AttrName> {
        p.attrs().map(|a| self.attr_name(&a)).collect()
    }

    /// Lowers the entries of a set or `let`. For `rec`/`let`, the frame's scope is pushed
    /// while values are lowered (inherits without a source use the enclosing scope).
    fn attrs(&mut self, node: &impl HasEntry, rec: bool, is_let: bool) -> Rc<AttrsDef> {
        // First pass: the static names, so recursive references resolve.
        let mut top: NestedSet = NestedSet::default();
        // Collect the syntax first; lowering values needs the scope in place.
        struct Def {
            path: Vec<ast::Attr>,
            value: Option<ast::Expr>,
            span: Span,
        }
        let mut defs: Vec<Def> = Vec::new();
        let mut inherits: Vec<(Option<ast::Expr>, Vec<ast::Attr>, Span)> = Vec::new();
        for entry in node.entries() {
            match entry {
                ast::Entry::AttrpathValue(av) => {
                    let span = span_of(self.file, av.syntax());
                    let path: Vec<ast::Attr> = av
                        .attrpath()
                        .map(|p| p.attrs().collect())
                        .unwrap_or_default();
                    defs.push(Def {
                        path,
                        value: av.value(),
                        span,
                    });
                }
                ast::Entry::Inherit(i) => {
                    let span = span_of(self.file, i.syntax());
                    inherits.push((i.from().and_then(|f| f.expr()), i.attrs().collect(), span));
                }
            }
        }
        // Static top-level names, in order to assign slots.
        let mut static_names: BTreeMap<Name, ()> = BTreeMap::new();
        for d in &defs {
            if let Some(first) = d.path.first() {
                if let AttrName::Static(n) = self.attr_name_peek(first) {
                    static_names.insert(n, ());
                }
            }
        }
        for (_, attrs, _) in &inherits {
            for a in attrs {
                if let AttrName::Static(n) = self.attr_name_peek(a) {
                    static_names.insert(n, ());
                }
            }
        }
        let slot_names: BTreeMap<Name, u32> = static_names
            .keys()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();

        // Inherits without a source resolve in the enclosing scope: lower them first.
        let mut inherited: Vec<(Name, AttrValue, Span)> = Vec::new();
        for (from, attrs, span) in &inherits {
            if from.is_none() {
                for a in attrs {
                    match self.attr_name(a) {
                        AttrName::Static(n) => {
                            let aspan = inherit_span(self.file, a);
                            let v = self.lookup(&n, aspan);
                            inherited.push((n, AttrValue::Inherited(v), aspan));
                        }
                        AttrName::Dynamic(_) => {
                            self.err(*span, "dynamic attributes are not allowed in 'inherit'");
                        }
                    }
                }
            }
        }
        if rec {
            self.scopes.push(Scope::Static(Rc::new(slot_names.clone())));
        }
        for (from, attrs, span) in &inherits {
            if let Some(from) = from {
                let src = self.expr(from);
                for a in attrs {
                    match self.attr_name(a) {
                        AttrName::Static(n) => {
                            let v = Rc::new(Expr::Select {
                                expr: src.clone(),
                                path: vec![AttrName::Static(n.clone())],
                                default: None,
                                span: *span,
                            });
                            inherited.push((n, AttrValue::Expr(v), inherit_span(self.file, a)));
                        }
                        AttrName::Dynamic(_) => {
                            self.err(*span, "dynamic attributes are not allowed in 'inherit'");
                        }
                    }
                }
            }
        }
        for (n, v, span) in inherited {
            if let Some(prev) = top.statics.get(&n) {
                let prev_span = match prev {
                    Pending::Done(_, s) | Pending::Nested(_, s) => *s,
                };
                self.already(span, &n, prev_span);
                continue;
            }
            top.statics.insert(n, Pending::Done(v, span));
        }
        for d in defs {
            let Some(value) = d.value else {
                self.err(d.span, "attribute without a value");
                continue;
            };
            let path: Vec<AttrName> = d.path.iter().map(|a| self.attr_name(a)).collect();
            if path.is_empty() {
                self.err(d.span, "attribute without a name");
                continue;
            }
            self.insert_def(&mut top, path, &value, d.span, is_let, "");
        }
        if rec {
            self.scopes.pop();
        }
        let statics = top
            .statics
            .into_iter()
            .map(|(name, p)| self.finish(name, p))
            .collect::<Vec<_>>();
        if is_let && !top.dynamics.is_empty() {
            let span = top.dynamics[0].2;
            self.err(span, "dynamic attributes not allowed in let");
        }
        Rc::new(AttrsDef {
            rec,
            statics,
            dynamics: top.dynamics,
        })
    }

    fn attr_name_peek(&mut self, a: &ast::Attr) -> AttrName {
        match a {
            ast::Attr::Ident(i) => {
                let t = i.syntax().text().to_string();
                AttrName::Static(self.name(&t))
            }
            ast::Attr::Str(s) => {
                // Only a string with no interpolation is a static name.
                let parts = s.normalized_parts();
                match parts.as_slice() {
                    [] => AttrName::Static(self.name("")),
                    [ast::InterpolPart::Literal(l)] => AttrName::Static(self.name(l)),
                    _ => AttrName::Dynamic(Rc::new(Expr::Const(Value::Null))),
                }
            }
            ast::Attr::Dynamic(d) => match d.expr() {
                Some(ast::Expr::Str(s)) => {
                    let parts = s.normalized_parts();
                    match parts.as_slice() {
                        [] => AttrName::Static(self.name("")),
                        [ast::InterpolPart::Literal(l)] => AttrName::Static(self.name(l)),
                        _ => AttrName::Dynamic(Rc::new(Expr::Const(Value::Null))),
                    }
                }
                _ => AttrName::Dynamic(Rc::new(Expr::Const(Value::Null))),
            },
        }
    }

    fn finish(&mut self, name: Name, p: Pending) -> StaticAttr {
        match p {
            Pending::Done(value, span) => StaticAttr { name, value, span },
            Pending::Nested(set, span) => {
                let statics = set
                    .statics
                    .into_iter()
                    .map(|(n, p)| self.finish(n, p))
                    .collect();
                let def = AttrsDef {
                    rec: false,
                    statics,
                    dynamics: set.dynamics,
                };
                StaticAttr {
                    name,
                    value: AttrValue::Expr(Rc::new(Expr::Attrs(Rc::new(def)))),
                    span,
                }
            }
        }
    }

    fn insert_def(
        &mut self,
        set: &mut NestedSet,
        mut path: Vec<AttrName>,
        value: &ast::Expr,
        span: Span,
        is_let: bool,
        prefix: &str,
    ) {
        let first = path.remove(0);
        match first {
            AttrName::Dynamic(name_expr) => {
                // A dynamic name: the rest of the path becomes a nested literal set.
                let v = if path.is_empty() {
                    self.value_expr(value, None)
                } else {
                    let mut nested = NestedSet::default();
                    self.insert_def(&mut nested, path, value, span, false, prefix);
                    let statics = nested
                        .statics
                        .into_iter()
                        .map(|(n, p)| self.finish(n, p))
                        .collect();
                    Rc::new(Expr::Attrs(Rc::new(AttrsDef {
                        rec: false,
                        statics,
                        dynamics: nested.dynamics,
                    })))
                };
                set.dynamics.push((name_expr, v, span));
            }
            AttrName::Static(name) => {
                let full = format!("{prefix}{name}");
                let sub_prefix = format!("{full}.");
                if path.is_empty() {
                    // `a = { ... };` merges with `a.b = ...` definitions when it is a literal
                    // non-recursive set.
                    if let Some(existing) = set.statics.get_mut(&name) {
                        let prev_span = match existing {
                            Pending::Done(_, s) | Pending::Nested(_, s) => *s,
                        };
                        if let (Pending::Nested(nested, _), ast::Expr::AttrSet(lit)) =
                            (existing, value)
                        {
                            if lit.rec_token().is_none() {
                                self.merge_literal(nested, lit, is_let, &sub_prefix);
                                return;
                            }
                        }
                        self.already(span, &full, prev_span);
                        return;
                    }
                    if let ast::Expr::AttrSet(lit) = value {
                        if lit.rec_token().is_none() && lit.inherits().next().is_none() {
                            let mut nested = NestedSet::default();
                            self.merge_literal(&mut nested, lit, is_let, &sub_prefix);
                            set.statics.insert(name, Pending::Nested(nested, span));
                            return;
                        }
                    }
                    let v = self.value_expr(value, Some(name.clone()));
                    set.statics
                        .insert(name, Pending::Done(AttrValue::Expr(v), span));
                } else {
                    match set.statics.get_mut(&name) {
                        Some(Pending::Nested(nested, _)) => {
                            self.insert_def(nested, path, value, span, false, &sub_prefix);
                        }
                        Some(Pending::Done(_, prev)) => {
                            let prev = *prev;
                            let rest: Vec<String> = path
                                .iter()
                                .map(|a| match a {
                                    AttrName::Static(n) => n.to_string(),
                                    AttrName::Dynamic(_) => "${...}".to_owned(),
                                })
                                .collect();
                            self.already(span, &format!("{full}.{}", rest.join(".")), prev);
                        }
                        None => {
                            let mut nested = NestedSet::default();
                            self.insert_def(&mut nested, path, value, span, false, &sub_prefix);
                            set.statics.insert(name, Pending::Nested(nested, span));
                        }
                    }
                }
            }
        }
    }

    fn merge_literal(
        &mut self,
        nested: &mut NestedSet,
        lit: &ast::AttrSet,
        _is_let: bool,
        prefix: &str,
    ) {
        for entry in lit.entries() {
            match entry {
                ast::Entry::AttrpathValue(av) => {
                    let span = span_of(self.file, av.syntax());
                    let path: Vec<AttrName> = av
                        .attrpath()
                        .map(|p| p.attrs().map(|a| self.attr_name(&a)).collect())
                        .unwrap_or_default();
                    match av.value() {
                        Some(v) if !path.is_empty() => {
                            self.insert_def(nested, path, &v, span, false, prefix)
                        }
                        _ => {
                            self.err(span, "attribute without a name or value");
                        }
                    }
                }
                ast::Entry::Inherit(i) => {
                    let span = span_of(self.file, i.syntax());
                    self.err(
                        span,
                        "'inherit' in a set merged with attribute paths is not supported",
                    );
                }
            }
        }
    }

    fn value_expr(&mut self, value: &ast::Expr, name: Option<Name>) -> Rc<Expr> {
        if let (ast::Expr::Lambda(l), Some(_)) = (value, &name) {
            let span = span_of(self.file, l.syntax());
            return Rc::new(Expr::Lambda(self.lambda(l, span, name)));
        }
        self.expr(value)
    }
}

/// The position Nix 2.8 gives an inherited attribute: where the whitespace before its name
/// starts (a quirk of its lexer that `unsafeGetAttrPos` shows).
fn inherit_span(file: u32, a: &ast::Attr) -> Span {
    let mut span = span_of(file, a.syntax());
    if let Some(rowan::NodeOrToken::Token(t)) = a.syntax().prev_sibling_or_token() {
        if t.kind() == rnix::SyntaxKind::TOKEN_WHITESPACE {
            span.start = t.text_range().start().into();
        }
    }
    span
}

fn describe_parse_error(file: u32, text: &str, e: &rnix::ParseError) -> (Span, String) {
    use rnix::ParseError as P;
    let at = |r: &rnix::TextRange| Span {
        file,
        start: r.start().into(),
        end: r.end().into(),
    };
    let end = text.len() as u32;
    let eof = Span {
        file,
        start: end,
        end,
    };
    // What the parser tripped over, as the user wrote it.
    let shown = |r: &rnix::TextRange, kind: Option<rnix::SyntaxKind>| -> String {
        let s = text
            .get(usize::from(r.start())..usize::from(r.end()))
            .unwrap_or("");
        if kind == Some(rnix::SyntaxKind::TOKEN_ERROR) || s.is_empty() {
            if u32::from(r.end()) >= end || s.starts_with('"') || s.starts_with("''") {
                return "end of file".to_owned();
            }
            if s.ends_with('/') && s.contains('/') {
                return format!("'{s}' (a path cannot end with a slash)");
            }
            return format!("invalid token '{s}'");
        }
        let first: String = s
            .chars()
            .take_while(|c| !c.is_whitespace())
            .take(24)
            .collect();
        format!("'{first}'")
    };
    let expecting = |want: &[rnix::SyntaxKind]| -> String {
        // Long lists of alternatives help no one; Nix, too, names at most a few.
        if want.is_empty() || want.len() > 4 {
            return String::new();
        }
        let names: Vec<String> = want.iter().map(|k| token_name(*k)).collect();
        format!(", expecting {}", names.join(" or "))
    };
    match e {
        P::Unexpected(r) => (at(r), format!("unexpected {}", shown(r, None))),
        P::UnexpectedExtra(r) => (
            at(r),
            format!("unexpected {}, expecting end of file", shown(r, None)),
        ),
        P::UnexpectedWanted(got, r, want) => (
            at(r),
            format!("unexpected {}{}", shown(r, Some(*got)), expecting(want)),
        ),
        P::UnexpectedDoubleBind(r) => (
            at(r),
            "a pattern can be bound to only one name with '@'".into(),
        ),
        P::UnexpectedEOF => (eof, "unexpected end of file".into()),
        P::UnexpectedEOFWanted(want) => (eof, format!("unexpected end of file{}", expecting(want))),
        P::DuplicatedArgs(r, n) => (at(r), format!("duplicate formal function argument '{n}'")),
        P::RecursionLimitExceeded => (eof, "the expression nests too deeply to parse".into()),
        _ => (eof, e.to_string()),
    }
}

fn token_name(k: rnix::SyntaxKind) -> String {
    use rnix::SyntaxKind::*;
    let s = match k {
        TOKEN_SEMICOLON => "';'",
        TOKEN_L_BRACE => "'{'",
        TOKEN_R_BRACE => "'}'",
        TOKEN_L_BRACK => "'['",
        TOKEN_R_BRACK => "']'",
        TOKEN_L_PAREN => "'('",
        TOKEN_R_PAREN => "')'",
        TOKEN_ASSIGN => "'='",
        TOKEN_COLON => "':'",
        TOKEN_COMMA => "','",
        TOKEN_DOT => "'.'",
        TOKEN_IN => "'in'",
        TOKEN_THEN => "'then'",
        TOKEN_ELSE => "'else'",
        TOKEN_IDENT => "an identifier",
        TOKEN_STRING_END => "the closing quote of the string",
        TOKEN_STRING_CONTENT => "string text",
        TOKEN_INTERPOL_START => "'${'",
        TOKEN_INTERPOL_END => "'}' closing the interpolation",
        TOKEN_OR => "'or'",
        TOKEN_CUR_POS => "'__curPos'",
        other => {
            return format!("{other:?}")
                .trim_start_matches("TOKEN_")
                .trim_start_matches("NODE_")
                .to_lowercase()
        }
    };
    s.to_owned()
}
