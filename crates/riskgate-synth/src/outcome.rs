//! Ground truth per declaration and the simulated field officer who turns a
//! control of a (possibly fraudulent) declaration into a control outcome.

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat};
use riskgate_core::rng::keyed_uniform;

use crate::collusion::Collusion;
pub use crate::truth::{Lane, Truth};
use serde_json::{Value, json};

/// Probability that a control in `lane` finds a fraud of `kind`.
pub fn detection_probability(lane: Lane, kind: &str) -> f64 {
    match (lane, kind) {
        (Lane::Red, "smuggling") => 0.85,
        (Lane::Red, _) => 0.9,
        (Lane::Yellow, "quantity") => 0.3,
        (Lane::Yellow, "smuggling") => 0.2,
        (Lane::Yellow, _) => 0.6,
    }
}

/// Probability that a physical inspection finds post-release fraud (a
/// licence agreement among the papers in the container).
pub const POST_RELEASE_AT_BORDER: f64 = 0.05;

/// Probability that a post-clearance audit (books, contracts and bank
/// records at the trader's premises) finds a fraud of `kind`; the goods
/// themselves are gone, so quantity and smuggling are found less often.
pub fn audit_detection_probability(kind: &str, post_release: bool) -> f64 {
    if post_release {
        return 0.9;
    }
    match kind {
        "undervaluation" => 0.8,
        "misclassification" | "origin" => 0.7,
        "quantity" => 0.4,
        "smuggling" => 0.5,
        _ => 0.5,
    }
}

/// Plays the audit department for one post-clearance audit using the
/// ground truth: whether it finds the fraud, and what it assesses.
/// Deterministic from (seed, declaration id).
pub fn simulate_audit(seed: u64, truth: &Truth) -> AuditResult {
    let id = &truth.declaration_id;
    let p = if truth.fraud {
        truth.kinds.iter().map(|k| audit_detection_probability(k, truth.post_release)).fold(0.0, f64::max)
    } else {
        0.0
    };
    let found = keyed_uniform(seed, &format!("audit/detect/{id}")) < p;
    AuditResult {
        found,
        findings: if found { truth.kinds.clone() } else { Vec::new() },
        additional_duty: if found { round2(truth.evaded_duty_cny.max(0.0)) } else { 0.0 },
        smuggling: found && truth.smuggling,
        summary: match (found, truth.post_release) {
            (false, _) => "稽查未发现问题 / the audit found nothing",
            (true, true) => {
                "查实特许权使用费未计入完税价格，补征税款 / royalties left out of the customs value: duty assessed"
            }
            (true, false) => "稽查查实申报不实，补征税款 / the audit found the declaration untrue: duty assessed",
        }
        .to_string(),
    }
}

/// What a simulated audit found.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditResult {
    pub found: bool,
    pub findings: Vec<String>,
    pub additional_duty: f64,
    pub smuggling: bool,
    pub summary: String,
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn note(found: bool, kinds: &[String], lane: Lane) -> &'static str {
    if !found {
        return match lane {
            Lane::Red => "查验未见异常，准予放行",
            Lane::Yellow => "单证审核未见异常",
        };
    }
    match kinds.first().map(String::as_str) {
        Some("undervaluation") => "申报价格明显低于实际成交价格，已补征税款",
        Some("misclassification") => "商品归类申报不实，已改归并补税",
        Some("origin") => "原产地申报不实，取消协定税率并补税",
        Some("quantity") => "实际数量与申报不符，已补税",
        Some("smuggling") => "查获夹藏未申报货物，移交缉私部门",
        _ => "发现违规情事",
    }
}

/// Plays the field officer for one controlled declaration using the ground
/// truth; the result is the DATA.md control-outcome JSON. Deterministic from
/// (seed, declaration id): the same control always ends the same way.
pub fn simulate_outcome(
    seed: u64,
    truth: &Truth,
    channel: Lane,
    decided_at: DateTime<FixedOffset>,
    officers_of_office: &[String],
) -> Value {
    simulate_control(seed, truth, channel, decided_at, officers_of_office, &Collusion::default())
}

/// [`simulate_outcome`] in a world with planted colluders: a colluder picks
/// up a linked trader's control and bends it (see `collusion`).
pub fn simulate_control(
    seed: u64,
    truth: &Truth,
    channel: Lane,
    decided_at: DateTime<FixedOffset>,
    officers_of_office: &[String],
    collusion: &Collusion,
) -> Value {
    let id = &truth.declaration_id;
    let (officer, bent) = crate::collusion::assign(
        seed,
        id,
        truth.trader.as_deref(),
        &truth.office,
        decided_at.timestamp(),
        officers_of_office,
        collusion,
    );
    let p = if truth.post_release {
        // What was paid after release is not in the papers or the container.
        if channel == Lane::Red { POST_RELEASE_AT_BORDER } else { 0.0 }
    } else if truth.fraud {
        truth.kinds.iter().map(|k| detection_probability(channel, k)).fold(0.0, f64::max)
    } else {
        0.0
    };
    let p = p * bent.map_or(1.0, |b| b.finding_factor);
    let found = keyed_uniform(seed, &format!("outcome/detect/{id}")) < p;
    let hours = match channel {
        Lane::Red => 1.0 + 5.0 * keyed_uniform(seed, &format!("outcome/duration/{id}")),
        Lane::Yellow => 0.3 + 3.0 * keyed_uniform(seed, &format!("outcome/duration/{id}")),
    } * bent.map_or(1.0, |b| b.duration_factor);
    let mut completed_at = decided_at + Duration::seconds((hours * 3600.0) as i64);
    if bent.is_some_and(|b| b.evening) {
        completed_at = crate::collusion::evening(seed, id, completed_at, decided_at + Duration::minutes(10));
    }
    let seizure = found && truth.smuggling;
    let findings: Vec<String> = if found { truth.kinds.clone() } else { Vec::new() };
    let mut out = json!({
        "declaration_id": id,
        "officer": officer,
        "control": channel.control(),
        "completed_at": completed_at.to_rfc3339_opts(SecondsFormat::Secs, false),
        "result": if found { "finding" } else { "no_finding" },
        "findings": findings,
        "additional_duty": if found { round2(truth.evaded_duty_cny.max(0.0)) } else { 0.0 },
        "seizure": seizure,
    });
    if !seizure {
        let u = keyed_uniform(seed, &format!("outcome/release/{id}"));
        let wait =
            if bent.is_some_and(|b| b.fast_release) { 60 + (u * 540.0) as i64 } else { 600 + (u * 6600.0) as i64 };
        let released_at = completed_at + Duration::seconds(wait);
        out["released_at"] = Value::from(released_at.to_rfc3339_opts(SecondsFormat::Secs, false));
    }
    out["note"] = Value::from(note(found, &truth.kinds, channel));
    out
}
