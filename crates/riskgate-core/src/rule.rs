//! Rules as analysts write them (risk profiles): one version of a rule and
//! its lifecycle state. Compiling and indexing them is the engine's business;
//! storing them is the store's.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::{Channel, Disposal};

crate::word_enum! {
    /// Lifecycle state of a rule version.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum RuleStatus {
        Draft => "draft",
        Active => "active",
        Retired => "retired",
    }
}

/// One version of a rule as analysts write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// The disposal measure the rule calls for (the kind of risk it
    /// names): the decision takes the most severe of the fired rules'
    /// measures and the one its risk level gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposal: Option<Disposal>,
    /// A case kind (`anti_smuggling`, `tariff`, …): a declaration the rule
    /// fires on is referred to that kind's department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refer: Option<String>,
    /// The unit whose risk committee approves the rule (M10): an office or
    /// district code, or none for a rule of national scope. Rules stored
    /// before scopes existed read as national.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl RuleDef {
    /// A national rule of version 1 with no title, lane, instructions,
    /// validity, disposal or referral: the rest is set field by field.
    pub fn new(id: &str, when: &str, weight: f64) -> RuleDef {
        RuleDef {
            id: id.into(),
            version: 1,
            title: String::new(),
            when: when.into(),
            weight,
            channel: None,
            instructions: String::new(),
            department: String::new(),
            valid_from: None,
            valid_to: None,
            disposal: None,
            refer: None,
            scope: None,
        }
    }

    /// Whether the rule applies to a declaration made at `at`.
    pub fn valid_at(&self, at: DateTime<FixedOffset>) -> bool {
        let d = at.date_naive();
        self.valid_from.is_none_or(|f| d >= f) && self.valid_to.is_none_or(|t| d <= t)
    }
}
