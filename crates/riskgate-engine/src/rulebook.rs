//! The active rules (risk profiles) compiled against the customs schema and
//! indexed, with what each one does when it fires.

use chrono::{DateTime, FixedOffset, NaiveDate};
use riskgate_core::Channel;
use riskgate_rules::{CompiledRule, Facts, Lists, RuleError, RuleSet};
use serde::{Deserialize, Serialize};

use crate::facts::CustomsSchema;

/// Lifecycle state of a rule version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    Draft,
    Active,
    Retired,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Draft => "draft",
            RuleStatus::Active => "active",
            RuleStatus::Retired => "retired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(RuleStatus::Draft),
            "active" => Some(RuleStatus::Active),
            "retired" => Some(RuleStatus::Retired),
            _ => None,
        }
    }
}

/// One version of a rule as analysts write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDef {
    pub id: String,
    pub version: u32,
    pub title: String,
    /// The condition in the rule language.
    pub when: String,
    /// Added risk in [0, 1] when the rule fires.
    #[serde(default)]
    pub weight: f64,
    /// A lane the rule forces (mandatory rule), if any.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// What the officer must do; officers see this, never the condition.
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub valid_from: Option<NaiveDate>,
    #[serde(default)]
    pub valid_to: Option<NaiveDate>,
}

impl RuleDef {
    /// Whether the rule applies to a declaration made at `at`.
    pub fn valid_at(&self, at: DateTime<FixedOffset>) -> bool {
        let d = at.date_naive();
        self.valid_from.is_none_or(|f| d >= f) && self.valid_to.is_none_or(|t| d <= t)
    }
}

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
