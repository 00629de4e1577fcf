//! Type-checks the syntax tree against the schema and lowers it to evaluable nodes.

use crate::error::{Pos, RuleError, RuleErrorKind};
use crate::eval::{ArithOp, Bool, CmpOp, Num, NumSet, Prefixes, Slot, Text, TextSet};
use crate::facts::Facts;
use crate::parser::{BinOp, Expr, ExprKind, Func, Lit, Quant, SetExpr};
use crate::schema::{FieldId, Lists, Schema, Scope, Type};
use crate::{lexer, parser};

/// A rule compiled against one [`Schema`] and a snapshot of the [`Lists`] it uses.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub(crate) root: Bool,
    fields: Vec<FieldId>,
}

impl CompiledRule {
    /// Whether the condition holds for `facts`. Does not allocate.
    pub fn eval(&self, facts: &Facts) -> bool {
        self.root.eval(facts, 0)
    }

    /// The fields the rule refers to, sorted by id, without duplicates.
    pub fn fields(&self) -> Vec<FieldId> {
        self.fields.clone()
    }
}

/// Parses, type-checks and compiles one rule.
pub fn compile(source: &str, schema: &Schema, lists: &Lists) -> Result<CompiledRule, RuleError> {
    let tokens = lexer::lex(source)?;
    let ast = parser::parse(&tokens)?;
    let mut cx = Cx { schema, lists, in_quant: false, fields: Vec::new() };
    let root = match cx.lower(&ast)? {
        Typed::Bool(b) => b,
        other => {
            return Err(type_error(ast.pos, format!("a rule must be a condition, found {}", other.ty().name())));
        }
    };
    let mut fields = cx.fields;
    fields.sort();
    fields.dedup();
    Ok(CompiledRule { root: flatten(root), fields })
}

enum Typed {
    Num(Num),
    Text(Text),
    Bool(Bool),
}

impl Typed {
    fn ty(&self) -> Type {
        match self {
            Typed::Num(_) => Type::Number,
            Typed::Text(_) => Type::Text,
            Typed::Bool(_) => Type::Bool,
        }
    }
}

fn type_error(pos: Pos, msg: impl Into<String>) -> RuleError {
    RuleError::new(RuleErrorKind::Type, pos, msg)
}

/// "`role` needs `what`, found `found`".
#[cold]
#[inline(never)]
fn needs(pos: Pos, role: &str, what: &str, found: Type) -> RuleError {
    type_error(pos, format!("{role} needs {what}, found {}", found.name()))
}

#[cold]
#[inline(never)]
fn cannot_compare(op: BinOp, pos: Pos, a: Type, b: Type) -> RuleError {
    if a == b {
        type_error(pos, format!("`{}` needs numbers, found {} operands", op.symbol(), a.name()))
    } else {
        type_error(pos, format!("cannot compare {} with {}", a.name(), b.name()))
    }
}

struct Cx<'s> {
    schema: &'s Schema,
    lists: &'s Lists,
    in_quant: bool,
    fields: Vec<FieldId>,
}

impl Cx<'_> {
    fn field(&mut self, name: &str, pos: Pos) -> Result<(Slot, Type), RuleError> {
        let Some((id, scope, ty)) = self.schema.lookup(name) else {
            let hint = match self.schema.suggest(name) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => String::new(),
            };
            return Err(RuleError::new(RuleErrorKind::UnknownField, pos, format!("unknown field `{name}`{hint}")));
        };
        let slot = self.schema.def(id.0).slot;
        let slot = match scope {
            Scope::Header => Slot::Header(slot),
            Scope::Item if self.in_quant => Slot::Item(slot),
            Scope::Item => {
                return Err(RuleError::new(
                    RuleErrorKind::Scope,
                    pos,
                    format!(
                        "item field `{name}` can only be used inside any(item: ...), all(item: ...), count(item: ...) or sum(item: ...)"
                    ),
                ));
            }
        };
        self.fields.push(id);
        Ok((slot, ty))
    }

    // `lower` and the functions it recurses through are kept lean, with the
    // non-recursive work (errors, sets) out of line, so that each level of
    // the syntax tree costs little stack; see `limits::MAX_DEPTH`.

    fn num(&mut self, e: &Expr, role: &'static str) -> Result<Num, RuleError> {
        match self.lower(e)? {
            Typed::Num(n) => Ok(n),
            other => Err(needs(e.pos, role, "a number", other.ty())),
        }
    }

    fn cond(&mut self, e: &Expr, role: &'static str) -> Result<Bool, RuleError> {
        match self.lower(e)? {
            Typed::Bool(b) => Ok(b),
            other => Err(needs(e.pos, role, "a condition", other.ty())),
        }
    }

    fn lower(&mut self, e: &Expr) -> Result<Typed, RuleError> {
        Ok(match &e.kind {
            ExprKind::Num(v) => Typed::Num(Num::Const(*v)),
            ExprKind::Str(s) => Typed::Text(Text::Const(s.as_str().into())),
            ExprKind::Bool(b) => Typed::Bool(Bool::Const(*b)),
            ExprKind::Field(name) => {
                let (slot, ty) = self.field(name, e.pos)?;
                match ty {
                    Type::Number => Typed::Num(Num::Field(slot)),
                    Type::Text => Typed::Text(Text::Field(slot)),
                    Type::Bool => Typed::Bool(Bool::Field(slot)),
                }
            }
            ExprKind::Neg(x) => Typed::Num(Num::Neg(Box::new(self.num(x, "unary `-`")?))),
            ExprKind::Not(x) => Typed::Bool(Bool::Not(Box::new(self.cond(x, "`not`")?))),
            ExprKind::Logic { op, operands } => {
                let role = op.quoted();
                let mut conds = Vec::with_capacity(operands.len());
                for x in operands {
                    conds.push(self.cond(x, role)?);
                }
                let conds: Box<[Bool]> = conds.into();
                Typed::Bool(if *op == BinOp::And { Bool::And(conds) } else { Bool::Or(conds) })
            }
            ExprKind::Bin { op, op_pos, lhs, rhs } => self.binary(*op, *op_pos, lhs, rhs)?,
            ExprKind::In { negated, op_pos, value, set } => self.membership(*negated, *op_pos, value, set)?,
            ExprKind::StartsWith { op_pos, value, set } => {
                let value = match self.lower(value)? {
                    Typed::Text(t) => t,
                    other => return Err(needs(*op_pos, "`starts_with`", "text", other.ty())),
                };
                Typed::Bool(Bool::StartsWith { value, prefixes: self.prefixes(set)? })
            }
            ExprKind::Call { func, args } => {
                let role = match func {
                    Func::Abs => "`abs`",
                    Func::Min => "`min`",
                    Func::Max => "`max`",
                };
                let (first, second) = match &args[..] {
                    [a] => (a, None),
                    [a, b] => (a, Some(b)),
                    _ => unreachable!("the parser checks arity"),
                };
                let a = self.num(first, role)?;
                Typed::Num(match (func, second) {
                    (Func::Min | Func::Max, Some(b)) => {
                        let b = self.num(b, role)?;
                        let op = if *func == Func::Min { ArithOp::Min } else { ArithOp::Max };
                        Num::Arith(op, Box::new((a, b)))
                    }
                    _ => Num::Abs(Box::new(a)),
                })
            }
            ExprKind::Quant { quant, body } => {
                if self.in_quant {
                    return Err(RuleError::new(RuleErrorKind::Scope, e.pos, "quantifiers cannot be nested"));
                }
                self.in_quant = true;
                let result = match quant {
                    Quant::Any => self.cond(body, "`any`").map(|b| Typed::Bool(Bool::Any(Box::new(b)))),
                    Quant::All => self.cond(body, "`all`").map(|b| Typed::Bool(Bool::All(Box::new(b)))),
                    Quant::Count => self.cond(body, "`count`").map(|b| Typed::Num(Num::Count(Box::new(b)))),
                    Quant::Sum => self.num(body, "`sum`").map(|n| Typed::Num(Num::Sum(Box::new(n)))),
                };
                self.in_quant = false;
                result?
            }
            ExprKind::Presence { present, field, field_pos } => {
                let (slot, _) = self.field(field, *field_pos)?;
                Typed::Bool(Bool::Present { slot, present: *present })
            }
        })
    }

    /// The set after `starts_with`, as a structure that matches fast.
    #[inline(never)]
    fn prefixes(&self, set: &SetExpr) -> Result<Prefixes, RuleError> {
        Ok(match set {
            SetExpr::One(s) => Prefixes::from_lits(vec![s.as_str().into()]),
            SetExpr::Lits(lits) => {
                let mut out = Vec::with_capacity(lits.len());
                for (lit, pos) in lits {
                    match lit {
                        Lit::Str(s) => out.push(s.as_str().into()),
                        Lit::Num(_) => {
                            return Err(type_error(*pos, "`starts_with` prefixes must be text, found number"));
                        }
                    }
                }
                Prefixes::from_lits(out)
            }
            SetExpr::List(name, pos) => Prefixes::List(self.list(name, *pos)?),
        })
    }

    fn binary(&mut self, op: BinOp, op_pos: Pos, lhs: &Expr, rhs: &Expr) -> Result<Typed, RuleError> {
        let role = op.quoted();
        let arith = match op {
            BinOp::Add => Some(ArithOp::Add),
            BinOp::Sub => Some(ArithOp::Sub),
            BinOp::Mul => Some(ArithOp::Mul),
            BinOp::Div => Some(ArithOp::Div),
            _ => None,
        };
        if let Some(arith) = arith {
            let a = self.num(lhs, role)?;
            let b = self.num(rhs, role)?;
            return Ok(Typed::Num(Num::Arith(arith, Box::new((a, b)))));
        }
        let cmp = match op {
            BinOp::Cmp(cmp) => cmp,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => unreachable!("arithmetic returned above"),
            BinOp::And | BinOp::Or => unreachable!("the parser builds `and` / `or` as ExprKind::Logic"),
        };
        let a = self.lower(lhs)?;
        let b = self.lower(rhs)?;
        let negated = cmp == CmpOp::Ne;
        Ok(Typed::Bool(match (a, b) {
            (Typed::Num(a), Typed::Num(b)) => Bool::CmpNum(cmp, Box::new((a, b))),
            (Typed::Text(a), Typed::Text(b)) if matches!(cmp, CmpOp::Eq | CmpOp::Ne) => {
                Bool::EqText { negated, operands: Box::new((a, b)) }
            }
            (Typed::Bool(a), Typed::Bool(b)) if matches!(cmp, CmpOp::Eq | CmpOp::Ne) => {
                Bool::EqCond { negated, operands: Box::new((a, b)) }
            }
            (a, b) => return Err(cannot_compare(op, op_pos, a.ty(), b.ty())),
        }))
    }

    fn membership(&mut self, negated: bool, op_pos: Pos, value: &Expr, set: &SetExpr) -> Result<Typed, RuleError> {
        let value = self.lower(value)?;
        self.member_of(negated, op_pos, value, set)
    }

    /// `value in set` once the value is lowered: builds the set to look up fast.
    #[inline(never)]
    fn member_of(&self, negated: bool, op_pos: Pos, value: Typed, set: &SetExpr) -> Result<Typed, RuleError> {
        let bool_set = match (value, set) {
            (Typed::Text(value), SetExpr::List(name, pos)) => {
                Bool::InText { negated, value, set: TextSet::List(self.list(name, *pos)?) }
            }
            (Typed::Text(value), SetExpr::Lits(lits)) => {
                let mut out = Vec::with_capacity(lits.len());
                for (lit, pos) in lits {
                    match lit {
                        Lit::Str(s) => out.push(s.clone()),
                        Lit::Num(_) => {
                            return Err(type_error(*pos, "expected a text literal, found number"));
                        }
                    }
                }
                Bool::InText { negated, value, set: TextSet::from_lits(out) }
            }
            (Typed::Num(value), SetExpr::Lits(lits)) => {
                let mut out = Vec::with_capacity(lits.len());
                for (lit, pos) in lits {
                    match lit {
                        Lit::Num(n) => out.push(*n),
                        Lit::Str(_) => {
                            return Err(type_error(*pos, "expected a number literal, found text"));
                        }
                    }
                }
                Bool::InNum { negated, value, set: NumSet::new(out) }
            }
            (Typed::Num(_), SetExpr::List(_, pos)) => {
                return Err(type_error(*pos, "lists hold text; a number cannot be looked up in a list"));
            }
            (Typed::Bool(_), _) | (_, SetExpr::One(_)) => {
                return Err(type_error(op_pos, "`in` needs a number or text, found bool"));
            }
        };
        Ok(Typed::Bool(bool_set))
    }

    fn list(&self, name: &str, pos: Pos) -> Result<std::sync::Arc<std::collections::HashSet<String>>, RuleError> {
        self.lists.shared(name).ok_or_else(|| {
            let mut known: Vec<&str> = self.lists.names().collect();
            known.sort_unstable();
            let hint = if known.is_empty() {
                "no lists are defined".to_owned()
            } else {
                format!("known lists: {}", known.join(", "))
            };
            RuleError::new(RuleErrorKind::UnknownList, pos, format!("unknown list \"{name}\"; {hint}"))
        })
    }
}

/// Merges nested `and`/`or` chains into one node each: fewer pointer hops at
/// evaluation, and the index sees a rule's whole top-level conjunction at once.
fn flatten(b: Bool) -> Bool {
    match b {
        Bool::And(xs) => Bool::And(merge(xs, true)),
        Bool::Or(xs) => Bool::Or(merge(xs, false)),
        Bool::Not(x) => Bool::Not(Box::new(flatten(*x))),
        Bool::Any(x) => Bool::Any(Box::new(flatten(*x))),
        Bool::All(x) => Bool::All(Box::new(flatten(*x))),
        other => other,
    }
}

fn merge(xs: Box<[Bool]>, and: bool) -> Box<[Bool]> {
    let mut out = Vec::with_capacity(xs.len());
    for x in xs.into_vec() {
        match (flatten(x), and) {
            (Bool::And(inner), true) | (Bool::Or(inner), false) => out.extend(inner.into_vec()),
            (other, _) => out.push(other),
        }
    }
    out.into()
}
