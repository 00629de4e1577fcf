//! Prints a syntax tree back as rule text, in one canonical layout.
//!
//! Parentheses appear only where precedence or associativity needs them, so
//! the printed rule nests no deeper than the source it was parsed from, and
//! parsing the printed text gives back the same tree.

use std::fmt::Write;

use crate::error::RuleError;
use crate::parser::{
    AND, BinOp, Expr, ExprKind, Func, Lit, NOT, OR, PRIMARY, PRODUCT, Quant, SUM, SetExpr, TEST, UNARY,
};
use crate::{lexer, parser};

/// Parses a rule and prints it in canonical form: on one line, comments
/// dropped, one space around operators, numbers in their shortest form, and
/// parentheses only where they are needed.
///
/// Only the syntax is checked, not the fields or types: compiling the
/// result against a schema gives the same rule as compiling `source`.
///
/// ```
/// let text = "trade_mode ==\"0110\" # mode\n and ((total_value > 1_000))";
/// assert_eq!(
///     riskgate_rules::canonical(text).unwrap(),
///     r#"trade_mode == "0110" and total_value > 1000"#
/// );
/// ```
pub fn canonical(source: &str) -> Result<String, RuleError> {
    let tokens = lexer::lex(source)?;
    let ast = parser::parse(&tokens)?;
    let mut out = String::with_capacity(source.len());
    print(&ast, 0, &mut out);
    Ok(out)
}

fn level(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Logic { op: BinOp::Or, .. } => OR,
        ExprKind::Logic { .. } => AND,
        ExprKind::Not(_) => NOT,
        ExprKind::In { .. } | ExprKind::StartsWith { .. } => TEST,
        ExprKind::Bin { op: BinOp::Add | BinOp::Sub, .. } => SUM,
        ExprKind::Bin { op: BinOp::Mul | BinOp::Div, .. } => PRODUCT,
        ExprKind::Bin { .. } => TEST,
        ExprKind::Neg(_) => UNARY,
        ExprKind::Num(_)
        | ExprKind::Str(_)
        | ExprKind::Bool(_)
        | ExprKind::Field(_)
        | ExprKind::Call { .. }
        | ExprKind::Quant { .. }
        | ExprKind::Presence { .. } => PRIMARY,
    }
}

/// Prints `e` where the grammar expects an expression binding at least as
/// tightly as `min`, parenthesising it otherwise.
fn print(e: &Expr, min: u8, out: &mut String) {
    let parens = level(e) < min;
    if parens {
        out.push('(');
    }
    match &e.kind {
        ExprKind::Num(v) => number(*v, out),
        ExprKind::Str(s) => string(s, out),
        ExprKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ExprKind::Field(name) => out.push_str(name),
        ExprKind::Neg(x) => {
            out.push('-');
            print(x, UNARY, out);
        }
        ExprKind::Not(x) => {
            out.push_str("not ");
            print(x, NOT, out);
        }
        ExprKind::Logic { op, operands } => {
            // An operand that is the same kind of chain needs parentheses,
            // or it would merge into this one.
            let operand_min = if *op == BinOp::Or { AND } else { NOT };
            for (i, x) in operands.iter().enumerate() {
                if i > 0 {
                    let _ = write!(out, " {} ", op.symbol());
                }
                print(x, operand_min, out);
            }
        }
        ExprKind::Bin { op, lhs, rhs, .. } => {
            // Arithmetic is left-associative: the right operand binds tighter.
            let (l, r) = match op {
                BinOp::Add | BinOp::Sub => (SUM, PRODUCT),
                BinOp::Mul | BinOp::Div => (PRODUCT, UNARY),
                _ => (SUM, SUM),
            };
            print(lhs, l, out);
            let _ = write!(out, " {} ", op.symbol());
            print(rhs, r, out);
        }
        ExprKind::In { negated, value, set, .. } => {
            print(value, SUM, out);
            out.push_str(if *negated { " not in " } else { " in " });
            print_set(set, out);
        }
        ExprKind::StartsWith { value, set, .. } => {
            print(value, SUM, out);
            out.push_str(" starts_with ");
            print_set(set, out);
        }
        ExprKind::Call { func, args } => {
            out.push_str(match func {
                Func::Abs => "abs(",
                Func::Min => "min(",
                Func::Max => "max(",
            });
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print(a, 0, out);
            }
            out.push(')');
        }
        ExprKind::Quant { quant, body } => {
            out.push_str(match quant {
                Quant::Any => "any(item: ",
                Quant::All => "all(item: ",
                Quant::Count => "count(item: ",
                Quant::Sum => "sum(item: ",
            });
            print(body, 0, out);
            out.push(')');
        }
        ExprKind::Presence { present, field, .. } => {
            let _ = write!(out, "{}({field})", if *present { "present" } else { "missing" });
        }
    }
    if parens {
        out.push(')');
    }
}

fn print_set(set: &SetExpr, out: &mut String) {
    match set {
        SetExpr::One(s) => string(s, out),
        SetExpr::List(name, _) => {
            out.push_str("list(");
            string(name, out);
            out.push(')');
        }
        SetExpr::Lits(lits) => {
            out.push('[');
            for (i, (lit, _)) in lits.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match lit {
                    Lit::Str(s) => string(s, out),
                    Lit::Num(v) => {
                        if v.is_sign_negative() {
                            out.push('-');
                        }
                        number(v.abs(), out);
                    }
                }
            }
            out.push(']');
        }
    }
}

/// A non-negative number as a literal that reads back as exactly `v`: plain
/// digits, or the exponent form where that is much shorter (`1e-9`, `1e20`).
fn number(v: f64, out: &mut String) {
    if v.is_infinite() {
        // Any literal too large for an f64 reads as infinity.
        out.push_str("1e999");
        return;
    }
    let plain = format!("{v}");
    let exp = format!("{v:e}");
    out.push_str(if plain.len() > 7 && exp.len() < plain.len() { &exp } else { &plain });
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}
