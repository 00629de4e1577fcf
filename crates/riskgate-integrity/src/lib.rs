//! Workforce and integrity risk (MISSION.md M7): indicators per officer,
//! per post (office × post) and per unit (office), each compared with peers
//! doing the same work, combined into a score with reasons and a level
//! (normal / watch / warning).
//!
//! Architecture invariant: pure. No SQL, no files, no clock, no
//! environment: the caller passes the officers, the completed controls,
//! the overrides from the action log, the disciplinary cases and the day
//! tenure is measured at. Everything returned is serde-serialisable so the
//! CLI and the HTTP server show the same figures.
//!
//! # Indicators and their statistics
//!
//! Statistical indicators give a one-sided z-score (positive = the
//! suspicious direction) from an exact tail where counts are small:
//!
//! * `overrides_down` — overrides of the engine's lane to a lighter one
//!   (red/yellow → green, red → yellow) per control handled; binomial mid-p
//!   tail against the peers' rate.
//! * `finding_shortfall` — findings against what the risk value predicted:
//!   each control's finding probability is calibrated nationally by control
//!   kind × risk-value decile, scaled by how much the peers find relative to
//!   the same prediction; Poisson-binomial mid-p lower tail.
//! * `concentration` — for each trader (and declarant) the controls of its
//!   declarations at the officer's office, against the officer's share of
//!   that office's controls of the same kind (the assignment by chance);
//!   Poisson-binomial upper tail, Šidák-adjusted for the number of traders
//!   tested.
//! * `control_duration`, `release_speed` — mean log time (decision →
//!   completion, completion → release) against peers of the same control
//!   kind; shorter is the suspicious side.
//! * `off_hours` — share of actions (completions, overrides) outside duty
//!   hours, against peers (airports work nights: peers share the office).
//!
//! Peer baselines leave the officer out and are shrunk toward the national
//! figure with `prior_controls` pseudo-controls, so two-officer offices do
//! not compare an officer with one colleague alone. Each z-score is then
//! deflated by the between-officer variance τ² of that indicator across all
//! subjects of the level (Spiegelhalter's overdispersed funnel plot,
//! DerSimonian–Laird on winsorised z): differences that every office shows
//! do not raise warnings.
//!
//! The z-scores are combined as T = Σ max(0, z)², whose null distribution is
//! the chi-bar-square mixture; the score is −log₁₀ of that tail
//! probability, plus configured points for rule indicators (`tenure` over
//! the rotation rule, `disciplinary` cases). Levels come from tail
//! probabilities (`watch_p`, `warning_p`), so the expected number of false
//! warnings among N honest officers is about N × `warning_p` (defaults:
//! watch at 10⁻³, warning at 10⁻⁴, a Bonferroni-style bound for a few
//! hundred officers compared at once).

pub mod stats;

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// An officer as the registry knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficerInfo {
    pub id: String,
    pub office: String,
    pub post: String,
    pub post_since: Option<NaiveDate>,
}

/// One completed control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub declaration_id: String,
    pub office: String,
    pub trader: String,
    pub declarant: String,
    pub officer: String,
    /// `document`, `physical` or `audit`.
    pub control: String,
    /// When the control was ordered (decision time; declaration time for
    /// history without a decision). Seconds since the epoch.
    pub started_at: i64,
    pub completed_at: i64,
    pub released_at: Option<i64>,
    /// Local UTC offset in seconds (for duty hours).
    pub utc_offset: i32,
    pub finding: bool,
    /// The engine's risk value; `None` for legacy controls.
    pub risk_value: Option<f64>,
}

/// An override of the engine's lane, from the action log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideEvent {
    pub log_seq: i64,
    pub officer: String,
    pub office: String,
    pub declaration_id: String,
    pub at: i64,
    pub utc_offset: i32,
    pub before: String,
    pub after: String,
    pub reason: String,
}

/// A disciplinary case (DATA.md workforce record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisciplinaryCase {
    pub officer: String,
    pub opened_at: i64,
    pub kind: String,
    pub status: String,
}

/// Everything the indicators are computed from (the caller chooses the window).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub officers: Vec<OfficerInfo>,
    pub controls: Vec<Control>,
    pub overrides: Vec<OverrideEvent>,
    pub disciplinary: Vec<DisciplinaryCase>,
    /// The day tenure and case look-back are measured at.
    pub as_of: Option<NaiveDate>,
}

/// Thresholds and rules (all configurable; TOML-friendly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Combined tail probability at or below which a subject is on watch.
    pub watch_p: f64,
    /// … and at or below which it gets a warning.
    pub warning_p: f64,
    /// Rotation rule: years in the same post.
    pub rotation_years: f64,
    /// Posts the rotation rule applies to.
    pub rotation_posts: Vec<String>,
    /// Score points for being over the rotation rule.
    pub rotation_points: f64,
    /// Score points per disciplinary case in the look-back period.
    pub disciplinary_points: f64,
    pub disciplinary_lookback_years: f64,
    /// Case statuses that do not count (cleared cases).
    pub disciplinary_ignore_statuses: Vec<String>,
    /// Duty hours, local time, as minutes after midnight: [start, end).
    pub duty_start_minute: u32,
    pub duty_end_minute: u32,
    /// Pseudo-controls of national behaviour added to every peer baseline.
    pub prior_controls: f64,
    /// Share of z-scores winsorised at each end when estimating τ².
    pub winsor: f64,
    /// Risk value from which a no-finding control is listed as high-risk evidence.
    pub high_risk_value: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // About Bonferroni for the ~300 officers of a district: among 300
            // honest officers about 0.3 reach watch and 0.03 warning by chance.
            watch_p: 0.001,
            warning_p: 0.0001,
            rotation_years: 5.0,
            rotation_posts: vec!["inspection".into(), "document_review".into(), "release".into()],
            rotation_points: 0.5,
            disciplinary_points: 1.0,
            disciplinary_lookback_years: 5.0,
            disciplinary_ignore_statuses: vec!["dismissed".into(), "cleared".into(), "unfounded".into()],
            duty_start_minute: 8 * 60 + 30,
            duty_end_minute: 17 * 60 + 30,
            prior_controls: 30.0,
            winsor: 0.1,
            high_risk_value: 0.5,
        }
    }
}

impl Config {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |name: &str, v: f64| {
            if v > 0.0 && v < 1.0 { Ok(()) } else { Err(format!("{name}: expected a probability in (0, 1), got {v}")) }
        };
        unit("watch_p", self.watch_p)?;
        unit("warning_p", self.warning_p)?;
        unit("winsor", self.winsor + 1e-9)?;
        if self.warning_p > self.watch_p {
            return Err(format!("warning_p: must not exceed watch_p ({} > {})", self.warning_p, self.watch_p));
        }
        if self.duty_start_minute >= self.duty_end_minute || self.duty_end_minute > 24 * 60 {
            return Err(format!(
                "duty_start_minute/duty_end_minute: expected start < end ≤ 1440, got {}..{}",
                self.duty_start_minute, self.duty_end_minute
            ));
        }
        for (name, v) in [
            ("rotation_years", self.rotation_years),
            ("rotation_points", self.rotation_points),
            ("disciplinary_points", self.disciplinary_points),
            ("disciplinary_lookback_years", self.disciplinary_lookback_years),
            ("prior_controls", self.prior_controls),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name}: expected a number ≥ 0, got {v}"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Normal,
    Watch,
    Warning,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::Watch => "watch",
            Level::Warning => "warning",
        }
    }
}

/// One indicator of one subject, with its peer baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Indicator {
    pub key: String,
    /// The subject's value (a rate, a ratio, a mean time in minutes, years, a count).
    pub value: f64,
    /// What peers doing the same work show (same unit as `value`).
    pub baseline: Option<f64>,
    /// How many observations the value rests on.
    pub n: u64,
    /// One-sided z (positive = suspicious direction) after overdispersion; `None` for rule indicators.
    pub z: Option<f64>,
    /// Tail probability behind `z`.
    pub p: Option<f64>,
    /// Score points added by a rule indicator.
    pub points: f64,
    /// The explanation in words and figures.
    pub detail: String,
}

/// The records behind one indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub indicator: String,
    pub declarations: Vec<String>,
    /// Action-log entries (seq).
    pub log_entries: Vec<i64>,
}

/// An officer, a post or a unit with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subject {
    /// Officer id, `OFFICE/post`, or office code.
    pub id: String,
    /// `officer`, `post` or `unit`.
    pub kind: String,
    pub office: String,
    pub post: Option<String>,
    pub score: f64,
    pub level: Level,
    /// Combined tail probability of the statistical indicators.
    pub p_value: f64,
    pub controls: u64,
    /// Subjects in the peer group (including this one).
    pub peers: u64,
    pub indicators: Vec<Indicator>,
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

impl Subject {
    pub fn indicator(&self, key: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.key == key)
    }
}

/// All three levels, each ranked by score, highest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub officers: Vec<Subject>,
    pub posts: Vec<Subject>,
    pub units: Vec<Subject>,
}

impl Report {
    /// Every subject at `warning`, officers first.
    pub fn warnings(&self) -> Vec<&Subject> {
        self.officers.iter().chain(&self.posts).chain(&self.units).filter(|s| s.level == Level::Warning).collect()
    }
}

const EVIDENCE_MAX: usize = 20;

/// Per-control facts that do not depend on the level.
struct Derived {
    /// National calibrated finding probability.
    p_find: Vec<f64>,
    kind: Vec<usize>,
    ln_duration: Vec<Option<f64>>,
    ln_release: Vec<Option<f64>>,
    off_control: Vec<bool>,
    off_override: Vec<bool>,
    down: Vec<bool>,
    national_find_rate: f64,
    national_down_rate: f64,
    national_off_rate: f64,
}

fn kind_index(k: &str) -> usize {
    match k {
        "document" => 0,
        "physical" => 1,
        _ => 2,
    }
}

fn lane_rank(c: &str) -> u8 {
    match c {
        "green" => 0,
        "yellow" => 1,
        _ => 2,
    }
}

fn off_duty(cfg: &Config, t: i64, offset: i32) -> bool {
    let minute = ((t + i64::from(offset)).rem_euclid(86_400) / 60) as u32;
    minute < cfg.duty_start_minute || minute >= cfg.duty_end_minute
}

fn derive(input: &Input, cfg: &Config) -> Derived {
    let cs = &input.controls;
    // Risk-value deciles among controls with a decision; bucket 0 = legacy.
    let mut rv: Vec<f64> = cs.iter().filter_map(|c| c.risk_value).collect();
    rv.sort_by(f64::total_cmp);
    let edges: Vec<f64> = if rv.is_empty() { vec![] } else { (1..10).map(|i| rv[rv.len() * i / 10]).collect() };
    let bucket = |c: &Control| match c.risk_value {
        None => 0,
        Some(v) => 1 + edges.partition_point(|e| *e <= v),
    };
    let kind: Vec<usize> = cs.iter().map(|c| kind_index(&c.control)).collect();
    let mut cell: HashMap<(usize, usize), (f64, f64)> = HashMap::new();
    let mut by_kind = [(0.0, 0.0); 3];
    let mut found_all = 0.0;
    for (i, c) in cs.iter().enumerate() {
        let e = cell.entry((kind[i], bucket(c))).or_default();
        e.0 += f64::from(u8::from(c.finding));
        e.1 += 1.0;
        by_kind[kind[i]].0 += f64::from(u8::from(c.finding));
        by_kind[kind[i]].1 += 1.0;
        found_all += f64::from(u8::from(c.finding));
    }
    let national_find_rate = found_all / (cs.len().max(1) as f64);
    let k = cfg.prior_controls.max(1.0);
    let p_find = cs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (kf, kn) = by_kind[kind[i]];
            let kind_rate = (kf + k * national_find_rate) / (kn + k);
            let (f, n) = cell[&(kind[i], bucket(c))];
            ((f + k * kind_rate) / (n + k)).clamp(1e-4, 0.999)
        })
        .collect();
    let ln_pos = |d: i64| (d > 0).then(|| (d as f64 / 60.0).ln());
    let ln_duration = cs.iter().map(|c| ln_pos(c.completed_at - c.started_at)).collect();
    let ln_release = cs.iter().map(|c| c.released_at.and_then(|r| ln_pos((r - c.completed_at).max(1)))).collect();
    let off_control: Vec<bool> = cs.iter().map(|c| off_duty(cfg, c.completed_at, c.utc_offset)).collect();
    let off_override: Vec<bool> = input.overrides.iter().map(|o| off_duty(cfg, o.at, o.utc_offset)).collect();
    let down: Vec<bool> = input.overrides.iter().map(|o| lane_rank(&o.after) < lane_rank(&o.before)).collect();
    let acts = (cs.len() + input.overrides.len()).max(1) as f64;
    let national_down_rate = down.iter().filter(|d| **d).count() as f64 / acts;
    let national_off_rate =
        (off_control.iter().filter(|d| **d).count() + off_override.iter().filter(|d| **d).count()) as f64 / acts;
    Derived {
        p_find,
        kind,
        ln_duration,
        ln_release,
        off_control,
        off_override,
        down,
        national_find_rate,
        national_down_rate,
        national_off_rate,
    }
}

/// Sums per subject (and the same per peer group, to leave the subject out).
#[derive(Clone, Default)]
struct Acc {
    controls: u64,
    handled: f64,
    down: f64,
    acts: f64,
    off: f64,
    found: f64,
    expected: f64,
    dur: [(f64, f64, f64); 3],
    rel: [(f64, f64, f64); 3],
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.controls += o.controls;
        self.handled += o.handled;
        self.down += o.down;
        self.acts += o.acts;
        self.off += o.off;
        self.found += o.found;
        self.expected += o.expected;
        for k in 0..3 {
            for (a, b) in [(&mut self.dur[k], &o.dur[k]), (&mut self.rel[k], &o.rel[k])] {
                a.0 += b.0;
                a.1 += b.1;
                a.2 += b.2;
            }
        }
    }
    fn minus(&self, o: &Acc) -> Acc {
        let mut r = self.clone();
        r.controls -= o.controls;
        r.handled -= o.handled;
        r.down -= o.down;
        r.acts -= o.acts;
        r.off -= o.off;
        r.found -= o.found;
        r.expected -= o.expected;
        for k in 0..3 {
            for (a, b) in [(&mut r.dur[k], &o.dur[k]), (&mut r.rel[k], &o.rel[k])] {
                a.0 -= b.0;
                a.1 -= b.1;
                a.2 -= b.2;
            }
        }
        r
    }
}

/// A statistical indicator before overdispersion: estimate, null value,
/// null variance and the exact-tail z.
#[derive(Clone)]
struct Raw {
    key: &'static str,
    y: f64,
    y0: f64,
    v: f64,
    z: f64,
    value: f64,
    baseline: f64,
    n: u64,
    detail: String,
}

impl Raw {
    /// `hits` in `trials` against the peers' rate (clamped away from 0 and
    /// 1), by the one-sided binomial test; `detail(x, n, rate)` says it in words.
    fn binomial(
        key: &'static str,
        hits: f64,
        trials: f64,
        peer_rate: f64,
        detail: impl FnOnce(u64, u64, f64) -> String,
    ) -> Raw {
        let rate = peer_rate.clamp(1e-4, 0.999);
        let (x, n) = (hits as u64, trials as u64);
        let p = stats::binomial_upper_mid_p(x, n, rate);
        Raw {
            key,
            y: hits / trials,
            y0: rate,
            v: rate * (1.0 - rate) / trials,
            z: stats::z_of_upper_tail(p),
            value: hits / trials,
            baseline: rate,
            n,
            detail: detail(x, n, rate),
        }
    }
}

/// How one level maps records to subjects and subjects to peer groups.
struct Grouping {
    ids: Vec<String>,
    office: Vec<String>,
    post: Vec<Option<String>>,
    group: Vec<usize>,
    control_subject: Vec<Option<usize>>,
    override_subject: Vec<Option<usize>>,
}

fn mean_time_indicator(
    key: &'static str,
    what: &str,
    s: &[(f64, f64, f64); 3],
    peers: &[(f64, f64, f64); 3],
    national: &[(f64, f64, f64); 3],
    k: f64,
) -> Option<Raw> {
    // Per control kind: residual of the subject's mean log time against the
    // peers' (shrunk to national), weighted by the subject's count.
    let (mut sum_res, mut n, mut var, mut own, mut base) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for kd in 0..3 {
        let (sn, ss, _) = s[kd];
        if sn == 0.0 {
            continue;
        }
        let (pn, ps, pss) = peers[kd];
        let (nn, ns, nss) = national[kd];
        if nn < 2.0 {
            continue;
        }
        let nat_mean = ns / nn;
        let nat_var = (nss / nn - nat_mean * nat_mean).max(1e-6);
        let mean = (ps + k * nat_mean) / (pn + k);
        let var_peer = if pn >= 2.0 { (pss / pn - (ps / pn).powi(2)).max(1e-6) } else { nat_var };
        let sigma2 = (pn * var_peer + k * nat_var) / (pn + k);
        sum_res += ss - sn * mean;
        var += sn * sigma2;
        n += sn;
        own += ss;
        base += sn * mean;
    }
    if n == 0.0 {
        return None;
    }
    let y = sum_res / n;
    let v = var / (n * n);
    // Shorter times are the suspicious side.
    let z = -y / v.sqrt();
    let (value, baseline) = ((own / n).exp(), (base / n).exp());
    Some(Raw {
        key,
        y: -y,
        y0: 0.0,
        v,
        z,
        value,
        baseline,
        n: n as u64,
        detail: format!(
            "{what}: geometric mean {value:.0} min over {n} controls vs {baseline:.0} min for peers of the same control kind"
        ),
    })
}

fn compute_level(
    input: &Input,
    d: &Derived,
    cfg: &Config,
    g: &Grouping,
    kind: &str,
    concentration: bool,
) -> (Vec<Subject>, Vec<Vec<Evidence>>) {
    let ns = g.ids.len();
    let ngroups = g.group.iter().copied().max().map_or(0, |m| m + 1);
    let mut acc = vec![Acc::default(); ns];
    let mut down_ev: Vec<(Vec<String>, Vec<i64>)> = vec![Default::default(); ns];
    let mut off_ev: Vec<(Vec<String>, Vec<i64>)> = vec![Default::default(); ns];
    let mut reasons: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); ns];
    let mut ps_find: Vec<Vec<usize>> = vec![Vec::new(); ns];
    let mut national = Acc::default();
    for (i, c) in input.controls.iter().enumerate() {
        let mut a = Acc { controls: 1, handled: 1.0, acts: 1.0, ..Default::default() };
        a.off = f64::from(u8::from(d.off_control[i]));
        a.found = f64::from(u8::from(c.finding));
        a.expected = d.p_find[i];
        let kd = d.kind[i];
        if let Some(x) = d.ln_duration[i] {
            a.dur[kd] = (1.0, x, x * x);
        }
        if let Some(x) = d.ln_release[i] {
            a.rel[kd] = (1.0, x, x * x);
        }
        national.add(&a);
        if let Some(s) = g.control_subject[i] {
            acc[s].add(&a);
            ps_find[s].push(i);
            if d.off_control[i] && off_ev[s].0.len() < EVIDENCE_MAX {
                off_ev[s].0.push(c.declaration_id.clone());
            }
        }
    }
    for (i, o) in input.overrides.iter().enumerate() {
        let a = Acc {
            handled: 1.0,
            acts: 1.0,
            down: f64::from(u8::from(d.down[i])),
            off: f64::from(u8::from(d.off_override[i])),
            ..Default::default()
        };
        national.add(&a);
        if let Some(s) = g.override_subject[i] {
            acc[s].add(&a);
            if d.down[i] {
                *reasons[s].entry(o.reason.clone()).or_default() += 1;
                if down_ev[s].0.len() < EVIDENCE_MAX {
                    down_ev[s].0.push(o.declaration_id.clone());
                    down_ev[s].1.push(o.log_seq);
                }
            }
            if d.off_override[i] && off_ev[s].1.len() < EVIDENCE_MAX {
                off_ev[s].1.push(o.log_seq);
            }
        }
    }
    let mut group_acc = vec![Acc::default(); ngroups];
    let mut group_size = vec![0u64; ngroups];
    for s in 0..ns {
        group_acc[g.group[s]].add(&acc[s]);
        group_size[g.group[s]] += 1;
    }
    let k = cfg.prior_controls;
    let mut conc = if concentration { concentration_indicators(input, d, g) } else { vec![None; ns] };

    // Raw indicators per subject.
    let mut raws: Vec<Vec<Raw>> = Vec::with_capacity(ns);
    let mut evidence: Vec<Vec<Evidence>> = Vec::with_capacity(ns);
    for s in 0..ns {
        let a = &acc[s];
        let peers = group_acc[g.group[s]].minus(a);
        let mut r = Vec::new();
        let mut ev = Vec::new();
        // Overrides to a lighter lane.
        if a.handled > 0.0 {
            let peer_rate = (peers.down + k * d.national_down_rate) / (peers.handled + k);
            r.push(Raw::binomial("overrides_down", a.down, a.handled, peer_rate, |x, n, rate| {
                let mut detail = format!(
                    "{x} overrides to a lighter lane in {n} controls handled ({:.1}%) vs {:.2}% for peers",
                    100.0 * a.down / a.handled,
                    100.0 * rate
                );
                if !reasons[s].is_empty() {
                    let mut rs: Vec<(&String, &u64)> = reasons[s].iter().collect();
                    rs.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
                    let shown: Vec<String> = rs.iter().take(3).map(|(t, c)| format!("\"{t}\" ×{c}")).collect();
                    detail.push_str(&format!("; reasons: {}", shown.join(", ")));
                }
                detail
            }));
            if !down_ev[s].0.is_empty() {
                ev.push(Evidence {
                    indicator: "overrides_down".into(),
                    declarations: down_ev[s].0.clone(),
                    log_entries: down_ev[s].1.clone(),
                });
            }
        }
        // Findings against the risk value and what peers find.
        if a.controls > 0 {
            let prior = k * d.national_find_rate.max(1e-3);
            let factor = (peers.found + prior) / (peers.expected + prior);
            let ps: Vec<f64> = ps_find[s].iter().map(|&i| (d.p_find[i] * factor).clamp(1e-4, 0.999)).collect();
            let e: f64 = ps.iter().sum();
            let var: f64 = ps.iter().map(|p| p * (1.0 - p)).sum::<f64>().max(1e-9);
            let p = stats::poisson_binomial_mid_p(&ps, a.found as u64, true);
            let high: Vec<&usize> = ps_find[s]
                .iter()
                .filter(|&&i| {
                    !input.controls[i].finding && input.controls[i].risk_value.is_some_and(|v| v >= cfg.high_risk_value)
                })
                .collect();
            r.push(Raw {
                key: "finding_shortfall",
                y: (e - a.found) / e.max(1e-9),
                y0: 0.0,
                v: var / (e * e).max(1e-9),
                z: stats::z_of_upper_tail(p),
                value: a.found / a.controls as f64,
                baseline: e / a.controls as f64,
                n: a.controls,
                detail: format!(
                    "{} findings in {} controls where the risk values and peers predict {e:.1} (peers find {factor:.2}× the national prediction); {} high-risk controls (risk value ≥ {}) without a finding",
                    a.found,
                    a.controls,
                    high.len(),
                    cfg.high_risk_value
                ),
            });
            let mut nofind: Vec<usize> = ps_find[s].iter().copied().filter(|&i| !input.controls[i].finding).collect();
            nofind.sort_by(|&x, &y| d.p_find[y].total_cmp(&d.p_find[x]));
            if !nofind.is_empty() {
                ev.push(Evidence {
                    indicator: "finding_shortfall".into(),
                    declarations: nofind
                        .iter()
                        .take(EVIDENCE_MAX)
                        .map(|&i| input.controls[i].declaration_id.clone())
                        .collect(),
                    log_entries: vec![],
                });
            }
        }
        if let Some((raw, decls)) = conc[s].take() {
            r.push(raw);
            ev.push(Evidence { indicator: "concentration".into(), declarations: decls, log_entries: vec![] });
        }
        let pk = [peers.dur, peers.rel];
        if let Some(x) = mean_time_indicator("control_duration", "control duration", &a.dur, &pk[0], &national.dur, k) {
            r.push(x);
        }
        if let Some(x) = mean_time_indicator("release_speed", "completion to release", &a.rel, &pk[1], &national.rel, k)
        {
            r.push(x);
        }
        if a.acts > 0.0 {
            let peer_rate = (peers.off + k * d.national_off_rate) / (peers.acts + k);
            r.push(Raw::binomial("off_hours", a.off, a.acts, peer_rate, |x, n, rate| {
                format!(
                    "{x} of {n} actions outside duty hours ({:.1}%) vs {:.1}% for peers",
                    100.0 * a.off / a.acts,
                    100.0 * rate
                )
            }));
            if !off_ev[s].0.is_empty() || !off_ev[s].1.is_empty() {
                ev.push(Evidence {
                    indicator: "off_hours".into(),
                    declarations: off_ev[s].0.clone(),
                    log_entries: off_ev[s].1.clone(),
                });
            }
        }
        raws.push(r);
        evidence.push(ev);
    }

    // Overdispersion per indicator across the level, then scores.
    let mut tau2: HashMap<&'static str, f64> = HashMap::new();
    for key in ["overrides_down", "finding_shortfall", "control_duration", "release_speed", "off_hours"] {
        let pts: Vec<(f64, f64, f64)> =
            raws.iter().flat_map(|r| r.iter().filter(|x| x.key == key).map(|x| (x.y, x.y0, x.v))).collect();
        tau2.insert(key, stats::between_variance(&pts, cfg.winsor));
    }
    let subjects = (0..ns)
        .map(|s| {
            let indicators: Vec<Indicator> = raws[s]
                .iter()
                .map(|x| {
                    let t = tau2.get(x.key).copied().unwrap_or(0.0);
                    // Clamped: beyond 8 standard errors the tail says nothing more.
                    let z = if x.v > 0.0 { x.z * (x.v / (x.v + t)).sqrt() } else { x.z }.clamp(-8.0, 8.0);
                    Indicator {
                        key: x.key.to_string(),
                        value: x.value,
                        baseline: Some(x.baseline),
                        n: x.n,
                        z: Some(z),
                        p: Some(stats::normal_sf(z)),
                        points: 0.0,
                        detail: x.detail.clone(),
                    }
                })
                .collect();
            Subject {
                id: g.ids[s].clone(),
                kind: kind.to_string(),
                office: g.office[s].clone(),
                post: g.post[s].clone(),
                score: 0.0,
                level: Level::Normal,
                p_value: 1.0,
                controls: acc[s].controls,
                peers: group_size[g.group[s]],
                indicators,
                reasons: vec![],
                evidence: vec![],
            }
        })
        .collect();
    (subjects, evidence)
}

type Concentration = Option<(Raw, Vec<String>)>;

/// Trader and declarant concentration on each officer (officer level only).
fn concentration_indicators(input: &Input, d: &Derived, g: &Grouping) -> Vec<Concentration> {
    let ns = g.ids.len();
    let mut out: Vec<Concentration> = (0..ns).map(|_| None).collect();
    // Controls per office; officer shares per control kind.
    let mut by_office: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in input.controls.iter().enumerate() {
        if g.control_subject[i].is_some() {
            by_office.entry(c.office.as_str()).or_default().push(i);
        }
    }
    // best[s] = (adjusted p, label, x, n, expected, decls)
    type Best = Option<(f64, String, u64, u64, f64, Vec<String>)>;
    let mut best: Vec<Best> = vec![None; ns];
    let mut offices: Vec<&&str> = by_office.keys().collect();
    offices.sort();
    for office in offices {
        let idx = &by_office[*office];
        let mut kind_total = [0.0f64; 3];
        let mut officer_kind: HashMap<usize, [f64; 3]> = HashMap::new();
        for &i in idx {
            let s = g.control_subject[i].expect("filtered above");
            kind_total[d.kind[i]] += 1.0;
            officer_kind.entry(s).or_default()[d.kind[i]] += 1.0;
        }
        for party in 0..2 {
            let mut by_party: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for &i in idx {
                let c = &input.controls[i];
                let key = if party == 0 { c.trader.as_str() } else { c.declarant.as_str() };
                by_party.entry(key).or_default().push(i);
            }
            let tested = by_party.values().filter(|v| v.len() >= 2).count().max(1) as f64;
            for (name, cs) in &by_party {
                if cs.len() < 2 {
                    continue;
                }
                let mut per_officer: HashMap<usize, f64> = HashMap::new();
                for &i in cs {
                    *per_officer.entry(g.control_subject[i].expect("filtered")).or_default() += 1.0;
                }
                let mut officers: Vec<(&usize, &f64)> = per_officer.iter().collect();
                officers.sort_by_key(|(s, _)| **s);
                for (&s, &x) in officers {
                    if x < 2.0 {
                        continue;
                    }
                    // The officer's share of all the office's controls of each
                    // kind, this party's included: the chance of drawing them
                    // (conservative for an officer who picks controls up).
                    let ok = officer_kind[&s];
                    let ps: Vec<f64> =
                        cs.iter().map(|&i| (ok[d.kind[i]] / kind_total[d.kind[i]]).clamp(1e-3, 0.999)).collect();
                    let p = stats::poisson_binomial_mid_p(&ps, x as u64, false);
                    // Šidák over the parties tested in this office, Bonferroni over trader/declarant.
                    let adj = (2.0 * -((tested * (-p).ln_1p()).exp_m1())).min(1.0);
                    let expected: f64 = ps.iter().sum();
                    if best[s].as_ref().is_none_or(|b| adj < b.0) {
                        let label = format!("{} {name}", if party == 0 { "trader" } else { "declarant" });
                        let decls: Vec<String> = cs
                            .iter()
                            .filter(|&&i| g.control_subject[i] == Some(s))
                            .take(EVIDENCE_MAX)
                            .map(|&i| input.controls[i].declaration_id.clone())
                            .collect();
                        best[s] = Some((adj, label, x as u64, cs.len() as u64, expected, decls));
                    }
                }
            }
        }
    }
    for s in 0..ns {
        if let Some((p, label, x, n, e, decls)) = best[s].take() {
            let z = stats::z_of_upper_tail(p);
            out[s] = Some((
                Raw {
                    key: "concentration",
                    y: 0.0,
                    y0: 0.0,
                    v: 0.0,
                    z,
                    value: x as f64 / n as f64,
                    baseline: e / n as f64,
                    n,
                    detail: format!(
                        "{label}: {x} of its {n} controls at this office landed on this officer; assignment by chance gives {e:.1} (adjusted p {p:.2e})"
                    ),
                },
                decls,
            ));
        }
    }
    out
}

fn finish(subject: &mut Subject, cfg: &Config) {
    let zs: Vec<f64> = subject.indicators.iter().filter_map(|i| i.z).collect();
    let p = if zs.is_empty() { 1.0 } else { stats::chi_bar_square_sf(&zs) };
    let points: f64 = subject.indicators.iter().map(|i| i.points).sum();
    subject.p_value = p;
    subject.score = -p.log10() + points;
    subject.level = if subject.score >= -cfg.warning_p.log10() {
        Level::Warning
    } else if subject.score >= -cfg.watch_p.log10() {
        Level::Watch
    } else {
        Level::Normal
    };
    let mut notable: Vec<&Indicator> =
        subject.indicators.iter().filter(|i| i.points > 0.0 || i.p.is_some_and(|p| p <= cfg.watch_p)).collect();
    notable.sort_by(|a, b| b.z.unwrap_or(f64::INFINITY).total_cmp(&a.z.unwrap_or(f64::INFINITY)));
    subject.reasons = notable
        .iter()
        .map(|i| match (i.z, i.p) {
            (Some(z), Some(p)) => format!("{}: {} (z {z:.1}, p {p:.1e})", i.key, i.detail),
            _ => format!("{}: {} (+{} points)", i.key, i.detail, i.points),
        })
        .collect();
}

fn rank(v: &mut [Subject]) {
    v.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
}

/// Computes every level. Same input and config ⇒ same report.
pub fn compute(input: &Input, cfg: &Config) -> Report {
    let d = derive(input, cfg);
    // Officers: registry first, then ids seen only in records.
    let mut officers: Vec<OfficerInfo> = input.officers.clone();
    let mut index: HashMap<String, usize> = officers.iter().enumerate().map(|(i, o)| (o.id.clone(), i)).collect();
    let mut add_unknown = |id: &str, office: &str, officers: &mut Vec<OfficerInfo>| {
        if !index.contains_key(id) {
            index.insert(id.to_string(), officers.len());
            officers.push(OfficerInfo {
                id: id.to_string(),
                office: office.to_string(),
                post: "unregistered".into(),
                post_since: None,
            });
        }
    };
    for c in &input.controls {
        add_unknown(&c.officer, &c.office, &mut officers);
    }
    for o in &input.overrides {
        add_unknown(&o.officer, &o.office, &mut officers);
    }
    let officer_of = |id: &str| index.get(id).copied();

    // Officer level: peers are the same office and post.
    let mut groups: BTreeMap<(String, String), usize> = BTreeMap::new();
    for o in &officers {
        groups.insert((o.office.clone(), o.post.clone()), 0);
    }
    // Group numbers in key order: the posts below are listed in that order.
    for (i, v) in groups.values_mut().enumerate() {
        *v = i;
    }
    let officer_grouping = Grouping {
        ids: officers.iter().map(|o| o.id.clone()).collect(),
        office: officers.iter().map(|o| o.office.clone()).collect(),
        post: officers.iter().map(|o| Some(o.post.clone())).collect(),
        group: officers.iter().map(|o| groups[&(o.office.clone(), o.post.clone())]).collect(),
        control_subject: input.controls.iter().map(|c| officer_of(&c.officer)).collect(),
        override_subject: input.overrides.iter().map(|o| officer_of(&o.officer)).collect(),
    };
    let (mut off_subjects, evidence) = compute_level(input, &d, cfg, &officer_grouping, "officer", true);
    let as_of = input.as_of;
    for (s, ev) in off_subjects.iter_mut().zip(evidence) {
        let o = &officers[index[&s.id]];
        if let (Some(since), Some(now)) = (o.post_since, as_of) {
            let years = (now - since).num_days() as f64 / 365.25;
            let applies = cfg.rotation_posts.contains(&o.post);
            let over = applies && years > cfg.rotation_years;
            s.indicators.push(Indicator {
                key: "tenure".into(),
                value: years,
                baseline: applies.then_some(cfg.rotation_years),
                n: 1,
                z: None,
                p: None,
                points: if over { cfg.rotation_points } else { 0.0 },
                detail: if applies {
                    format!(
                        "{years:.1} years in post {} since {since} (rotation rule {} years)",
                        o.post, cfg.rotation_years
                    )
                } else {
                    format!("{years:.1} years in post {} (no rotation rule for this post)", o.post)
                },
            });
        }
        let cases = disciplinary_cases(input, cfg, &s.id);
        if !cases.is_empty() {
            let kinds: Vec<String> = cases.iter().map(|c| format!("{} ({})", c.kind, c.status)).collect();
            s.indicators.push(Indicator {
                key: "disciplinary".into(),
                value: cases.len() as f64,
                baseline: None,
                n: cases.len() as u64,
                z: None,
                p: None,
                points: cfg.disciplinary_points * cases.len() as f64,
                detail: format!(
                    "{} disciplinary case(s) in the last {} years: {}",
                    cases.len(),
                    cfg.disciplinary_lookback_years,
                    kinds.join(", ")
                ),
            });
        }
        s.evidence = ev;
        finish(s, cfg);
    }

    // Posts (office × post): peers are the same post in other offices.
    let post_ids: Vec<(String, String)> = groups.keys().cloned().collect();
    let mut post_kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (_, p) in &post_ids {
        let n = post_kinds.len();
        post_kinds.entry(p.clone()).or_insert(n);
    }
    debug_assert!(post_ids.iter().enumerate().all(|(i, k)| groups[k] == i));
    let post_of_officer: Vec<usize> = officer_grouping.group.clone();
    let post_grouping = Grouping {
        ids: post_ids.iter().map(|(o, p)| format!("{o}/{p}")).collect(),
        office: post_ids.iter().map(|(o, _)| o.clone()).collect(),
        post: post_ids.iter().map(|(_, p)| Some(p.clone())).collect(),
        group: post_ids.iter().map(|(_, p)| post_kinds[p]).collect(),
        control_subject: officer_grouping.control_subject.iter().map(|s| s.map(|s| post_of_officer[s])).collect(),
        override_subject: officer_grouping.override_subject.iter().map(|s| s.map(|s| post_of_officer[s])).collect(),
    };
    let (mut posts, _) = compute_level(input, &d, cfg, &post_grouping, "post", false);
    let members_of = |pred: &dyn Fn(&Subject) -> bool| -> Vec<&Subject> {
        off_subjects.iter().filter(|s| pred(s)).collect::<Vec<_>>()
    };
    for p in &mut posts {
        let m = members_of(&|s: &Subject| s.office == p.office && s.post == p.post);
        group_rules(p, &m, cfg);
        finish(p, cfg);
    }

    // Units (offices): peers are all offices.
    let mut unit_ids: Vec<String> = officers.iter().map(|o| o.office.clone()).collect();
    unit_ids.sort();
    unit_ids.dedup();
    let unit_index: HashMap<&str, usize> = unit_ids.iter().enumerate().map(|(i, u)| (u.as_str(), i)).collect();
    let unit_grouping = Grouping {
        ids: unit_ids.clone(),
        office: unit_ids.clone(),
        post: vec![None; unit_ids.len()],
        group: vec![0; unit_ids.len()],
        control_subject: officer_grouping
            .control_subject
            .iter()
            .map(|s| s.map(|s| unit_index[officers[s].office.as_str()]))
            .collect(),
        override_subject: officer_grouping
            .override_subject
            .iter()
            .map(|s| s.map(|s| unit_index[officers[s].office.as_str()]))
            .collect(),
    };
    let (mut units, _) = compute_level(input, &d, cfg, &unit_grouping, "unit", false);
    for u in &mut units {
        let m = members_of(&|s: &Subject| s.office == u.office);
        group_rules(u, &m, cfg);
        finish(u, cfg);
    }
    rank(&mut off_subjects);
    rank(&mut posts);
    rank(&mut units);
    Report { officers: off_subjects, posts, units }
}

fn disciplinary_cases<'a>(input: &'a Input, cfg: &Config, officer: &str) -> Vec<&'a DisciplinaryCase> {
    let horizon = input.as_of.map(|d| {
        d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp()
            - (cfg.disciplinary_lookback_years * 365.25 * 86_400.0) as i64
    });
    input
        .disciplinary
        .iter()
        .filter(|c| c.officer == officer)
        .filter(|c| !cfg.disciplinary_ignore_statuses.iter().any(|s| s.eq_ignore_ascii_case(&c.status)))
        .filter(|c| horizon.is_none_or(|h| c.opened_at >= h))
        .collect()
}

/// Indicators of a post or unit drawn from its officers: how many of them
/// are flagged beyond what chance gives, rotation and disciplinary cases.
fn group_rules(g: &mut Subject, members: &[&Subject], cfg: &Config) {
    let n = members.len() as u64;
    if n == 0 {
        return;
    }
    let flagged = members.iter().filter(|m| m.p_value <= cfg.watch_p).count() as u64;
    let p = stats::binomial_upper_mid_p(flagged, n, cfg.watch_p);
    let z = stats::z_of_upper_tail(p);
    g.indicators.push(Indicator {
        key: "flagged_officers".into(),
        value: flagged as f64,
        baseline: Some(n as f64 * cfg.watch_p),
        n,
        z: Some(z),
        p: Some(p),
        points: 0.0,
        detail: format!(
            "{flagged} of {n} officers at watch or above on their indicators; chance gives {:.2}",
            n as f64 * cfg.watch_p
        ),
    });
    let overdue: Vec<&&Subject> =
        members.iter().filter(|m| m.indicator("tenure").is_some_and(|t| t.points > 0.0)).collect();
    if !overdue.is_empty() {
        let share = overdue.len() as f64 / n as f64;
        g.indicators.push(Indicator {
            key: "tenure".into(),
            value: share,
            baseline: None,
            n,
            z: None,
            p: None,
            points: cfg.rotation_points * share,
            detail: format!("{} of {n} officers over the rotation rule of {} years", overdue.len(), cfg.rotation_years),
        });
    }
    let cases: f64 = members.iter().filter_map(|m| m.indicator("disciplinary")).map(|i| i.value).sum();
    if cases > 0.0 {
        g.indicators.push(Indicator {
            key: "disciplinary".into(),
            value: cases,
            baseline: None,
            n,
            z: None,
            p: None,
            points: cfg.disciplinary_points * cases / n as f64,
            detail: format!("{cases} disciplinary case(s) among {n} officers"),
        });
    }
}

/// One window of an officer's indicator history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryPoint {
    /// Window `[from, to)`, seconds since the epoch.
    pub from: i64,
    pub to: i64,
    /// The officer in that window against the same peers; `None` when they
    /// did nothing in it.
    pub subject: Option<Subject>,
}

/// The officer's indicators window by window (e.g. month by month), each
/// window computed on its own against the peers of that window, so a
/// supervisor sees when a pattern began.
pub fn officer_history(input: &Input, cfg: &Config, officer: &str, windows: &[(i64, i64)]) -> Vec<HistoryPoint> {
    windows
        .iter()
        .map(|&(from, to)| {
            let inside = |t: i64| t >= from && t < to;
            let window = Input {
                officers: input.officers.clone(),
                controls: input.controls.iter().filter(|c| inside(c.completed_at)).cloned().collect(),
                overrides: input.overrides.iter().filter(|o| inside(o.at)).cloned().collect(),
                disciplinary: input.disciplinary.clone(),
                as_of: input.as_of,
            };
            let active = window.controls.iter().any(|c| c.officer == officer)
                || window.overrides.iter().any(|o| o.officer == officer);
            let subject = active
                .then(|| compute(&window, cfg).officers.into_iter().find(|s| s.id == officer))
                .flatten()
                .map(|mut s| {
                    s.evidence.clear();
                    s
                });
            HistoryPoint { from, to, subject }
        })
        .collect()
}
