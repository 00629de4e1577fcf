//! The compiled form of a rule: a typed node tree with slots resolved, evaluated without allocating.

use std::collections::HashSet;
use std::sync::Arc;

use crate::facts::{Facts, Val};

/// Where a value comes from: a header slot or a slot of the current item line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    Header(u32),
    Item(u32),
}

impl Slot {
    #[inline]
    fn read(self, f: &Facts, item: usize) -> Val {
        match self {
            Slot::Header(s) => f.header(s),
            Slot::Item(s) => f.item(item, s),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
}

/// Numeric expression; `None` from `eval` means missing.
#[derive(Debug, Clone)]
pub(crate) enum Num {
    Const(f64),
    Field(Slot),
    Neg(Box<Num>),
    Abs(Box<Num>),
    Arith(ArithOp, Box<(Num, Num)>),
    Count(Box<Bool>),
    Sum(Box<Num>),
}

#[derive(Debug, Clone)]
pub(crate) enum Text {
    Const(Box<str>),
    Field(Slot),
}

/// Literal sets are small in practice, so below this size a linear scan beats hashing.
const SMALL_SET: usize = 8;

#[derive(Debug, Clone)]
pub(crate) enum TextSet {
    Small(Box<[Box<str>]>),
    Hashed(HashSet<Box<str>>),
    List(Arc<HashSet<String>>),
}

impl TextSet {
    pub fn from_lits(values: Vec<String>) -> Self {
        if values.len() <= SMALL_SET {
            TextSet::Small(values.into_iter().map(Into::into).collect())
        } else {
            TextSet::Hashed(values.into_iter().map(Into::into).collect())
        }
    }

    #[inline]
    fn contains(&self, v: &str) -> bool {
        match self {
            TextSet::Small(values) => values.iter().any(|x| &**x == v),
            TextSet::Hashed(set) => set.contains(v),
            TextSet::List(set) => set.contains(v),
        }
    }

    pub fn values(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            TextSet::Small(values) => Box::new(values.iter().map(|v| &**v)),
            TextSet::Hashed(set) => Box::new(set.iter().map(|v| &**v)),
            TextSet::List(set) => Box::new(set.iter().map(String::as_str)),
        }
    }
}

/// The numbers of an `x in [...]` set, sorted so a lookup is a binary search.
#[derive(Debug, Clone)]
pub(crate) struct NumSet(Box<[f64]>);

impl NumSet {
    pub fn new(mut values: Vec<f64>) -> Self {
        // A NaN equals nothing, so dropping it changes no answer (literals
        // cannot be NaN anyway), and what remains is totally ordered by `<`.
        values.retain(|v| !v.is_nan());
        values.sort_by(f64::total_cmp);
        values.dedup();
        NumSet(values.into())
    }

    #[inline]
    fn contains(&self, v: f64) -> bool {
        // Compares with `<` and `==`, so `-0.0` finds `0.0` as `==` does.
        let i = self.0.partition_point(|&x| x < v);
        self.0.get(i).is_some_and(|&x| x == v)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Prefixes {
    /// Sorted, and prefix-free: no element is a prefix of another (the longer
    /// one would add no match), so the only element that can be a prefix of a
    /// value is the greatest one not above it, found by binary search.
    Lits(Box<[Box<str>]>),
    /// Probed with every prefix of the value, so cost follows the value's
    /// length, not the list's size.
    List(Arc<HashSet<String>>),
}

impl Prefixes {
    pub fn from_lits(mut values: Vec<Box<str>>) -> Self {
        values.sort_unstable();
        values.dedup();
        // Sorted, a string's extensions follow it directly, after any other
        // extension of a kept element; keep only strings that extend no kept one.
        let mut kept: Vec<Box<str>> = Vec::with_capacity(values.len());
        for v in values {
            if !kept.last().is_some_and(|k| v.starts_with(&**k)) {
                kept.push(v);
            }
        }
        Prefixes::Lits(kept.into())
    }

    #[inline]
    fn matches(&self, v: &str) -> bool {
        match self {
            Prefixes::Lits(ps) => {
                let i = ps.partition_point(|p| &**p <= v);
                i > 0 && v.starts_with(&*ps[i - 1])
            }
            Prefixes::List(set) => set.contains(v) || v.char_indices().any(|(i, _)| set.contains(&v[..i])),
        }
    }

    pub fn values(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            Prefixes::Lits(values) => Box::new(values.iter().map(|v| &**v)),
            Prefixes::List(set) => Box::new(set.iter().map(String::as_str)),
        }
    }
}

/// Boolean expression. Evaluates to plain `bool`: every test on a missing
/// value is false, and `not` is ordinary negation.
#[derive(Debug, Clone)]
pub(crate) enum Bool {
    Const(bool),
    /// A bool field used as a condition; missing reads as false.
    Field(Slot),
    And(Box<[Bool]>),
    Or(Box<[Bool]>),
    Not(Box<Bool>),
    CmpNum(CmpOp, Box<(Num, Num)>),
    /// `==` (negated: false) or `!=` (negated: true) on text.
    EqText {
        negated: bool,
        operands: Box<(Text, Text)>,
    },
    EqCond {
        negated: bool,
        operands: Box<(Bool, Bool)>,
    },
    InText {
        negated: bool,
        value: Text,
        set: TextSet,
    },
    InNum {
        negated: bool,
        value: Num,
        set: NumSet,
    },
    StartsWith {
        value: Text,
        prefixes: Prefixes,
    },
    Present {
        slot: Slot,
        present: bool,
    },
    Any(Box<Bool>),
    All(Box<Bool>),
}

impl Num {
    pub fn eval(&self, f: &Facts, item: usize) -> Option<f64> {
        match self {
            Num::Const(v) => Some(*v),
            Num::Field(slot) => match slot.read(f, item) {
                Val::Num(v) => Some(v),
                _ => None,
            },
            Num::Neg(x) => x.eval(f, item).map(|v| -v),
            Num::Abs(x) => x.eval(f, item).map(f64::abs),
            Num::Arith(op, operands) => {
                let a = operands.0.eval(f, item)?;
                let b = operands.1.eval(f, item)?;
                match op {
                    ArithOp::Add => Some(a + b),
                    ArithOp::Sub => Some(a - b),
                    ArithOp::Mul => Some(a * b),
                    // Dividing by zero has no meaningful ratio, so it is missing
                    // rather than an infinity that would satisfy `> x` tests.
                    ArithOp::Div => (b != 0.0).then(|| a / b),
                    ArithOp::Min => Some(a.min(b)),
                    ArithOp::Max => Some(a.max(b)),
                }
            }
            Num::Count(cond) => Some((0..f.item_count()).filter(|&i| cond.eval(f, i)).count() as f64),
            Num::Sum(x) => Some((0..f.item_count()).filter_map(|i| x.eval(f, i)).sum::<f64>()),
        }
    }
}

impl Text {
    #[inline]
    pub fn eval<'f>(&'f self, f: &'f Facts, item: usize) -> Option<&'f str> {
        match self {
            Text::Const(s) => Some(s),
            Text::Field(slot) => f.text(slot.read(f, item)),
        }
    }
}

impl Bool {
    pub fn eval(&self, f: &Facts, item: usize) -> bool {
        match self {
            Bool::Const(b) => *b,
            Bool::Field(slot) => matches!(slot.read(f, item), Val::Bool(true)),
            Bool::And(xs) => xs.iter().all(|x| x.eval(f, item)),
            Bool::Or(xs) => xs.iter().any(|x| x.eval(f, item)),
            Bool::Not(x) => !x.eval(f, item),
            Bool::CmpNum(op, operands) => {
                let (Some(a), Some(b)) = (operands.0.eval(f, item), operands.1.eval(f, item)) else {
                    return false;
                };
                match op {
                    CmpOp::Lt => a < b,
                    CmpOp::Le => a <= b,
                    CmpOp::Gt => a > b,
                    CmpOp::Ge => a >= b,
                    CmpOp::Eq => a == b,
                    CmpOp::Ne => a != b,
                }
            }
            Bool::EqText { negated, operands } => match (operands.0.eval(f, item), operands.1.eval(f, item)) {
                (Some(a), Some(b)) => (a == b) != *negated,
                _ => false,
            },
            Bool::EqCond { negated, operands } => match (operands.0.eval_opt(f, item), operands.1.eval_opt(f, item)) {
                (Some(a), Some(b)) => (a == b) != *negated,
                _ => false,
            },
            Bool::InText { negated, value, set } => value.eval(f, item).is_some_and(|v| set.contains(v) != *negated),
            Bool::InNum { negated, value, set } => value.eval(f, item).is_some_and(|v| set.contains(v) != *negated),
            Bool::StartsWith { value, prefixes } => value.eval(f, item).is_some_and(|v| prefixes.matches(v)),
            Bool::Present { slot, present } => !matches!(slot.read(f, item), Val::Missing) == *present,
            Bool::Any(cond) => (0..f.item_count()).any(|i| cond.eval(f, i)),
            Bool::All(cond) => (0..f.item_count()).all(|i| cond.eval(f, i)),
        }
    }

    /// Like `eval`, but keeps a missing bool field distinguishable, for `==`/`!=`.
    fn eval_opt(&self, f: &Facts, item: usize) -> Option<bool> {
        match self {
            Bool::Field(slot) => match slot.read(f, item) {
                Val::Bool(b) => Some(b),
                _ => None,
            },
            other => Some(other.eval(f, item)),
        }
    }
}
