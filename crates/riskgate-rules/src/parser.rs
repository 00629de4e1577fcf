//! Recursive-descent parser from tokens to an untyped syntax tree; types are checked later.
//!
//! The parser enforces [`MAX_DEPTH`] before it descends and [`MAX_NODES`] /
//! [`MAX_SET_LEN`] as it builds, so every tree it returns is small and shallow
//! enough for the recursive compiler and evaluator.

use crate::error::{Pos, RuleError, RuleErrorKind};
use crate::eval::CmpOp;
use crate::lexer::{Tok, Token};
use crate::limits::{MAX_DEPTH, MAX_NODES, MAX_SET_LEN};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// A comparison, as it is evaluated.
    Cmp(CmpOp),
    And,
    Or,
}

impl BinOp {
    /// The operator as error messages name it, e.g. "`+`".
    pub fn quoted(self) -> &'static str {
        match self {
            BinOp::Add => "`+`",
            BinOp::Sub => "`-`",
            BinOp::Mul => "`*`",
            BinOp::Div => "`/`",
            BinOp::Cmp(CmpOp::Lt) => "`<`",
            BinOp::Cmp(CmpOp::Le) => "`<=`",
            BinOp::Cmp(CmpOp::Gt) => "`>`",
            BinOp::Cmp(CmpOp::Ge) => "`>=`",
            BinOp::Cmp(CmpOp::Eq) => "`==`",
            BinOp::Cmp(CmpOp::Ne) => "`!=`",
            BinOp::And => "`and`",
            BinOp::Or => "`or`",
        }
    }

    pub fn symbol(self) -> &'static str {
        let q = self.quoted();
        &q[1..q.len() - 1]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quant {
    Any,
    All,
    Count,
    Sum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Abs,
    Min,
    Max,
}

#[derive(Debug, Clone)]
pub(crate) enum Lit {
    Num(f64),
    Str(String),
}

/// Right-hand side of `in` / `starts_with`.
#[derive(Debug, Clone)]
pub(crate) enum SetExpr {
    Lits(Vec<(Lit, Pos)>),
    List(String, Pos),
    /// `starts_with "8517"`: a single string.
    One(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    /// Where the expression starts; type errors about it point here.
    pub pos: Pos,
    /// Height of the tree below: 0 for a leaf, else 1 + the highest child.
    pub height: u32,
}

#[derive(Debug, Clone)]
pub(crate) enum ExprKind {
    Num(f64),
    Str(String),
    Bool(bool),
    Field(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    /// A chain `a and b and ...` (op is `And`) or `a or b or ...` (`Or`) of
    /// two or more operands, kept flat so long chains do not deepen the tree.
    Logic {
        op: BinOp,
        operands: Vec<Expr>,
    },
    /// Arithmetic or a comparison; never `And` / `Or`, which are [`ExprKind::Logic`].
    Bin {
        op: BinOp,
        op_pos: Pos,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    In {
        negated: bool,
        op_pos: Pos,
        value: Box<Expr>,
        set: SetExpr,
    },
    StartsWith {
        op_pos: Pos,
        value: Box<Expr>,
        set: SetExpr,
    },
    Call {
        func: Func,
        args: Vec<Expr>,
    },
    Quant {
        quant: Quant,
        body: Box<Expr>,
    },
    /// `missing(f)` (present == false) or `present(f)`.
    Presence {
        present: bool,
        field: String,
        field_pos: Pos,
    },
}

impl ExprKind {
    /// The direct sub-expressions, for measuring and walking the tree.
    pub fn children(&self) -> impl Iterator<Item = &Expr> {
        let (one, many): (Option<&Expr>, &[Expr]) = match self {
            ExprKind::Num(_) | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Field(_) => (None, &[]),
            ExprKind::Presence { .. } => (None, &[]),
            ExprKind::Neg(x) | ExprKind::Not(x) => (Some(x), &[]),
            ExprKind::Quant { body, .. } => (Some(body), &[]),
            ExprKind::In { value, .. } | ExprKind::StartsWith { value, .. } => (Some(value), &[]),
            ExprKind::Bin { lhs, rhs, .. } => (Some(lhs), std::slice::from_ref(&**rhs)),
            ExprKind::Logic { operands, .. } => (None, operands),
            ExprKind::Call { args, .. } => (None, args),
        };
        one.into_iter().chain(many)
    }
}

pub(crate) fn parse(tokens: &[Token<'_>]) -> Result<Expr, RuleError> {
    let mut p = Parser { tokens, at: 0, depth: 0, nodes: 0 };
    let e = p.expr(0)?;
    p.expect(Tok::Eof, "end of rule")?;
    Ok(e)
}

struct Parser<'t, 'a> {
    tokens: &'t [Token<'a>],
    at: usize,
    /// Open nesting levels (parentheses, `not`, unary `-`, call arguments).
    depth: usize,
    /// Nodes built so far, set elements included.
    nodes: usize,
}

// Binding strength of operators, loosest first, as in the grammar.
pub(crate) const OR: u8 = 1;
pub(crate) const AND: u8 = 2;
pub(crate) const NOT: u8 = 3;
pub(crate) const TEST: u8 = 4;
pub(crate) const SUM: u8 = 5;
pub(crate) const PRODUCT: u8 = 6;
pub(crate) const UNARY: u8 = 7;
pub(crate) const PRIMARY: u8 = 8;

fn limit(pos: Pos, msg: impl Into<String>) -> RuleError {
    RuleError::new(RuleErrorKind::Limit, pos, msg)
}

#[cold]
#[inline(never)]
fn too_deep(pos: Pos) -> RuleError {
    limit(pos, format!("nested too deeply; the limit is {MAX_DEPTH} levels"))
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> &Token<'a> {
        &self.tokens[self.at]
    }

    fn peek_at(&self, n: usize) -> &Token<'a> {
        &self.tokens[(self.at + n).min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token<'a> {
        let t = self.tokens[self.at].clone();
        if t.tok != Tok::Eof {
            self.at += 1;
        }
        t
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(w) if w == word)
    }

    #[cold]
    #[inline(never)]
    fn error(&self, expected: &str) -> RuleError {
        let t = self.peek();
        RuleError::new(RuleErrorKind::Syntax, t.pos, format!("expected {expected}, found {}", t.describe()))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token<'a>, RuleError> {
        if self.peek().tok == tok { Ok(self.next()) } else { Err(self.error(what)) }
    }

    /// Opens a nesting level at `pos`, before descending into it.
    fn enter(&mut self, pos: Pos) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(too_deep(pos)) } else { Ok(()) }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Counts `n` more nodes, failing at `pos` past [`MAX_NODES`].
    fn count(&mut self, n: usize, pos: Pos) -> Result<(), RuleError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(limit(pos, format!("rule is too large; the limit is {MAX_NODES} nodes")));
        }
        Ok(())
    }

    /// Builds a node starting at `pos`; a limit it breaks is reported at `at`.
    fn node(&mut self, kind: ExprKind, pos: Pos, at: Pos) -> Result<Expr, RuleError> {
        let height = kind.children().map(|c| c.height + 1).max().unwrap_or(0);
        if height as usize > MAX_DEPTH {
            return Err(too_deep(at));
        }
        self.count(1, at)?;
        Ok(Expr { kind, pos, height })
    }

    /// An expression whose loosest operator binds at least as tightly as
    /// `min` (precedence climbing). One call per nesting level, together with
    /// [`Self::prefix`], keeps the stack each level costs small.
    fn expr(&mut self, min: u8) -> Result<Expr, RuleError> {
        let mut lhs = self.prefix(min)?;
        while let Some(level) = self.infix_level() {
            if level < min {
                break;
            }
            lhs = match level {
                OR | AND => self.chain(lhs, level)?,
                TEST => self.test(lhs)?,
                _ => self.arith(lhs, level)?,
            };
        }
        Ok(lhs)
    }

    fn infix_level(&self) -> Option<u8> {
        let t = self.peek();
        Some(match &t.tok {
            Tok::Plus | Tok::Minus => SUM,
            Tok::Star | Tok::Slash => PRODUCT,
            tok if cmp_op(tok).is_some() => TEST,
            Tok::Ident(w) => match w.as_str() {
                "or" => OR,
                "and" => AND,
                "in" | "starts_with" => TEST,
                "not" if self.peek_at(1).text == "in" => TEST,
                _ => return None,
            },
            _ => return None,
        })
    }

    /// `lhs or ...` / `lhs and ...`: operands that bind tighter, as one flat node.
    fn chain(&mut self, first: Expr, level: u8) -> Result<Expr, RuleError> {
        let op = if level == OR { BinOp::Or } else { BinOp::And };
        let op_pos = self.peek().pos;
        let pos = first.pos;
        let mut operands = vec![first];
        while self.is_word(op.symbol()) {
            self.next();
            operands.push(self.expr(level + 1)?);
        }
        self.node(ExprKind::Logic { op, operands }, pos, op_pos)
    }

    /// `lhs + rhs` and the like, left-associative.
    fn arith(&mut self, lhs: Expr, level: u8) -> Result<Expr, RuleError> {
        let op = match self.peek().tok {
            Tok::Plus => BinOp::Add,
            Tok::Minus => BinOp::Sub,
            Tok::Star => BinOp::Mul,
            _ => BinOp::Div,
        };
        let op_pos = self.next().pos;
        let rhs = self.expr(level + 1)?;
        self.bin(op, op_pos, lhs, rhs)
    }

    /// One comparison, `in`, `not in` or `starts_with` test; they do not chain.
    fn test(&mut self, lhs: Expr) -> Result<Expr, RuleError> {
        let e = if let Some(op) = cmp_op(&self.peek().tok) {
            let op_pos = self.next().pos;
            let rhs = self.expr(SUM)?;
            self.bin(op, op_pos, lhs, rhs)?
        } else if self.is_word("starts_with") {
            let op_pos = self.next().pos;
            let set = self.set(true)?;
            let pos = lhs.pos;
            self.node(ExprKind::StartsWith { op_pos, value: Box::new(lhs), set }, pos, op_pos)?
        } else {
            let op_pos = self.peek().pos;
            let negated = self.is_word("not");
            if negated {
                self.next();
            }
            self.next();
            let set = self.set(false)?;
            let pos = lhs.pos;
            self.node(ExprKind::In { negated, op_pos, value: Box::new(lhs), set }, pos, op_pos)?
        };
        if self.infix_level() == Some(TEST) {
            return Err(self.chained());
        }
        Ok(e)
    }

    #[cold]
    #[inline(never)]
    fn chained(&self) -> RuleError {
        let t = self.peek();
        RuleError::new(
            RuleErrorKind::Syntax,
            t.pos,
            format!("comparisons cannot be chained; join them with `and` (found {})", t.describe()),
        )
    }

    /// `not` (where the context binds loosely enough), unary `-`, or a primary.
    fn prefix(&mut self, min: u8) -> Result<Expr, RuleError> {
        if min <= NOT && self.is_word("not") {
            let pos = self.next().pos;
            self.enter(pos)?;
            let inner = self.expr(NOT)?;
            self.leave();
            return self.node(ExprKind::Not(Box::new(inner)), pos, pos);
        }
        if self.peek().tok == Tok::Minus {
            let pos = self.next().pos;
            self.enter(pos)?;
            let inner = self.prefix(UNARY)?;
            self.leave();
            return self.node(ExprKind::Neg(Box::new(inner)), pos, pos);
        }
        self.primary()
    }

    /// `[lit, ...]`, `list("name")`, or (after `starts_with`) a single string.
    fn set(&mut self, allow_single: bool) -> Result<SetExpr, RuleError> {
        let expected = if allow_single { "a string, `[...]` or `list(\"...\")`" } else { "`[...]` or `list(\"...\")`" };
        match &self.peek().tok {
            Tok::Str(s) if allow_single => {
                let s = s.clone();
                self.next();
                Ok(SetExpr::One(s))
            }
            Tok::LBracket => {
                self.next();
                let mut lits = Vec::new();
                while self.peek().tok != Tok::RBracket {
                    let pos = self.peek().pos;
                    if lits.len() == MAX_SET_LEN {
                        return Err(limit(pos, format!("too many elements; the limit is {MAX_SET_LEN} per set")));
                    }
                    self.count(1, pos)?;
                    let negative = self.peek().tok == Tok::Minus;
                    if negative {
                        self.next();
                    }
                    let lit = match &self.peek().tok {
                        Tok::Num(n) => Lit::Num(if negative { -n } else { *n }),
                        Tok::Str(s) if !negative => Lit::Str(s.clone()),
                        _ => return Err(self.error("a number or string literal")),
                    };
                    self.next();
                    lits.push((lit, pos));
                    if self.peek().tok == Tok::Comma {
                        self.next();
                    } else if self.peek().tok != Tok::RBracket {
                        return Err(self.error("`,` or `]`"));
                    }
                }
                self.next();
                Ok(SetExpr::Lits(lits))
            }
            Tok::Ident(w) if w == "list" && self.peek_at(1).tok == Tok::LParen => {
                self.next();
                self.next();
                let t = self.peek().clone();
                let Tok::Str(name) = t.tok else {
                    return Err(self.error("a list name in double quotes"));
                };
                self.next();
                self.expect(Tok::RParen, "`)`")?;
                Ok(SetExpr::List(name, t.pos))
            }
            _ => Err(self.error(expected)),
        }
    }

    fn primary(&mut self) -> Result<Expr, RuleError> {
        let t = self.peek().clone();
        let kind = match &t.tok {
            Tok::Num(n) => {
                self.next();
                ExprKind::Num(*n)
            }
            Tok::Str(s) => {
                self.next();
                ExprKind::Str(s.clone())
            }
            Tok::LParen => {
                self.next();
                self.enter(t.pos)?;
                let mut e = self.expr(0)?;
                self.leave();
                self.expect(Tok::RParen, "`)`")?;
                // Point at the parenthesis so errors about the group cover it.
                e.pos = t.pos;
                return Ok(e);
            }
            Tok::Ident(w) => match w.as_str() {
                "true" | "false" => {
                    self.next();
                    ExprKind::Bool(w == "true")
                }
                "and" | "or" | "not" | "in" | "starts_with" => {
                    return Err(self.error("an expression"));
                }
                _ if self.peek_at(1).tok == Tok::LParen => self.call(w)?,
                _ => {
                    self.next();
                    ExprKind::Field(w.clone())
                }
            },
            _ => return Err(self.error("an expression")),
        };
        self.node(kind, t.pos, t.pos)
    }

    /// A name followed by `(`: a function, a quantifier or missing/present.
    fn call(&mut self, name: &str) -> Result<ExprKind, RuleError> {
        let quant = match name {
            "any" => Some(Quant::Any),
            "all" => Some(Quant::All),
            "count" => Some(Quant::Count),
            "sum" => Some(Quant::Sum),
            _ => None,
        };
        let func = match name {
            "abs" => Some((Func::Abs, 1)),
            "min" => Some((Func::Min, 2)),
            "max" => Some((Func::Max, 2)),
            _ => None,
        };
        let presence = match name {
            "missing" => Some(false),
            "present" => Some(true),
            _ => None,
        };
        if quant.is_none() && func.is_none() && presence.is_none() {
            return Err(unknown_function(self.peek().pos, name));
        }
        let pos = self.next().pos;
        self.next();
        self.enter(pos)?;
        let kind = if let Some(quant) = quant {
            if !self.is_word("item") {
                return Err(self.error("`item:`"));
            }
            self.next();
            self.expect(Tok::Colon, "`:`")?;
            let body = self.expr(0)?;
            ExprKind::Quant { quant, body: Box::new(body) }
        } else if let Some((func, arity)) = func {
            let mut args = Vec::new();
            for i in 0..arity {
                if i > 0 {
                    self.expect(Tok::Comma, "`,`")?;
                }
                args.push(self.expr(0)?);
            }
            ExprKind::Call { func, args }
        } else {
            let t = self.peek().clone();
            let Tok::Ident(field) = t.tok else {
                return Err(self.error("a field name"));
            };
            self.next();
            ExprKind::Presence { present: presence == Some(true), field, field_pos: t.pos }
        };
        self.leave();
        self.expect(Tok::RParen, "`)`")?;
        Ok(kind)
    }

    fn bin(&mut self, op: BinOp, op_pos: Pos, lhs: Expr, rhs: Expr) -> Result<Expr, RuleError> {
        let pos = lhs.pos;
        self.node(ExprKind::Bin { op, op_pos, lhs: Box::new(lhs), rhs: Box::new(rhs) }, pos, op_pos)
    }
}

#[cold]
#[inline(never)]
fn unknown_function(pos: Pos, name: &str) -> RuleError {
    RuleError::new(
        RuleErrorKind::Syntax,
        pos,
        format!("unknown function `{name}`; known: abs, min, max, any, all, count, sum, missing, present"),
    )
}

fn cmp_op(t: &Tok) -> Option<BinOp> {
    Some(BinOp::Cmp(match t {
        Tok::Lt => CmpOp::Lt,
        Tok::Le => CmpOp::Le,
        Tok::Gt => CmpOp::Gt,
        Tok::Ge => CmpOp::Ge,
        Tok::EqEq => CmpOp::Eq,
        Tok::Ne => CmpOp::Ne,
        _ => return None,
    }))
}
