//! The screening decision (DATA.md "Decision") and the words it uses:
//! channel, risk level, reasons, selection source and disposal measure (M4).

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

crate::word_enum! {
    /// The lane a declaration is sent down.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Channel {
        /// Release at once.
        Green => "green",
        /// Document review (审单).
        Yellow => "yellow",
        /// Physical inspection (查验).
        Red => "red",
    }
}

impl Channel {
    pub fn is_control(self) -> bool {
        self != Channel::Green
    }
}

crate::word_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum RiskLevel {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
}

impl RiskLevel {
    /// One definition for every office (DESIGN.md): the level depends on the
    /// risk value alone, never on an office's traffic.
    pub const MEDIUM_FROM: f64 = 0.10;
    pub const HIGH_FROM: f64 = 0.40;

    pub fn from_risk_value(v: f64) -> Self {
        if v >= Self::HIGH_FROM {
            RiskLevel::High
        } else if v >= Self::MEDIUM_FROM {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        }
    }
}

crate::word_enum! {
    /// Why a declaration was controlled: the source used to split hit rates.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Source {
        /// Not controlled.
        None => "none",
        /// A mandatory rule forced the lane.
        Rule => "rule",
        /// The risk value was high enough to fill the office's target rate.
        Score => "score",
        /// Drawn uniformly at random for unbiased estimates.
        Random => "random",
        /// An officer or analyst ordered the control by hand.
        Manual => "manual",
    }
}

crate::word_enum! {
    /// Risk disposal measure (M4: 消除、转移、防范、控制、分散、接受、回避).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Disposal {
        Eliminate => "eliminate",
        Transfer => "transfer",
        Prevent => "prevent",
        Control => "control",
        Diversify => "diversify",
        Accept => "accept",
        Avoid => "avoid",
    }
}

impl Disposal {
    /// How far the measure goes, for choosing among several: avoid >
    /// eliminate > control > transfer > diversify > prevent > accept.
    pub fn severity(self) -> u8 {
        match self {
            Disposal::Avoid => 6,
            Disposal::Eliminate => 5,
            Disposal::Control => 4,
            Disposal::Transfer => 3,
            Disposal::Diversify => 2,
            Disposal::Prevent => 1,
            Disposal::Accept => 0,
        }
    }
    pub fn chinese(self) -> &'static str {
        match self {
            Disposal::Eliminate => "消除",
            Disposal::Transfer => "转移",
            Disposal::Prevent => "防范",
            Disposal::Control => "控制",
            Disposal::Diversify => "分散",
            Disposal::Accept => "接受",
            Disposal::Avoid => "回避",
        }
    }
}

/// One reason behind a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A rule (risk profile) that fired, with the version that fired.
    Rule {
        id: String,
        version: u32,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
        #[serde(default)]
        weight: f64,
    },
    /// The statistical score or learned model, with its top contributions.
    Model {
        id: String,
        score: f64,
        /// `[feature, contribution]` pairs, largest contribution first.
        #[schema(value_type = Vec<Vec<serde_json::Value>>)]
        top_features: Vec<(String, f64)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_revenue_cny: Option<f64>,
    },
    /// The declaration was drawn for a random control.
    Random { rate: f64 },
    /// Credit class adjusted the ranking.
    Credit { class: String, factor: f64 },
    /// Selectivity: how the office's threshold placed this declaration.
    Selectivity { office: String, threshold: f64, target_rate: f64 },
    /// The scorer was unavailable and the conservative default was used.
    Fallback { detail: String },
}

/// A stored, immutable screening decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub declaration_id: String,
    pub decided_at: DateTime<FixedOffset>,
    pub channel: Channel,
    pub risk_value: f64,
    pub risk_level: RiskLevel,
    pub reasons: Vec<Reason>,
    pub random: bool,
    pub instructions: String,
    /// Probability that this declaration would be controlled under the
    /// policy in force (propensity), for selection-bias correction.
    pub selection_probability: f64,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposal: Option<Disposal>,
    pub office: String,
    /// Version of the screening policy (rules set + scorer + settings).
    #[serde(default)]
    pub engine: String,
}

impl Decision {
    pub fn rule_hits(&self) -> impl Iterator<Item = (&str, u32)> {
        self.reasons.iter().filter_map(|r| match r {
            Reason::Rule { id, version, .. } => Some((id.as_str(), *version)),
            _ => None,
        })
    }
}
