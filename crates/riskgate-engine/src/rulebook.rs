//! The active rules (risk profiles) compiled against the customs schema and
//! indexed, with what each one does when it fires.

use chrono::{DateTime, FixedOffset};
use riskgate_rules::{CompiledRule, Facts, Lists, RuleError, RuleSet};

pub use riskgate_core::rule::{RuleDef, RuleStatus};

use crate::facts::CustomsSchema;

/// Compiled, indexed active rules.
#[derive(Debug)]
pub struct RuleBook {
    pub defs: Vec<RuleDef>,
    set: RuleSet<usize>,
}

impl Default for RuleBook {
    fn default() -> Self {
        RuleBook { defs: Vec::new(), set: RuleSet::new(Vec::new()) }
    }
}

pub fn compile_one(def: &RuleDef, schema: &CustomsSchema, lists: &Lists) -> Result<CompiledRule, RuleError> {
    riskgate_rules::compile(&def.when, &schema.schema, lists)
}

impl RuleBook {
    /// Compiles the given active rule versions; the ones that fail to
    /// compile are returned with their error and left out.
    pub fn build(
        defs: Vec<RuleDef>,
        schema: &CustomsSchema,
        lists: &Lists,
    ) -> (RuleBook, Vec<(String, u32, RuleError)>) {
        let mut ok = Vec::new();
        let mut kept = Vec::new();
        let mut errors = Vec::new();
        for def in defs {
            match compile_one(&def, schema, lists) {
                Ok(c) => {
                    ok.push((kept.len(), c));
                    kept.push(def);
                }
                Err(e) => errors.push((def.id.clone(), def.version, e)),
            }
        }
        (RuleBook { defs: kept, set: RuleSet::new(ok) }, errors)
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub fn indexed_len(&self) -> usize {
        self.set.indexed_len()
    }

    /// Indexes of the rules that fire, valid at `at`, in rule order.
    pub fn matching(&self, facts: &Facts, at: DateTime<FixedOffset>, out: &mut Vec<usize>) {
        out.clear();
        self.set.matching(facts, out);
        out.retain(|i| self.defs[*i].valid_at(at));
    }
}
