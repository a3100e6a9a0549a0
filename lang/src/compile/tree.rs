//! The lowered expression tree the evaluator runs: expressions, attribute sets, functions
//! and string pieces, with variables already resolved to frame slots.

use std::rc::Rc;

use crate::source::Span;
use crate::value::{Name, Value};

/// A string or path piece: literal bytes or an interpolated expression.
#[derive(Debug)]
pub enum Part {
    Lit(Vec<u8>),
    Expr(Rc<Expr>),
}

/// The attribute path of a selection or `?`. Most have one name, which is then kept inside the
/// expression node rather than behind a pointer of its own.
pub type AttrPath = smallvec::SmallVec<[AttrName; 1]>;

/// The set a selection reads from, or the function a call calls: a variable's slot is kept in
/// the node, so `cfg.enable` or `f x` visits one node, not two.
#[derive(Debug)]
pub enum Operand {
    Local { depth: u32, index: u32 },
    Expr(Rc<Expr>),
}

impl Operand {
    pub fn new(e: Rc<Expr>) -> Operand {
        match &*e {
            Expr::Local { depth, index } => Operand::Local {
                depth: *depth,
                index: *index,
            },
            _ => Operand::Expr(e),
        }
    }
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
        expr: Operand,
        path: AttrPath,
        default: Option<Rc<Expr>>,
        span: Span,
    },
    HasAttr {
        expr: Rc<Expr>,
        path: AttrPath,
        span: Span,
    },
    Lambda(Rc<LambdaDef>),
    Apply {
        func: Operand,
        arg: Rc<Expr>,
        span: Span,
        /// `arg`'s frame slot when it is a variable: the call reads it without visiting
        /// the argument's node.
        arg_slot: Option<(u32, u32)>,
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

impl Expr {
    /// `func arg`.
    pub fn apply(func: Rc<Expr>, arg: Rc<Expr>, span: Span) -> Expr {
        let arg_slot = match &*arg {
            Expr::Local { depth, index } => Some((*depth, *index)),
            _ => None,
        };
        Expr::Apply {
            func: Operand::new(func),
            arg,
            span,
            arg_slot,
        }
    }
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
