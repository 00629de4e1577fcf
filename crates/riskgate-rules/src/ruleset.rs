//! Indexes many compiled rules by a discriminating constraint so matching does not scan them all.

use std::collections::HashMap;

use crate::compile::CompiledRule;
use crate::eval::{Bool, Slot, Text};
use crate::facts::Facts;

/// An indexed set of compiled rules; `K` is the caller's handle for a rule.
///
/// Each rule is filed under at most one key taken from its top-level `and`
/// chain: a header text field tested with `==`, `in [...]`, `in list(...)` or
/// `starts_with`, or, inside a top-level `any(item: ...)`, an item text field
/// tested the same way. A rule can only hold when the subject carries one of
/// its key values, so only rules under the subject's keys (plus the rules
/// without a key) are evaluated.
#[derive(Debug)]
pub struct RuleSet<K> {
    rules: Vec<(K, CompiledRule)>,
    keys: Vec<KeyIndex>,
    /// Rules without a key, ascending; always evaluated.
    unindexed: Vec<u32>,
}

#[derive(Debug)]
struct KeyIndex {
    slot: Slot,
    /// Keys are prefixes: probe with every prefix of the subject's value.
    prefix: bool,
    rules_by_value: HashMap<Box<str>, Vec<u32>>,
}

/// A constraint a rule could be filed under.
struct Candidate<'r> {
    slot: Slot,
    prefix: bool,
    /// A watch-list: by design a small part of the population, whatever its size.
    from_list: bool,
    values: Vec<&'r str>,
}

impl<K: Clone> RuleSet<K> {
    pub fn new(rules: Vec<(K, CompiledRule)>) -> Self {
        let per_rule: Vec<Vec<Candidate<'_>>> = rules.iter().map(|(_, r)| candidates(&r.root)).collect();

        // How many distinct values rules use per field: a field like a trade mode
        // with a handful of values spread over many rules discriminates poorly.
        let mut distinct: HashMap<(Slot, bool), std::collections::HashSet<&str>> = HashMap::new();
        for c in per_rule.iter().flatten() {
            distinct.entry((c.slot, c.prefix)).or_default().extend(c.values.iter().copied());
        }
        let score = |c: &Candidate<'_>| {
            let spread = distinct[&(c.slot, c.prefix)].len() as f64;
            let width = if c.from_list { 1.0 } else { c.values.len().max(1) as f64 };
            let item_bonus = if matches!(c.slot, Slot::Item(_)) { 2.0 } else { 1.0 };
            spread / width * item_bonus
        };

        let mut keys: Vec<KeyIndex> = Vec::new();
        let mut key_of: HashMap<(Slot, bool), usize> = HashMap::new();
        let mut unindexed = Vec::new();
        for (i, cands) in per_rule.iter().enumerate() {
            let best = cands.iter().max_by(|a, b| score(a).total_cmp(&score(b)));
            let Some(best) = best else {
                unindexed.push(i as u32);
                continue;
            };
            let k = *key_of.entry((best.slot, best.prefix)).or_insert_with(|| {
                keys.push(KeyIndex { slot: best.slot, prefix: best.prefix, rules_by_value: HashMap::new() });
                keys.len() - 1
            });
            for v in &best.values {
                let list = keys[k].rules_by_value.entry((*v).into()).or_default();
                // A set may repeat a value; file the rule once per value.
                if list.last() != Some(&(i as u32)) {
                    list.push(i as u32);
                }
            }
        }
        drop(per_rule);
        RuleSet { rules, keys, unindexed }
    }

    /// Appends the handles of all rules whose condition holds, in the order
    /// the rules were given.
    pub fn matching(&self, facts: &Facts, out: &mut Vec<K>) {
        let mut hits: Vec<u32> = Vec::new();
        for key in &self.keys {
            match key.slot {
                Slot::Header(s) => {
                    if let Some(v) = facts.text(facts.header(s)) {
                        key.probe(v, &mut hits);
                    }
                }
                Slot::Item(s) => {
                    for i in 0..facts.item_count() {
                        if let Some(v) = facts.text(facts.item(i, s)) {
                            key.probe(v, &mut hits);
                        }
                    }
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();

        // Merge the candidates with the unindexed rules, both ascending, so
        // matches come out in rule order without another sort.
        let (mut a, mut b) = (hits.iter().peekable(), self.unindexed.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x < y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            let (handle, rule) = &self.rules[*next.expect("peeked") as usize];
            if rule.eval(facts) {
                out.push(handle.clone());
            }
        }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many rules sit behind an index key (the rest are always evaluated).
    pub fn indexed_len(&self) -> usize {
        self.rules.len() - self.unindexed.len()
    }

    /// The rules in the order they were given.
    pub fn rules(&self) -> &[(K, CompiledRule)] {
        &self.rules
    }
}

impl KeyIndex {
    #[inline]
    fn probe(&self, v: &str, hits: &mut Vec<u32>) {
        if self.prefix {
            // Every non-empty prefix of the value, at character boundaries.
            let ends = v.char_indices().skip(1).map(|(i, _)| i).chain([v.len()]);
            for end in ends {
                if let Some(rules) = self.rules_by_value.get(&v[..end]) {
                    hits.extend_from_slice(rules);
                }
            }
        } else if let Some(rules) = self.rules_by_value.get(v) {
            hits.extend_from_slice(rules);
        }
    }
}

fn conjuncts(b: &Bool) -> &[Bool] {
    match b {
        Bool::And(xs) => xs,
        other => std::slice::from_ref(other),
    }
}

/// The constraints of a rule's top-level conjunction that can serve as index keys.
fn candidates(root: &Bool) -> Vec<Candidate<'_>> {
    let mut out = Vec::new();
    for c in conjuncts(root) {
        match c {
            Bool::Any(inner) => {
                for ic in conjuncts(inner) {
                    key_constraint(ic, &mut out);
                }
            }
            other => key_constraint(other, &mut out),
        }
    }
    out
}

fn key_constraint<'r>(b: &'r Bool, out: &mut Vec<Candidate<'r>>) {
    let cand = match b {
        Bool::EqText { negated: false, operands } => match &**operands {
            (Text::Field(slot), Text::Const(v)) | (Text::Const(v), Text::Field(slot)) => {
                Candidate { slot: *slot, prefix: false, from_list: false, values: vec![&**v] }
            }
            _ => return,
        },
        Bool::InText { negated: false, value: Text::Field(slot), set } => Candidate {
            slot: *slot,
            prefix: false,
            from_list: matches!(set, crate::eval::TextSet::List(_)),
            values: set.values().collect(),
        },
        Bool::StartsWith { value: Text::Field(slot), prefixes } => {
            let values: Vec<&str> = prefixes.values().collect();
            // The empty prefix matches everything, and probing never tries it.
            if values.iter().any(|v| v.is_empty()) {
                return;
            }
            Candidate {
                slot: *slot,
                prefix: true,
                from_list: matches!(prefixes, crate::eval::Prefixes::List(_)),
                values,
            }
        }
        _ => return,
    };
    out.push(cand);
}
