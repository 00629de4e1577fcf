//! Recursive-descent parser from tokens to an untyped syntax tree; types are checked later.

use crate::error::{Pos, RuleError, RuleErrorKind};
use crate::lexer::{Tok, Token};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
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
}

#[derive(Debug, Clone)]
pub(crate) enum ExprKind {
    Num(f64),
    Str(String),
    Bool(bool),
    Field(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
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

pub(crate) fn parse(tokens: &[Token<'_>]) -> Result<Expr, RuleError> {
    let mut p = Parser { tokens, at: 0 };
    let e = p.or()?;
    p.expect(Tok::Eof, "end of rule")?;
    Ok(e)
}

struct Parser<'t, 'a> {
    tokens: &'t [Token<'a>],
    at: usize,
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

    fn error(&self, expected: &str) -> RuleError {
        let t = self.peek();
        RuleError::new(RuleErrorKind::Syntax, t.pos, format!("expected {expected}, found {}", t.describe()))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token<'a>, RuleError> {
        if self.peek().tok == tok { Ok(self.next()) } else { Err(self.error(what)) }
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut lhs = self.and()?;
        while self.is_word("or") {
            let op_pos = self.next().pos;
            let rhs = self.and()?;
            lhs = bin(BinOp::Or, op_pos, lhs, rhs);
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut lhs = self.not()?;
        while self.is_word("and") {
            let op_pos = self.next().pos;
            let rhs = self.not()?;
            lhs = bin(BinOp::And, op_pos, lhs, rhs);
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Expr, RuleError> {
        if self.is_word("not") {
            let pos = self.next().pos;
            let inner = self.not()?;
            return Ok(Expr { kind: ExprKind::Not(Box::new(inner)), pos });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, RuleError> {
        let lhs = self.additive()?;
        let e = if let Some(op) = cmp_op(&self.peek().tok) {
            let op_pos = self.next().pos;
            let rhs = self.additive()?;
            bin(op, op_pos, lhs, rhs)
        } else if self.is_word("in") || (self.is_word("not") && self.peek_at(1).text == "in") {
            let op_pos = self.peek().pos;
            let negated = self.is_word("not");
            if negated {
                self.next();
            }
            self.next();
            let set = self.set(false)?;
            let pos = lhs.pos;
            Expr { kind: ExprKind::In { negated, op_pos, value: Box::new(lhs), set }, pos }
        } else if self.is_word("starts_with") {
            let op_pos = self.next().pos;
            let set = self.set(true)?;
            let pos = lhs.pos;
            Expr { kind: ExprKind::StartsWith { op_pos, value: Box::new(lhs), set }, pos }
        } else {
            return Ok(lhs);
        };
        let t = self.peek();
        if cmp_op(&t.tok).is_some() || t.text == "in" || t.text == "starts_with" {
            return Err(RuleError::new(
                RuleErrorKind::Syntax,
                t.pos,
                format!("comparisons cannot be chained; join them with `and` (found {})", t.describe()),
            ));
        }
        Ok(e)
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

    fn additive(&mut self) -> Result<Expr, RuleError> {
        let mut lhs = self.multiplicative()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(lhs),
            };
            let op_pos = self.next().pos;
            let rhs = self.multiplicative()?;
            lhs = bin(op, op_pos, lhs, rhs);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, RuleError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(lhs),
            };
            let op_pos = self.next().pos;
            let rhs = self.unary()?;
            lhs = bin(op, op_pos, lhs, rhs);
        }
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        if self.peek().tok == Tok::Minus {
            let pos = self.next().pos;
            let inner = self.unary()?;
            return Ok(Expr { kind: ExprKind::Neg(Box::new(inner)), pos });
        }
        self.primary()
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
                let mut e = self.or()?;
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
        Ok(Expr { kind, pos: t.pos })
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
            return Err(RuleError::new(
                RuleErrorKind::Syntax,
                self.peek().pos,
                format!("unknown function `{name}`; known: abs, min, max, any, all, count, sum, missing, present"),
            ));
        }
        self.next();
        self.next();
        let kind = if let Some(quant) = quant {
            if !self.is_word("item") {
                return Err(self.error("`item:`"));
            }
            self.next();
            self.expect(Tok::Colon, "`:`")?;
            let body = self.or()?;
            ExprKind::Quant { quant, body: Box::new(body) }
        } else if let Some((func, arity)) = func {
            let mut args = Vec::new();
            for i in 0..arity {
                if i > 0 {
                    self.expect(Tok::Comma, "`,`")?;
                }
                args.push(self.or()?);
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
        self.expect(Tok::RParen, "`)`")?;
        Ok(kind)
    }
}

fn cmp_op(t: &Tok) -> Option<BinOp> {
    Some(match t {
        Tok::Lt => BinOp::Lt,
        Tok::Le => BinOp::Le,
        Tok::Gt => BinOp::Gt,
        Tok::Ge => BinOp::Ge,
        Tok::EqEq => BinOp::Eq,
        Tok::Ne => BinOp::Ne,
        _ => return None,
    })
}

fn bin(op: BinOp, op_pos: Pos, lhs: Expr, rhs: Expr) -> Expr {
    let pos = lhs.pos;
    Expr { kind: ExprKind::Bin { op, op_pos, lhs: Box::new(lhs), rhs: Box::new(rhs) }, pos }
}
