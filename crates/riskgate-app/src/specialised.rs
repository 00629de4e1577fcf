//! Specialised audit selection (专业审计, M11, issue 12): which customs
//! units (field offices) and which posts (office × post, as the integrity
//! indicators define them) are worth an audit of their control work,
//! ranked from the enforcement and integrity figures the system already
//! keeps — the way post-clearance audit ranks declarations
//! ([`crate::postclearance`]).
//!
//! # Figures
//!
//! * **units** (offices): declarations, completed border controls and
//!   findings, random controls and their findings, declarations let go
//!   without control — the KPI aggregates ([`crate::kpi::counts`], the
//!   figures of `riskgate analysis --dim unit`);
//! * **posts**: the completed border controls of their officers and their
//!   findings, from the integrity input ([`crate::integrity::load_input`],
//!   the same controls the integrity indicators count; audit controls left
//!   out);
//! * **overrides to a lighter lane** (red/yellow → green, red → yellow)
//!   from the action log, per office and per overriding officer's post;
//! * **post-clearance audit findings on its releases**: live declarations
//!   the unit released (green, or a border control without finding, or an
//!   override to green) that a later audit (control `audit`) looked at, and
//!   those it found something in (a finding or a seizure), with the duty
//!   recovered; for a post, the releases after its officers' controls
//!   without finding and its officers' overrides;
//! * optionally the **integrity** score and level of the unit or post,
//!   and its officers at `watch` or `warning` with their scores
//!   (`riskgate-integrity`): only for callers who may read integrity data
//!   (`Perm::ReadActions` over HTTP — none of the roles that may select
//!   audits today — and the operator at the command line); the read is
//!   logged (`integrity_read`, target `specialised_audit`).
//!
//! # Score: expected problem declarations
//!
//! Every enforcement indicator is a rate `x / n` compared with the pooled
//! rate `p̄` of the subject's peers (units: all offices; posts: the same
//! post in every office). The rate is shrunk toward `p̄` by empirical Bayes
//! (a beta prior of strength `k` pseudo-observations, `k = p̄(1 − p̄)/τ² − 1`
//! from the method-of-moments between-subject variance τ², bounded to
//! [`MIN_STRENGTH`, `MAX_STRENGTH`]; τ² is 0 — every rate shrinks to `p̄` —
//! unless Pearson's X² of the subjects exceeds its degrees of freedom by two
//! standard deviations), and the shrunk excess is multiplied by
//! the volume it applies to, so every term counts declarations:
//!
//! * `missed_findings` = controls × (p̄ − shrunk hit rate), the findings
//!   the unit's controls did not make that peers' would have;
//! * `excess_undetected` (units) = declarations let go × (shrunk random
//!   finding rate − p̄): problems its uncontrolled traffic carries beyond
//!   peers', estimated from the random controls (an unbiased sample);
//! * `lost_by_overrides` = (overrides down − what the peers' override rate
//!   predicts, shrunk) × the peers' hit rate: findings the excess overrides
//!   are expected to have forgone;
//! * `excess_audit_findings` = audited releases × (shrunk audit finding
//!   rate − p̄): problems post-clearance audits found in what it released,
//!   beyond what they find in peers' releases.
//!
//! `score` = the sum of their positive parts, + the integrity score
//! (−log₁₀ p plus rule points; one decade of evidence weighs as one problem
//! declaration) when integrity data is read and the subject's integrity
//! level is `watch` or `warning` (the level the integrity family's
//! false-discovery control sets; below it the score is what chance gives),
//! or the sum of its officers' scores at those levels if larger. With
//! shrinkage × volume a unit with three declarations and one finding cannot
//! top a large unit with a solid excess: its shrunk rate stays near its
//! peers', and its volume is small.
//!
//! Not done: districts are not ranked as such (a district's specialised
//! audit covers its offices: scope the ranking with `office`); hit rates
//! are not adjusted for the risk mix of the traffic (the integrity
//! indicator `finding_shortfall` is, and counts through the integrity
//! score); audits are not drawn at random, so the audit finding rate of
//! releases compares audits chosen the same way across units, not an
//! unbiased sample.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use riskgate_core::{Channel, ControlKind};
use serde::Serialize;

use crate::app::App;
use crate::error::AppError;
use crate::postclearance::{round2, round4};

/// The period when none is given, in days up to now, and the longest.
pub use crate::postclearance::{DEFAULT_DAYS, MAX_DAYS};
/// Bounds of the prior's strength (pseudo-observations) in the shrinkage.
pub const MIN_STRENGTH: f64 = 10.0;
pub const MAX_STRENGTH: f64 = 10_000.0;
/// A term must reach this many problem declarations to be named as a reason.
pub const REASON_FLOOR: f64 = 0.5;

/// What is ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditBy {
    /// Field offices (units).
    Unit,
    /// Posts: office × post of the officers.
    Post,
}

impl AuditBy {
    pub fn parse(s: &str) -> Result<AuditBy> {
        match s {
            "unit" => Ok(AuditBy::Unit),
            "post" => Ok(AuditBy::Post),
            _ => Err(AppError::invalid("by", format!("by: expected unit or post, got {s:?}")).into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Query {
    /// Declarations declared (controls completed, overrides made) in
    /// `[from, to)` (seconds); default: the `DEFAULT_DAYS` up to now.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Only rows of these offices (the caller's subtree); `None`: all.
    /// Peers are always every office, so a scope changes no score.
    pub offices: Option<Vec<String>>,
    pub by: AuditBy,
    pub limit: usize,
    /// Read and use the integrity scores (only for those who may read
    /// integrity data; the read is logged).
    pub integrity: bool,
}

/// The counts one subject's score is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Units: live declarations; posts: declarations its officers controlled.
    pub declarations: u64,
    /// Completed border controls and their findings.
    pub controls: u64,
    pub findings: u64,
    /// Completed random controls and their findings (units).
    pub random_controls: u64,
    pub random_findings: u64,
    /// Declarations let go without control (units).
    pub uncontrolled: u64,
    /// Lane decisions an override could lower: the engine's controls
    /// (units), or the controls and overrides of the post's officers.
    pub lane_controls: u64,
    pub overrides_down: u64,
    /// Declarations released (green, controlled without finding, overridden to green).
    pub released: u64,
    /// Of those, audited after release, and found.
    pub audited_releases: u64,
    pub audit_findings: u64,
    /// Additional duty those audits recovered, CNY.
    pub audit_duty: f64,
}

/// One unit or post to rank: who, its peer group, its counts and, when
/// read, its integrity level and score.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub office: String,
    pub post: Option<String>,
    pub name: Option<String>,
    pub counts: Counts,
    pub integrity: Option<(String, f64)>,
    /// Its officers at integrity level `watch` or `warning`: how many, and
    /// the sum of their scores (when integrity data is read).
    pub flagged_officers: Option<(u64, f64)>,
}

/// One ranked unit or post.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditTarget {
    /// The office code (rows of `by = unit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The office and the post (rows of `by = post`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post: Option<String>,
    /// The office's name.
    pub name: Option<String>,
    /// Expected problem declarations (module doc): the ranking.
    pub score: f64,
    /// "中文 / English", the figures behind the score.
    pub reasons: Vec<String>,
    pub declarations: u64,
    pub controls: u64,
    pub findings: u64,
    pub hit_rate: Option<f64>,
    pub peer_hit_rate: Option<f64>,
    /// Findings its controls missed against peers (shrunk).
    pub missed_findings: f64,
    pub random_controls: u64,
    pub random_findings: u64,
    /// Random finding rate × declarations let go (as `analysis`).
    pub estimated_undetected: Option<f64>,
    /// Of those, beyond peers' rate (shrunk).
    pub excess_undetected: f64,
    pub overrides_down: u64,
    pub override_rate: Option<f64>,
    pub peer_override_rate: Option<f64>,
    /// Findings the overrides beyond peers' rate are expected to have forgone.
    pub lost_by_overrides: f64,
    pub released: u64,
    pub audited_releases: u64,
    pub audit_findings_after_release: u64,
    pub audit_duty_recovered: f64,
    pub peer_audit_rate: Option<f64>,
    /// Audit findings on its releases beyond peers' rate (shrunk).
    pub excess_audit_findings: f64,
    /// Integrity level and score (only when integrity data was read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity_score: Option<f64>,
    /// Its officers at integrity `watch` or `warning`, and their scores summed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged_officers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged_officers_score: Option<f64>,
    /// What the integrity figures added to the score.
    pub integrity_term: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SpecialisedSelection {
    /// The period's first and last days (China time).
    pub from: String,
    pub to: String,
    pub by: AuditBy,
    /// Units or posts ranked (before scope and limit).
    pub ranked: usize,
    /// Whether the integrity scores entered the ranking.
    pub integrity: bool,
    pub rows: Vec<AuditTarget>,
}

/// A beta prior: the peers' pooled rate and its strength in pseudo-observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub mean: f64,
    pub strength: f64,
}

impl Prior {
    /// Empirical Bayes by the method of moments over `(x, n)` pairs: the
    /// pooled rate, and the strength `p̄(1 − p̄)/τ² − 1` from the
    /// between-subject variance τ² (bounded to `MIN_STRENGTH`..`MAX_STRENGTH`;
    /// τ² = 0 unless Pearson's X² shows overdispersion).
    pub fn of(pairs: &[(f64, f64)]) -> Prior {
        let pairs: Vec<(f64, f64)> = pairs.iter().copied().filter(|p| p.1 > 0.0).collect();
        let n: f64 = pairs.iter().map(|p| p.1).sum();
        if n <= 0.0 {
            return Prior { mean: 0.0, strength: MAX_STRENGTH };
        }
        let mean = pairs.iter().map(|p| p.0).sum::<f64>() / n;
        let var = mean * (1.0 - mean);
        let g = pairs.len() as f64;
        let s: f64 = pairs.iter().map(|(x, m)| m * (x / m - mean).powi(2)).sum();
        let denom = n - pairs.iter().map(|p| p.1 * p.1).sum::<f64>() / n;
        // Overdispersion must show before it is believed: Pearson's X² of
        // the subjects against the pooled rate beyond its degrees of
        // freedom by two standard deviations. Below that the spread is
        // binomial noise (a handful of random controls with two findings
        // among them), τ² is taken as 0 and every rate shrinks to the mean.
        let df = g - 1.0;
        let overdispersed = var > 0.0 && s / var > df + 2.0 * (2.0 * df).sqrt();
        let tau2 = if denom > 0.0 && overdispersed { ((s - df * var) / denom).max(0.0) } else { 0.0 };
        let strength = if tau2 > 0.0 { var / tau2 - 1.0 } else { MAX_STRENGTH };
        Prior { mean, strength: strength.clamp(MIN_STRENGTH, MAX_STRENGTH) }
    }

    /// Events beyond the prior's rate among `n` with the rate shrunk:
    /// `n × (shrunk − p̄) = (x − n p̄) × n / (n + k)`; negative below it.
    pub fn excess(&self, x: f64, n: f64) -> f64 {
        if n <= 0.0 { 0.0 } else { (x - n * self.mean) * n / (n + self.strength) }
    }
}

fn rate(x: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| x as f64 / n as f64)
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |r| format!("{:.1}%", 100.0 * r))
}

/// Ranks subjects (best first): the pure half of [`select`]. Peers of a
/// unit are every unit given; peers of a post the same post in every office.
pub fn rank(subjects: &[Subject]) -> Vec<AuditTarget> {
    let group = |s: &Subject| s.post.clone().unwrap_or_default();
    let mut groups: BTreeMap<String, Vec<&Subject>> = BTreeMap::new();
    for s in subjects {
        groups.entry(group(s)).or_default().push(s);
    }
    let mut out = Vec::with_capacity(subjects.len());
    for members in groups.values() {
        let pairs = |f: &dyn Fn(&Counts) -> (u64, u64)| -> Prior {
            Prior::of(
                &members
                    .iter()
                    .map(|s| {
                        let (x, n) = f(&s.counts);
                        (x as f64, n as f64)
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let hit = pairs(&|c| (c.findings, c.controls));
        let random = pairs(&|c| (c.random_findings, c.random_controls));
        let over = pairs(&|c| (c.overrides_down, c.lane_controls));
        let audit = pairs(&|c| (c.audit_findings, c.audited_releases));
        for s in members {
            out.push(row(s, &hit, &random, &over, &audit));
        }
    }
    out.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then_with(|| {
            (a.unit.as_ref(), a.office.as_ref(), a.post.as_ref()).cmp(&(
                b.unit.as_ref(),
                b.office.as_ref(),
                b.post.as_ref(),
            ))
        })
    });
    out
}

fn row(s: &Subject, hit: &Prior, random: &Prior, over: &Prior, audit: &Prior) -> AuditTarget {
    let c = &s.counts;
    let f = |x: u64| x as f64;
    let missed = (-hit.excess(f(c.findings), f(c.controls))).max(0.0);
    let undetected_rate = if c.random_controls > 0 {
        (f(c.random_findings) + random.strength * random.mean) / (f(c.random_controls) + random.strength)
    } else {
        random.mean
    };
    let excess_undetected =
        if c.random_controls > 0 { (f(c.uncontrolled) * (undetected_rate - random.mean)).max(0.0) } else { 0.0 };
    let excess_overrides = over.excess(f(c.overrides_down), f(c.lane_controls)).max(0.0);
    let lost = excess_overrides * hit.mean;
    let excess_audit = audit.excess(f(c.audit_findings), f(c.audited_releases)).max(0.0);
    let integrity_score = s.integrity.as_ref().map(|i| i.1.max(0.0));
    // Only a level the integrity family's false-discovery control raised
    // counts: below `watch` the score is what chance gives.
    // Its officers' scores at those levels count too (the larger of the two:
    // the unit's own score already weighs its flagged officers).
    let own = s.integrity.as_ref().filter(|i| i.0 == "watch" || i.0 == "warning").map_or(0.0, |i| i.1.max(0.0));
    let integrity_term = own.max(s.flagged_officers.map_or(0.0, |f| f.1));
    let score = missed + excess_undetected + lost + excess_audit + integrity_term;

    let mut reasons = Vec::new();
    let (hr, peer) = (rate(c.findings, c.controls), (hit.mean > 0.0 || c.controls > 0).then_some(hit.mean));
    if c.controls > 0 {
        reasons.push(format!(
            "查验/审单 {n} 票，查获 {x} 票（查获率 {r}，同类 {p}） / {n} controls, {x} findings (hit rate {r}, peers {p})",
            n = c.controls,
            x = c.findings,
            r = pct(hr),
            p = pct(peer),
        ));
    }
    if missed >= REASON_FLOOR {
        reasons.push(format!(
            "按同类查获率应多查获约 {m:.1} 票 / about {m:.1} findings fewer than peers' hit rate gives (shrunk)",
            m = missed
        ));
    }
    if c.audit_findings > 0 {
        reasons.push(format!(
            "放行后稽查查获 {a} 票（稽查 {n} 票，同类查获率 {p}），追补税款 {d:.0} 元 / {a} findings by post-clearance \
             audit on its releases ({n} audited, peers' rate {p}), {d:.0} CNY recovered",
            a = c.audit_findings,
            n = c.audited_releases,
            p = pct(Some(audit.mean)),
            d = c.audit_duty,
        ));
    }
    if excess_audit >= REASON_FLOOR {
        reasons.push(format!(
            "放行后稽查查获超出同类约 {e:.1} 票 / about {e:.1} audit findings on its releases beyond peers' (shrunk)",
            e = excess_audit
        ));
    }
    if c.overrides_down > 0 {
        reasons.push(format!(
            "改为较低通道 {o} 次（占布控 {r}，同类 {p}） / {o} overrides to a lighter lane ({r} of its controls, \
             peers {p})",
            o = c.overrides_down,
            r = pct(rate(c.overrides_down, c.lane_controls)),
            p = pct(Some(over.mean)),
        ));
    }
    if lost >= REASON_FLOOR {
        reasons.push(format!(
            "超出同类的改通道估计漏查约 {l:.1} 票 / overrides beyond peers' rate forwent about {l:.1} findings",
            l = lost
        ));
    }
    if excess_undetected >= REASON_FLOOR {
        reasons.push(format!(
            "随机布控查获率 {r}（同类 {p}），未布控 {u} 票中超出同类约 {e:.1} 票问题 / random controls find {r} (peers \
             {p}): about {e:.1} problems beyond peers' among the {u} declarations let go",
            r = pct(rate(c.random_findings, c.random_controls)),
            p = pct(Some(random.mean)),
            u = c.uncontrolled,
            e = excess_undetected,
        ));
    }
    if let Some((level, score)) = &s.integrity
        && level != "normal"
    {
        let zh = match level.as_str() {
            "warning" => "预警",
            "watch" => "关注",
            _ => "未定",
        };
        reasons.push(format!("廉政风险{zh}（得分 {score:.1}） / integrity {level} (score {score:.1})"));
    }
    if let Some((n, sum)) = s.flagged_officers
        && n > 0
    {
        reasons.push(format!(
            "廉政关注或预警关员 {n} 名（得分合计 {sum:.1}） / {n} officers at integrity watch or warning (scores \
             {sum:.1} together)"
        ));
    }
    if reasons.is_empty() {
        reasons.push("期内无布控、改通道或稽查记录 / no controls, overrides or audits in the period".into());
    }
    let (unit, office, post) = match &s.post {
        None => (Some(s.office.clone()), None, None),
        Some(p) => (None, Some(s.office.clone()), Some(p.clone())),
    };
    AuditTarget {
        unit,
        office,
        post,
        name: s.name.clone(),
        score: round2(score),
        reasons,
        declarations: c.declarations,
        controls: c.controls,
        findings: c.findings,
        hit_rate: hr.map(round4),
        peer_hit_rate: peer.map(round4),
        missed_findings: round2(missed),
        random_controls: c.random_controls,
        random_findings: c.random_findings,
        estimated_undetected: rate(c.random_findings, c.random_controls).map(|r| round2(r * f(c.uncontrolled))),
        excess_undetected: round2(excess_undetected),
        overrides_down: c.overrides_down,
        override_rate: rate(c.overrides_down, c.lane_controls).map(round4),
        peer_override_rate: Some(round4(over.mean)),
        lost_by_overrides: round2(lost),
        released: c.released,
        audited_releases: c.audited_releases,
        audit_findings_after_release: c.audit_findings,
        audit_duty_recovered: round2(c.audit_duty),
        peer_audit_rate: Some(round4(audit.mean)),
        excess_audit_findings: round2(excess_audit),
        integrity_level: s.integrity.as_ref().map(|i| i.0.clone()),
        integrity_score: integrity_score.map(round2),
        flagged_officers: s.flagged_officers.map(|f| f.0),
        flagged_officers_score: s.flagged_officers.map(|f| round2(f.1)),
        integrity_term: round2(integrity_term),
    }
}

fn period(q: &Query) -> Result<(i64, i64)> {
    crate::postclearance::period_bounds(q.from, q.to)
}

/// The lanes from lightest to heaviest.
fn lane_rank(l: &str) -> Option<u8> {
    match l {
        "green" => Some(0),
        "yellow" => Some(1),
        "red" => Some(2),
        _ => None,
    }
}

/// Ranks the units or posts of the period for a specialised audit (the
/// first `limit` in the caller's scope), with their figures and reasons.
pub fn select(app: &mut App, q: &Query) -> Result<SpecialisedSelection> {
    let (from, to) = period(q)?;
    let store = app.store.as_ref();
    let offices = store.offices()?;
    let names: HashMap<&str, &str> = offices.iter().map(|o| (o.code.as_str(), o.name.as_str())).collect();
    let input = crate::integrity::load_input(store, Some(from), Some(to), None)?;
    // Officer → (office, post), as the integrity indicators group them.
    let post_of: HashMap<&str, (&str, &str)> =
        input.officers.iter().map(|o| (o.id.as_str(), (o.office.as_str(), o.post.as_str()))).collect();
    let post_key = |officer: &str, office: &str| -> (String, String) {
        match post_of.get(officer) {
            Some((o, p)) => ((*o).to_string(), (*p).to_string()),
            None => (office.to_string(), "unregistered".to_string()),
        }
    };
    let mut units: BTreeMap<String, Counts> = BTreeMap::new();
    let mut posts: BTreeMap<(String, String), Counts> = BTreeMap::new();
    // Units: the KPI aggregates (live declarations of the period).
    for c in crate::kpi::counts(store, Some(from), Some(to))? {
        let f = &c.facts;
        let u = units.entry(c.office.clone()).or_default();
        u.declarations = f.declarations as u64;
        u.controls = f.completed() as u64;
        u.findings = f.findings() as u64;
        u.random_controls = f.completed_random as u64;
        u.random_findings = f.findings_random as u64;
        u.uncontrolled = f.uncontrolled as u64;
        u.lane_controls = f.engine_controls as u64;
    }
    // Posts: their officers' completed border controls.
    for c in input.controls.iter().filter(|c| c.control != ControlKind::Audit.as_str()) {
        let p = posts.entry(post_key(&c.officer, &c.office)).or_default();
        p.declarations += 1;
        p.controls += 1;
        p.lane_controls += 1;
        p.findings += u64::from(c.finding);
    }
    // Overrides to a lighter lane, and the declarations they released.
    let mut overridden_green: HashMap<&str, (String, String)> = HashMap::new();
    for o in &input.overrides {
        let (Some(b), Some(a)) = (lane_rank(&o.before), lane_rank(&o.after)) else { continue };
        let key = post_key(&o.officer, &o.office);
        let p = posts.entry(key.clone()).or_default();
        p.lane_controls += 1;
        if a < b {
            p.overrides_down += 1;
            // The office the override was made at (the officer's, when the
            // log does not say).
            let office = if o.office.is_empty() { key.0.clone() } else { o.office.clone() };
            if !office.is_empty() {
                units.entry(office).or_default().overrides_down += 1;
            }
            if a == 0 {
                overridden_green.insert(o.declaration_id.as_str(), key);
            }
        }
    }
    // Releases and what audits found in them.
    app.store.history(Some(from), Some(to), &mut |r| {
        let Some(decision) = &r.decision else { return };
        let border: Vec<&riskgate_core::Outcome> =
            r.outcomes.iter().filter(|o| o.control != ControlKind::Audit).collect();
        let audits: Vec<&riskgate_core::Outcome> =
            r.outcomes.iter().filter(|o| o.control == ControlKind::Audit).collect();
        let border_found = border.iter().any(|o| o.is_finding() || o.seizure);
        let by_post = if border_found {
            None
        } else if let Some(o) = border.last() {
            Some(post_key(&o.officer, &r.declaration.office))
        } else {
            overridden_green.get(r.declaration.id.as_str()).cloned()
        };
        let released = !border_found && (decision.channel == Channel::Green || by_post.is_some());
        if !released {
            return;
        }
        let audited = !audits.is_empty();
        let found = audits.iter().any(|o| o.is_finding() || o.seizure);
        let duty: f64 = audits.iter().map(|o| o.additional_duty).sum();
        let add = |c: &mut Counts| {
            c.released += 1;
            c.audited_releases += u64::from(audited);
            c.audit_findings += u64::from(found);
            c.audit_duty += duty;
        };
        add(units.entry(r.declaration.office.clone()).or_default());
        if let Some(k) = by_post {
            add(posts.entry(k).or_default());
        }
    })?;
    // Integrity scores, for those who may read them (the read is logged).
    let mut integrity: HashMap<String, (String, f64)> = HashMap::new();
    let mut flagged: HashMap<String, (u64, f64)> = HashMap::new();
    if q.integrity {
        let report = riskgate_integrity::compute(&input, &riskgate_integrity::Config::default());
        let list = if q.by == AuditBy::Unit { &report.units } else { &report.posts };
        for s in list {
            integrity.insert(s.id.clone(), (s.level.as_str().to_string(), s.score));
        }
        for o in report.officers.iter().filter(|o| matches!(o.level.as_str(), "watch" | "warning")) {
            let key = match (q.by, &o.post) {
                (AuditBy::Post, Some(p)) => format!("{}/{p}", o.office),
                _ => o.office.clone(),
            };
            let f = flagged.entry(key).or_default();
            f.0 += 1;
            f.1 += o.score.max(0.0);
        }
        let mut a = app.action("integrity_read", "specialised_audit");
        a.after = Some(serde_json::json!({"from": from, "to": to, "by": q.by, "subjects": list.len()}));
        app.store.append_action(&a)?;
    }
    let name = |o: &str| names.get(o).map(|n| (*n).to_string());
    let subjects: Vec<Subject> = match q.by {
        AuditBy::Unit => units
            .into_iter()
            .map(|(office, counts)| Subject {
                name: name(&office),
                integrity: q.integrity.then(|| integrity.get(&office).cloned().unwrap_or(("normal".into(), 0.0))),
                flagged_officers: q.integrity.then(|| flagged.get(&office).copied().unwrap_or_default()),
                office,
                post: None,
                counts,
            })
            .collect(),
        AuditBy::Post => posts
            .into_iter()
            .map(|((office, post), counts)| Subject {
                name: name(&office),
                integrity: q
                    .integrity
                    .then(|| integrity.get(&format!("{office}/{post}")).cloned().unwrap_or(("normal".into(), 0.0))),
                flagged_officers: q
                    .integrity
                    .then(|| flagged.get(&format!("{office}/{post}")).copied().unwrap_or_default()),
                office,
                post: Some(post),
                counts,
            })
            .collect(),
    };
    let mut rows = rank(&subjects);
    let ranked = rows.len();
    if let Some(scope) = &q.offices {
        let scope: HashSet<&str> = scope.iter().map(String::as_str).collect();
        rows.retain(|r| r.unit.as_deref().or(r.office.as_deref()).is_some_and(|o| scope.contains(o)));
    }
    rows.truncate(q.limit);
    Ok(SpecialisedSelection {
        from: crate::app::china_date(from),
        to: crate::app::china_date(to - 1),
        by: q.by,
        ranked,
        integrity: q.integrity,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(code: &str, c: Counts) -> Subject {
        Subject { office: code.into(), post: None, name: None, counts: c, integrity: None, flagged_officers: None }
    }

    /// A clean unit's counts: 1,000 declarations, 40 controls finding 10
    /// (25%), 10 random controls finding 1, 100 audited releases of 960
    /// finding 5.
    fn clean() -> Counts {
        Counts {
            declarations: 1_000,
            controls: 40,
            findings: 10,
            random_controls: 10,
            random_findings: 1,
            uncontrolled: 960,
            lane_controls: 40,
            overrides_down: 0,
            released: 990,
            audited_releases: 100,
            audit_findings: 5,
            audit_duty: 5_000.0,
        }
    }

    fn score_of<'a>(rows: &'a [AuditTarget], code: &str) -> &'a AuditTarget {
        rows.iter().find(|r| r.unit.as_deref() == Some(code) || r.office.as_deref() == Some(code)).unwrap()
    }

    /// Table-driven: each case is a world of units, the unit expected on
    /// top and one expected below it.
    #[test]
    fn units_whose_releases_audits_find_fraudulent_rank_first_and_small_noise_does_not() {
        let peers = || (1..=6).map(|i| unit(&format!("P{i}"), clean())).collect::<Vec<_>>();
        let cases: Vec<(&str, Vec<Subject>, &str, &str)> = vec![
            (
                "audits find a third of its audited releases fraudulent",
                vec![unit("BAD", Counts { audit_findings: 35, audit_duty: 900_000.0, ..clean() }), unit("OK", clean())],
                "BAD",
                "OK",
            ),
            (
                "a 3-declaration unit with 1 audit finding stays below a large unit with a solid excess",
                vec![
                    unit("BIG", Counts { audit_findings: 20, ..clean() }),
                    unit(
                        "TINY",
                        Counts {
                            declarations: 3,
                            released: 3,
                            audited_releases: 3,
                            audit_findings: 1,
                            uncontrolled: 3,
                            ..Counts::default()
                        },
                    ),
                ],
                "BIG",
                "TINY",
            ),
            (
                "a unit whose controls find half the peers' rate",
                vec![
                    unit("LAX", Counts { controls: 400, findings: 40, lane_controls: 400, ..clean() }),
                    unit("OK", clean()),
                ],
                "LAX",
                "OK",
            ),
            (
                "a unit overriding a tenth of its controls to green",
                vec![
                    unit(
                        "OVR",
                        Counts { controls: 400, findings: 100, lane_controls: 400, overrides_down: 40, ..clean() },
                    ),
                    unit("OK", Counts { controls: 400, findings: 100, lane_controls: 400, ..clean() }),
                ],
                "OVR",
                "OK",
            ),
        ];
        for (what, mut subjects, top, below) in cases {
            subjects.extend(peers());
            let rows = rank(&subjects);
            assert_eq!(rows[0].unit.as_deref(), Some(top), "{what}: {rows:#?}");
            let (t, b) = (score_of(&rows, top), score_of(&rows, below));
            assert!(t.score > b.score, "{what}: {} vs {}", t.score, b.score);
            assert!(rows.windows(2).all(|w| w[0].score >= w[1].score), "{what}: sorted");
        }
    }

    /// The reasons name the figures behind the score.
    #[test]
    fn reasons_name_the_figures() {
        let mut subjects = vec![unit(
            "BAD",
            Counts { audit_findings: 3, audited_releases: 10, overrides_down: 4, audit_duty: 12_345.0, ..clean() },
        )];
        subjects.extend((1..=4).map(|i| unit(&format!("P{i}"), clean())));
        let rows = rank(&subjects);
        let bad = score_of(&rows, "BAD");
        let text = bad.reasons.join("\n");
        assert!(text.contains("放行后稽查查获 3 票"), "{text}");
        assert!(text.contains("3 findings by post-clearance audit on its releases (10 audited"), "{text}");
        assert!(text.contains("12345 CNY recovered"), "{text}");
        assert!(text.contains("4 overrides to a lighter lane"), "{text}");
        assert!(text.contains("40 controls, 10 findings (hit rate 25.0%"), "{text}");
        assert_eq!((bad.audit_findings_after_release, bad.audited_releases, bad.overrides_down), (3, 10, 4));
        assert!(bad.excess_audit_findings > 0.0 && bad.lost_by_overrides > 0.0, "{bad:?}");
        assert_eq!(bad.peer_hit_rate, Some(0.25));
    }

    /// Posts are compared with the same post in other offices, and an
    /// integrity warning adds its score.
    #[test]
    fn posts_have_their_own_peers_and_integrity_adds_its_score() {
        let post = |office: &str, post: &str, c: Counts, i: Option<(&str, f64)>| Subject {
            office: office.into(),
            post: Some(post.into()),
            name: None,
            counts: c,
            integrity: i.map(|(l, s)| (l.to_string(), s)),
            flagged_officers: None,
        };
        // Document review finds 10% everywhere, inspection 40%: neither is
        // below its own peers; an integrity score at level normal is chance.
        let doc = Counts { controls: 200, findings: 20, lane_controls: 200, ..Counts::default() };
        let insp = Counts { controls: 200, findings: 80, lane_controls: 200, ..Counts::default() };
        let mut subjects = Vec::new();
        for o in ["A", "B", "C", "D"] {
            subjects.push(post(o, "document_review", doc.clone(), Some(("normal", 2.0))));
            subjects.push(post(o, "inspection", insp.clone(), Some(("normal", 0.0))));
        }
        subjects.push(post("E", "inspection", insp.clone(), Some(("warning", 6.0))));
        // A post at level normal whose two officers are at watch: their scores count.
        let mut f = post("F", "inspection", insp.clone(), Some(("normal", 1.0)));
        f.flagged_officers = Some((2, 4.5));
        subjects.push(f);
        let rows = rank(&subjects);
        assert_eq!((rows[0].office.as_deref(), rows[0].post.as_deref()), (Some("E"), Some("inspection")));
        assert_eq!(rows[0].score, 6.0);
        assert!(rows[0].reasons.iter().any(|r| r.contains("integrity warning (score 6.0)")), "{:?}", rows[0].reasons);
        assert_eq!((rows[1].office.as_deref(), rows[1].score, rows[1].flagged_officers), (Some("F"), 4.5, Some(2)));
        assert!(rows[1].reasons.iter().any(|r| r.contains("2 officers at integrity watch or warning")), "{rows:#?}");
        assert!(rows[2..].iter().all(|r| r.score < 0.5), "{rows:#?}");
        assert_eq!(score_of(&rows, "A").peer_hit_rate, Some(0.1));
    }

    /// From the store: live declarations screened at two offices, the
    /// controlled ones (and a manual control on every third) completed
    /// without finding by each office's officer,
    /// then every release audited — office 2201's all found wanting, 2202's
    /// clean. The findings count for 2201 and, for the controlled ones, for
    /// its officer's post; 2201 ranks first; a scope keeps its rows and
    /// changes no score; reading integrity data is logged.
    #[test]
    fn select_reads_releases_and_audit_findings_from_the_store() {
        use riskgate_core::{Office, OfficeLevel, Officer, Outcome};
        use riskgate_store::{SqliteStore, Store};
        use serde_json::json;

        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let office = |code: &str, parent: Option<&str>, level| Office {
            name: format!("关{code}"),
            ..Office::new(code, parent, level)
        };
        store
            .upsert_offices(&[
                office("0000", None, OfficeLevel::Hq),
                office("2200", Some("0000"), OfficeLevel::District),
                office("2201", Some("2200"), OfficeLevel::Office),
                office("2202", Some("2200"), OfficeLevel::Office),
            ])
            .unwrap();
        let officer = |id: &str, office: &str| {
            Officer::from_json(&json!({"id": id, "name": id, "office": office, "post": "inspection"})).unwrap()
        };
        store.upsert_officers(&[officer("E1", "2201"), officer("E2", "2202")]).unwrap();
        let mut app = App::with_store(Box::new(store), "analyst").unwrap();
        let parsed: crate::screening::Parsed = (0..60)
            .map(|i| {
                let office = if i % 2 == 0 { "2201" } else { "2202" };
                let text = json!({
                    "id": format!("S{i:03}"), "declared_at": format!("2026-03-{:02}T09:00:00+08:00", 2 + i / 3),
                    "direction": "import", "office": office, "transport_mode": "sea", "trade_mode": "0110",
                    "trader": {"id": format!("T{}", i % 7)}, "declarant": {"id": "D1"}, "currency": "CNY",
                    "items": [{"line": 1, "hs_code": "8517130000", "origin": "VN", "quantity": 10,
                               "net_weight_kg": 5.0, "value": 10_000.0, "duty_rate": 0.1}]})
                .to_string();
                crate::screening::parse_line(i + 1, text)
            })
            .collect();
        let offices: HashSet<String> = ["2201", "2202"].iter().map(|s| s.to_string()).collect();
        let (mut seen, mut summary) = (HashSet::new(), crate::screening::Summary::default());
        let mut batch = crate::screening::screen_batch(
            &mut app,
            &offices,
            parsed,
            crate::screening::Clock::Declared,
            &mut seen,
            &mut summary,
        )
        .unwrap();
        crate::screening::commit_batch(app.store.as_mut(), &mut batch).unwrap();
        let mut border = Vec::new();
        let mut audits = Vec::new();
        let mut controlled_2201 = 0;
        for (i, s, _, _) in &batch.screened {
            let d = batch.parsed[*i].result.as_ref().unwrap();
            let at = d.declared_at + chrono::Duration::days(1);
            // The engine's controls, and a manual one on every third.
            if s.decision.channel.is_control() || i % 3 == 0 {
                let officer = if d.office == "2201" { "E1" } else { "E2" };
                controlled_2201 += u64::from(d.office == "2201");
                border.push(
                    Outcome::from_json(&json!({"declaration_id": d.id, "officer": officer, "control": "physical",
                        "completed_at": at.to_rfc3339(), "result": "no_finding"}))
                    .unwrap(),
                );
            }
            let found = d.office == "2201";
            let mut a = json!({"declaration_id": d.id, "officer": "AUD1", "control": "audit",
                "completed_at": (at + chrono::Duration::days(30)).to_rfc3339(),
                "result": if found { "finding" } else { "no_finding" }});
            if found {
                a["findings"] = json!(["undervaluation"]);
                a["additional_duty"] = json!(1_000.0);
            }
            audits.push(Outcome::from_json(&a).unwrap());
        }
        app.store.commit_outcomes(&border).unwrap();
        app.store.commit_outcomes(&audits).unwrap();

        let t = |d: &str| chrono::DateTime::parse_from_rfc3339(d).unwrap().timestamp();
        let q = Query {
            from: Some(t("2026-03-01T00:00:00+08:00")),
            to: Some(t("2026-04-01T00:00:00+08:00")),
            offices: None,
            by: AuditBy::Unit,
            limit: 20,
            integrity: false,
        };
        let s = select(&mut app, &q).unwrap();
        assert_eq!((s.from.as_str(), s.to.as_str(), s.ranked), ("2026-03-01", "2026-03-31", 2));
        let row =
            |s: &SpecialisedSelection, code: &str| s.rows.iter().find(|r| r.unit.as_deref() == Some(code)).cloned();
        let (a, b) = (row(&s, "2201").unwrap(), row(&s, "2202").unwrap());
        assert_eq!(s.rows[0].unit.as_deref(), Some("2201"), "{:#?}", s.rows);
        assert_eq!((a.declarations, a.released, a.audited_releases, a.audit_findings_after_release), (30, 30, 30, 30));
        assert_eq!(
            (a.audit_duty_recovered, a.controls, a.name.as_deref()),
            (30_000.0, controlled_2201, Some("关2201"))
        );
        assert_eq!((b.audited_releases, b.audit_findings_after_release), (30, 0));
        assert!(a.score > b.score && a.excess_audit_findings > 10.0, "{a:#?}");
        assert!(a.reasons.iter().any(|r| r.contains("30 findings by post-clearance audit on its releases")), "{a:#?}");
        assert_eq!((a.integrity_level.as_ref(), a.integrity_term), (None, 0.0), "no integrity without the right");
        // A scope keeps its rows and changes no score.
        let scoped = select(&mut app, &Query { offices: Some(vec!["2202".into()]), ..q.clone() }).unwrap();
        assert_eq!((scoped.rows.len(), scoped.ranked), (1, 2));
        assert_eq!(scoped.rows[0].score, b.score);
        // Posts: the releases after E1's controls are 2201/inspection's.
        let posts = select(&mut app, &Query { by: AuditBy::Post, integrity: true, ..q.clone() }).unwrap();
        assert!(controlled_2201 >= 10, "{controlled_2201}");
        let p1 = posts.rows.iter().find(|r| r.office.as_deref() == Some("2201"));
        assert_eq!(p1.map_or(0, |r| r.audit_findings_after_release), controlled_2201, "{posts:#?}");
        assert!(posts.rows.iter().all(|r| r.post.as_deref() == Some("inspection") && r.integrity_level.is_some()));
        let logged = app.store.actions_in(None, None).unwrap();
        assert!(
            logged.iter().any(|l| l.action.action == "integrity_read" && l.action.target == "specialised_audit"),
            "the integrity read is logged"
        );
        // Bad input names the field.
        let e = select(&mut app, &Query { to: q.from, ..q.clone() }).unwrap_err();
        assert_eq!(crate::classify(&e).map(|x| x.field), Some("to".to_string()), "{e:#}");
    }

    #[test]
    fn shrinkage_follows_the_spread_between_subjects() {
        // Identical rates: no spread, the strongest prior.
        let same = Prior::of(&[(10.0, 100.0), (20.0, 200.0), (5.0, 50.0)]);
        assert_eq!((same.mean, same.strength), (0.1, MAX_STRENGTH));
        // Two findings in 94 random controls, one of them in a unit's three:
        // binomial noise, not a spread to believe (the case of a generated
        // world where it made a unit's 1,120 uncontrolled declarations carry
        // 43 "problems").
        let mut noise = vec![(1.0, 3.0), (1.0, 8.0)];
        noise.extend(
            [16.0, 6.0, 6.0, 4.0, 1.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0].map(|n| (0.0, n)),
        );
        assert_eq!(Prior::of(&noise).strength, MAX_STRENGTH);
        // Widely spread rates on large counts: the weakest.
        let spread = Prior::of(&[(10.0, 1_000.0), (500.0, 1_000.0), (900.0, 1_000.0)]);
        assert_eq!(spread.strength, MIN_STRENGTH);
        // (x − n p̄) × n / (n + k).
        assert!((spread.excess(900.0, 1_000.0) - (900.0 - 470.0) * 1_000.0 / 1_010.0).abs() < 1e-9);
        assert_eq!(AuditBy::parse("post").unwrap(), AuditBy::Post);
        let e = AuditBy::parse("district").unwrap_err();
        assert!(format!("{e:#}").contains("by: expected unit or post"), "{e:#}");
    }
}
