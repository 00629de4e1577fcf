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
//!   the same prediction; Poisson-binomial mid-p lower tail. For officers,
//!   the controls of their concentrated traders are left out (they are
//!   judged by `partner_findings`), so the two stay independent.
//! * `concentration` — officers only: for each trader, declarant and
//!   (trader, declarant) couple, the controls of its declarations at the
//!   officer's office against the officer's share of the office's controls
//!   of the same kind in the same 30-day period (the assignment by chance);
//!   exact Poisson-binomial upper tail per pair; the officer's smallest
//!   tails judged together against the number of parties tested
//!   ([`stats::order_statistics_p`], depth 5), Bonferroni over the three
//!   party kinds. Several modest concentrations add up.
//! * `partner_findings` — officers only: findings on the traders they
//!   concentrate on (pair tail ≤ `pair_tau`) against the other officers'
//!   findings on the same traders; Poisson-binomial mid-p lower tail.
//! * `control_duration`, `release_speed` — mean log time (decision →
//!   completion, completion → release) against peers of the same control
//!   kind; shorter is the suspicious side; capped by exact count tests
//!   against the peer group's median and 10th percentile (log times are
//!   skewed, and a mean of a few of them is far from normal).
//! * `off_hours` — share of actions (completions, overrides) outside duty
//!   hours, against peers (airports work nights: peers share the office).
//! * `window_30d`, `window_61d`, `window_122d` — officers only: the
//!   combined tail of the indicators above on the trailing window alone
//!   (`recent_days`), so a pattern that began recently is not diluted by
//!   the months before it.
//! * `cusum_overrides_down`, `cusum_finding_shortfall`,
//!   `cusum_concentration` — officers only, when `cusum` is set (off by
//!   default): Page's CUSUM of the
//!   log-likelihood ratio over the officer's records in time order, against
//!   10× the odds of an override to a lighter lane, half the predicted
//!   findings, and 4× the odds of a party's control falling to the officer.
//!   Each tail is computed exactly on a 0.01-nat lattice by dynamic
//!   programming ([`stats::cusum_tail`]); overrides under a peer rate that
//!   is itself uncertain (Beta, [`stats::cusum_tail_polya`]), findings
//!   integrated over the between-officer spread τ
//!   ([`stats::cusum_tail_overdispersed`]), concentration per pair exact
//!   under assignment by chance and judged together as `concentration`.
//!   The figures are those of the segment since the last reset (the shift).
//! * `ring` — officers only, when `ring` is set (off by default): the
//!   officer and up to `ring_size − 1` colleagues of the same office on
//!   the traders or declarants they all lean on; each party's pooled tail
//!   is exact under assignment by chance (the members' chance shares
//!   added), the parties are judged together as `concentration`'s, and the
//!   result is multiplied by the number of all such groups containing the
//!   officer (×2 for the party kinds). A group counts against the officer
//!   only if their own share of its parties' controls has a tail at most
//!   `ring_member_p`, so an honest colleague of colluders is not drawn in.
//!
//! Peer baselines leave the officer out and are shrunk toward the national
//! figure with `prior_controls` pseudo-controls, so two-officer offices do
//! not compare an officer with one colleague alone. Each z-score (but
//! concentration's, whose null is exact) is then
//! deflated by the between-officer variance τ² of that indicator across all
//! subjects of the level (Spiegelhalter's overdispersed funnel plot,
//! DerSimonian–Laird on winsorised z): differences that every office shows
//! do not raise warnings.
//!
//! The z-scores are combined as T = Σ max(0, z)², whose null distribution is
//! the chi-bar-square mixture; the whole period, the trailing windows, the
//! CUSUM tests and the ring test are combined by Simes; the score is −log₁₀ of that tail probability,
//! plus configured points for rule indicators (`tenure` over the rotation
//! rule, `disciplinary` cases). Levels are set per family (officers, posts,
//! units) by Benjamini–Hochberg on 10^(−score) (`warning_fdr` 0.05,
//! `watch_fdr` 0.2) besides the per-subject floors `warning_p` (10⁻⁴) and
//! `watch_p` (10⁻³): in a world without collusion the chance that any
//! subject of a family of up to 500 reaches `warning` is at most 5%.

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
    /// False-discovery rate of the warning level: Benjamini–Hochberg over
    /// the subjects of one level (officers, posts, units) compared at once.
    pub warning_fdr: f64,
    /// False-discovery rate of the watch level.
    pub watch_fdr: f64,
    /// Officer–party pairs with a concentration tail at or below this are
    /// listed, judged together, and their traders' controls feed `partner_findings`.
    pub pair_tau: f64,
    /// Trailing windows (days before the latest record) scanned for a
    /// change within an officer; each is scored on its own and combined with
    /// the whole period by Simes. Empty: whole period only.
    pub recent_days: Vec<u32>,
    /// Sequential change test within an officer: Page's CUSUM over the
    /// officer's records in time order for overrides to a lighter lane,
    /// findings and concentration on each party, each with an exact tail
    /// (`cusum_*` indicators), combined with the whole period and the
    /// windows by Simes. Off by default: on the planted quiet collusion it
    /// raised no warning earlier than the windows (BENCHMARKS.md, "CUSUM
    /// within an officer").
    pub cusum: bool,
    /// Ring (community) test, officers only: groups of up to `ring_size`
    /// officers of one office who lean on the same traders or declarants
    /// together more than assignment by chance allows (`ring` indicator,
    /// combined with the whole period and the windows by Simes). Off by
    /// default (BENCHMARKS.md, "Rings of colluders").
    pub ring: bool,
    /// Largest group the ring test searches (the officer and up to
    /// `ring_size − 1` colleagues of the same office).
    pub ring_size: usize,
    /// A group is only held against an officer whose own controls of the
    /// group's parties exceed their chance share with a tail at most this
    /// (an honest colleague of colluders is not drawn into their ring).
    pub ring_member_p: f64,
    /// Fewest controls a subject needs for its statistics to raise a
    /// warning: below it they reach `watch` at most (an officer new in post
    /// with two quick controls is not a warning). Rule points (rotation,
    /// disciplinary cases) still count in full.
    pub min_controls: u64,
    /// Fewest subjects in the peer group (itself included) for the same.
    pub min_peers: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // Per-subject floors. Levels also follow Benjamini–Hochberg over
            // the subjects compared (`warning_fdr`, `watch_fdr`); for up to
            // 500 subjects the warning floor adds nothing to it.
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
            warning_fdr: 0.05,
            watch_fdr: 0.2,
            pair_tau: 0.05,
            recent_days: vec![30, 61, 122],
            cusum: false,
            ring: false,
            ring_size: 3,
            ring_member_p: 0.01,
            min_controls: 20,
            min_peers: 3,
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
        unit("warning_fdr", self.warning_fdr)?;
        unit("watch_fdr", self.watch_fdr)?;
        unit("pair_tau", self.pair_tau)?;
        unit("ring_member_p", self.ring_member_p)?;
        if !(2..=5).contains(&self.ring_size) {
            return Err(format!("ring_size: expected 2 to 5 officers, got {}", self.ring_size));
        }
        if self.warning_fdr > self.watch_fdr {
            return Err(format!("warning_fdr: must not exceed watch_fdr ({} > {})", self.warning_fdr, self.watch_fdr));
        }
        if let Some(d) = self.recent_days.iter().find(|d| **d == 0 || **d > 3660) {
            return Err(format!("recent_days: expected days in 1..=3660, got {d}"));
        }
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
    /// The notable indicators in words (English, for the CLI and the log).
    pub reasons: Vec<String>,
    /// The same reasons as figures, in the same order, for a reader that
    /// words them in its own language.
    #[serde(default)]
    pub reason_figures: Vec<ReasonFigures>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

/// One reason (a notable indicator) as figures: the indicator's key and the
/// numbers its sentence needs, unrounded; a reader words and rounds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReasonFigures {
    /// The indicator's key: `overrides_down`, `finding_shortfall`,
    /// `partner_findings`, `concentration`, `control_duration`,
    /// `release_speed`, `off_hours`, `tenure`, `disciplinary`,
    /// `flagged_officers`, `window_<days>d`, `cusum_overrides_down`,
    /// `cusum_finding_shortfall`, `cusum_concentration` (for a CUSUM, the
    /// figures are those of the segment since the shift began) or `ring`
    /// (the group's controls of its parties against chance).
    pub indicator: String,
    /// The subject's value, in the indicator's unit (a share, minutes,
    /// years, a count; for a window its combined tail probability).
    pub value: f64,
    /// What peers show, in the same unit (for `tenure`, the rotation rule in years).
    pub baseline: Option<f64>,
    /// The events counted (overrides to a lighter lane, findings, controls
    /// on the officer's parties, actions off duty, flagged officers, cases).
    pub count: Option<f64>,
    /// What peers or chance give for `count`.
    pub expected: Option<f64>,
    /// How many observations the value rests on (controls, actions,
    /// officers; the days of a window).
    pub n: u64,
    pub z: Option<f64>,
    /// The tail probability (`None` for a rule indicator).
    pub p: Option<f64>,
    /// Score points added by a rule indicator.
    pub points: f64,
}

impl ReasonFigures {
    /// The figures of `i`: counts are read back from its shares where the
    /// indicator is a share of events.
    pub fn of(i: &Indicator) -> ReasonFigures {
        let n = i.n as f64;
        let (count, expected) = match i.key.as_str() {
            "overrides_down"
            | "off_hours"
            | "finding_shortfall"
            | "partner_findings"
            | "concentration"
            | "cusum_overrides_down"
            | "cusum_finding_shortfall"
            | "cusum_concentration"
            | "ring" => (Some((i.value * n).round()), i.baseline.map(|b| b * n)),
            "flagged_officers" => (Some(i.value), i.baseline),
            "disciplinary" => (Some(i.value), None),
            _ => (None, None),
        };
        ReasonFigures {
            indicator: i.key.clone(),
            value: i.value,
            baseline: i.baseline,
            count,
            expected,
            n: i.n,
            z: i.z,
            p: i.p,
            points: i.points,
        }
    }
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

/// The officer-level tests a level computes (all off for posts and units).
#[derive(Clone, Copy, Default)]
struct OfficerTests {
    /// `concentration` and `partner_findings`.
    concentration: bool,
    /// The `cusum_*` tests.
    sequential: bool,
    /// The `ring` test.
    ring: bool,
}

fn compute_level(
    input: &Input,
    d: &Derived,
    cfg: &Config,
    g: &Grouping,
    kind: &str,
    tests: OfficerTests,
) -> (Vec<Subject>, Vec<Vec<Evidence>>) {
    let OfficerTests { concentration, sequential, ring } = tests;
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
    let mut ov_of: Vec<Vec<usize>> = vec![Vec::new(); ns];
    for (i, o) in input.overrides.iter().enumerate() {
        if let Some(s) = g.override_subject[i] {
            ov_of[s].push(i);
        }
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
    // Median and 10th percentile of log times per peer group and control
    // kind, for the exact count tests that keep the time indicators honest
    // on few controls.
    let mut medians: [HashMap<(usize, usize), (f64, f64)>; 2] = Default::default();
    for (m, times) in [&d.ln_duration, &d.ln_release].into_iter().enumerate() {
        let mut values: HashMap<(usize, usize), Vec<f64>> = HashMap::new();
        for (i, t) in times.iter().enumerate() {
            if let (Some(t), Some(s)) = (t, g.control_subject[i]) {
                values.entry((g.group[s], d.kind[i])).or_default().push(*t);
            }
        }
        for (key, mut v) in values {
            v.sort_by(f64::total_cmp);
            medians[m].insert(key, (v[v.len() / 2], v[v.len() / 10]));
        }
    }
    let k = cfg.prior_controls;
    let mut conc: Vec<Concentration> = if concentration {
        concentration_indicators(input, d, g, cfg, sequential, ring)
    } else {
        (0..ns).map(|_| Concentration::default()).collect()
    };
    // Findings and predictions per trader over all controls, to compare an
    // officer with the other officers who controlled the same traders.
    let mut by_trader: HashMap<&str, (f64, f64)> = HashMap::new();
    if concentration {
        for (i, c) in input.controls.iter().enumerate() {
            let e = by_trader.entry(c.trader.as_str()).or_default();
            e.0 += f64::from(u8::from(c.finding));
            e.1 += d.p_find[i];
        }
    }

    // Raw indicators per subject.
    let mut raws: Vec<Vec<Raw>> = Vec::with_capacity(ns);
    let mut evidence: Vec<Vec<Evidence>> = Vec::with_capacity(ns);
    let mut seq: Vec<Vec<Indicator>> = Vec::with_capacity(ns);
    for s in 0..ns {
        let a = &acc[s];
        let peers = group_acc[g.group[s]].minus(a);
        let mut r = Vec::new();
        let mut ev = Vec::new();
        let mut sq = Vec::new();
        if let Some(c) = conc[s].sequential.take() {
            sq.push(c);
        }
        if let Some(c) = conc[s].ring.take() {
            sq.push(c);
        }
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
        // Findings on the traders the officer concentrates on, against the
        // other officers' findings on the same traders (kept apart from the
        // overall shortfall below, so the two rest on disjoint controls).
        let partner = std::mem::take(&mut conc[s].partner_controls);
        if !partner.is_empty() {
            let mut own: HashMap<&str, (f64, f64)> = HashMap::new();
            for &i in ps_find[s].iter() {
                let e = own.entry(input.controls[i].trader.as_str()).or_default();
                e.0 += f64::from(u8::from(input.controls[i].finding));
                e.1 += d.p_find[i];
            }
            let prior = 2.0;
            let ps: Vec<f64> = partner
                .iter()
                .map(|&i| {
                    let t = input.controls[i].trader.as_str();
                    let (tf, te) = by_trader[t];
                    let (of, oe) = own[t];
                    // Others' findings over others' predictions on this trader.
                    let factor = ((tf - of).max(0.0) + prior) / ((te - oe).max(0.0) + prior);
                    (d.p_find[i] * factor).clamp(1e-4, 0.999)
                })
                .collect();
            let found = partner.iter().filter(|&&i| input.controls[i].finding).count() as u64;
            let e: f64 = ps.iter().sum();
            let var: f64 = ps.iter().map(|p| p * (1.0 - p)).sum::<f64>().max(1e-9);
            let p = stats::poisson_binomial_mid_p(&ps, found, true);
            let n = partner.len() as u64;
            r.push(Raw {
                key: "partner_findings",
                y: (e - found as f64) / e.max(1e-9),
                y0: 0.0,
                v: var / (e * e).max(1e-9),
                z: stats::z_of_upper_tail(p),
                value: found as f64 / n as f64,
                baseline: e / n as f64,
                n,
                detail: format!(
                    "{found} findings in the {n} controls of the traders this officer concentrates on, where the other officers' findings on the same traders predict {e:.1}"
                ),
            });
            ev.push(Evidence {
                indicator: "partner_findings".into(),
                declarations: partner
                    .iter()
                    .filter(|&&i| !input.controls[i].finding)
                    .take(EVIDENCE_MAX)
                    .map(|&i| input.controls[i].declaration_id.clone())
                    .collect(),
                log_entries: vec![],
            });
        }
        // Findings against the risk value and what peers find.
        let rest: Vec<usize> = if partner.is_empty() {
            ps_find[s].clone()
        } else {
            let set: std::collections::HashSet<usize> = partner.iter().copied().collect();
            ps_find[s].iter().copied().filter(|i| !set.contains(i)).collect()
        };
        let rest_found = rest.iter().filter(|&&i| input.controls[i].finding).count() as f64;
        if !rest.is_empty() {
            let prior = k * d.national_find_rate.max(1e-3);
            let factor = (peers.found + prior) / (peers.expected + prior);
            let ps: Vec<f64> = rest.iter().map(|&i| (d.p_find[i] * factor).clamp(1e-4, 0.999)).collect();
            let e: f64 = ps.iter().sum();
            let var: f64 = ps.iter().map(|p| p * (1.0 - p)).sum::<f64>().max(1e-9);
            let p = stats::poisson_binomial_mid_p(&ps, rest_found as u64, true);
            let high: Vec<&usize> = rest
                .iter()
                .filter(|&&i| {
                    !input.controls[i].finding && input.controls[i].risk_value.is_some_and(|v| v >= cfg.high_risk_value)
                })
                .collect();
            let nr = rest.len() as f64;
            r.push(Raw {
                key: "finding_shortfall",
                y: (e - rest_found) / e.max(1e-9),
                y0: 0.0,
                v: var / (e * e).max(1e-9),
                z: stats::z_of_upper_tail(p),
                value: rest_found / nr,
                baseline: e / nr,
                n: rest.len() as u64,
                detail: format!(
                    "{} findings in {} controls where the risk values and peers predict {e:.1} (peers find {factor:.2}× the national prediction); {} high-risk controls (risk value ≥ {}) without a finding",
                    rest_found,
                    rest.len(),
                    high.len(),
                    cfg.high_risk_value
                ),
            });
            let mut nofind: Vec<usize> = rest.iter().copied().filter(|&i| !input.controls[i].finding).collect();
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
        if let Some(raw) = conc[s].raw.take() {
            r.push(raw);
            let decls = std::mem::take(&mut conc[s].declarations);
            if !decls.is_empty() {
                ev.push(Evidence { indicator: "concentration".into(), declarations: decls, log_entries: vec![] });
            }
        }
        let pk = [peers.dur, peers.rel];
        // The mean of log times is near normal only on many controls (log
        // times are skewed): the z is capped by exact count tests, how many
        // of the officer's times fall below the peer group's median (a
        // general shift) or its 10th percentile (a few very fast ones), the
        // better of the two Bonferroni-adjusted.
        let sign_z = |m: usize, times: &[Option<f64>]| {
            let (mut below_median, mut below_p10, mut n) = (0u64, 0u64, 0u64);
            for &i in &ps_find[s] {
                if let (Some(t), Some((med, p10))) = (times[i], medians[m].get(&(g.group[s], d.kind[i]))) {
                    n += 1;
                    below_median += u64::from(t < *med);
                    below_p10 += u64::from(t < *p10);
                }
            }
            let p =
                stats::binomial_upper_mid_p(below_median, n, 0.5).min(stats::binomial_upper_mid_p(below_p10, n, 0.1));
            stats::z_of_upper_tail((2.0 * p).min(1.0))
        };
        if let Some(mut x) =
            mean_time_indicator("control_duration", "control duration", &a.dur, &pk[0], &national.dur, k)
        {
            x.z = x.z.min(sign_z(0, &d.ln_duration).max(0.0));
            r.push(x);
        }
        if let Some(mut x) =
            mean_time_indicator("release_speed", "completion to release", &a.rel, &pk[1], &national.rel, k)
        {
            x.z = x.z.min(sign_z(1, &d.ln_release).max(0.0));
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
        seq.push(sq);
    }

    // Overdispersion per indicator across the level, then scores.
    let mut tau2: HashMap<&'static str, f64> = HashMap::new();
    // Not for `concentration` (its null is assignment by chance within the
    // office, exact already, and its tails are discrete) nor
    // `partner_findings` (present only for officers with concentrated traders).
    for key in ["overrides_down", "finding_shortfall", "control_duration", "release_speed", "off_hours"] {
        let pts: Vec<(f64, f64, f64)> =
            raws.iter().flat_map(|r| r.iter().filter(|x| x.key == key).map(|x| (x.y, x.y0, x.v))).collect();
        tau2.insert(key, stats::between_variance(&pts, cfg.winsor));
    }
    if sequential {
        let tau = |key: &str| tau2.get(key).copied().unwrap_or(0.0).sqrt();
        for s in 0..ns {
            let peers = group_acc[g.group[s]].minus(&acc[s]);
            let mut sq = sequential_indicators(input, d, &ps_find[s], &ov_of[s], &peers, k, tau("finding_shortfall"));
            sq.append(&mut seq[s]);
            seq[s] = sq;
        }
    }
    let subjects = (0..ns)
        .map(|s| {
            let mut indicators: Vec<Indicator> = raws[s]
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
            indicators.append(&mut seq[s]);
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
                reason_figures: vec![],
                evidence: vec![],
            }
        })
        .collect();
    (subjects, evidence)
}

/// The concentration indicator of one officer, its evidence, and the
/// officer's controls of their concentrated traders (for `partner_findings`).
#[derive(Default)]
struct Concentration {
    raw: Option<Raw>,
    /// `cusum_concentration`, when the sequential test is on.
    sequential: Option<Indicator>,
    /// `ring`, when the ring test is on.
    ring: Option<Indicator>,
    declarations: Vec<String>,
    partner_controls: Vec<usize>,
}

/// One officer–party pair whose controls landed on the officer more than
/// assignment by chance allows (conventional upper tail at most `pair_tau`).
struct Pair {
    p: f64,
    name: String,
    x: u64,
    n: u64,
    expected: f64,
    controls: Vec<usize>,
}

const PARTIES: [&str; 3] = ["trader", "declarant", "trader × declarant"];
/// How many of an officer's most concentrated parties are judged together.
const ORDER_DEPTH: usize = 5;

/// Trader, declarant and trader × declarant concentration on each officer
/// (officer level only). The chance of an officer drawing a control is
/// their share of the office's controls of the same kind in the same
/// 30-day period (officers who joined, left or were away part of the
/// window are compared with the work they actually did). Each officer–party
/// pair gets an exact Poisson-binomial tail; the officer's smallest tails
/// are judged together against the number of parties tested at the office
/// (`stats::order_statistics_p`), so several modest concentrations add
/// up; the three party kinds are combined by Bonferroni (×3).
fn concentration_indicators(
    input: &Input,
    d: &Derived,
    g: &Grouping,
    cfg: &Config,
    sequential: bool,
    ring: bool,
) -> Vec<Concentration> {
    let ns = g.ids.len();
    let mut out: Vec<Concentration> = (0..ns).map(|_| Concentration::default()).collect();
    let tau = cfg.pair_tau;
    let mut by_office: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in input.controls.iter().enumerate() {
        if g.control_subject[i].is_some() {
            by_office.entry(c.office.as_str()).or_default().push(i);
        }
    }
    let period = |i: usize| input.controls[i].completed_at.div_euclid(30 * 86_400);
    // pairs[s][party] and the number of parties tested for s.
    let mut pairs: Vec<[Vec<Pair>; 3]> = (0..ns).map(|_| Default::default()).collect();
    let mut tested: Vec<[usize; 3]> = vec![[0; 3]; ns];
    let mut seq_pairs: Vec<[Vec<SeqPair>; 3]> = (0..ns).map(|_| Default::default()).collect();
    // Ring candidates per officer and party kind (trader, declarant).
    let mut rings: Vec<[Option<Ring>; 2]> = (0..ns).map(|_| Default::default()).collect();
    for idx in by_office.values() {
        let mut stratum_total: HashMap<(usize, i64), f64> = HashMap::new();
        let mut officer_stratum: HashMap<(usize, usize, i64), f64> = HashMap::new();
        let mut active: Vec<usize> = Vec::new();
        for &i in idx {
            let s = g.control_subject[i].expect("filtered above");
            *stratum_total.entry((d.kind[i], period(i))).or_default() += 1.0;
            *officer_stratum.entry((s, d.kind[i], period(i))).or_default() += 1.0;
            active.push(s);
        }
        active.sort_unstable();
        active.dedup();
        let chance = |s: usize, i: usize| {
            let key = (d.kind[i], period(i));
            (officer_stratum.get(&(s, key.0, key.1)).copied().unwrap_or(0.0) / stratum_total[&key]).clamp(1e-4, 0.999)
        };
        for (party, pairs_of) in PARTIES.iter().enumerate() {
            let mut by_party: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for &i in idx {
                let c = &input.controls[i];
                let key = match party {
                    0 => c.trader.clone(),
                    1 => c.declarant.clone(),
                    _ => format!("{} × {}", c.trader, c.declarant),
                };
                by_party.entry(key).or_default().push(i);
            }
            by_party.retain(|_, v| v.len() >= 2);
            for &s in &active {
                tested[s][party] = by_party.len();
            }
            if ring && party < 2 {
                let big: Vec<(&String, &Vec<usize>)> =
                    by_party.iter().filter(|(_, v)| v.len() >= RING_MIN_CONTROLS).collect();
                let found = ring_search(&big, &active, &chance, &|i| g.control_subject[i], cfg);
                for (a, r) in found.into_iter().enumerate() {
                    rings[active[a]][party] = r;
                }
            }
            for (name, cs) in &by_party {
                // The party's controls in time order, for the CUSUM.
                let mut in_time: Vec<usize> = if sequential { cs.clone() } else { vec![] };
                in_time.sort_by_key(|&i| (input.controls[i].completed_at, i));
                let mut per_officer: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
                for &i in cs {
                    per_officer.entry(g.control_subject[i].expect("filtered")).or_default().push(i);
                }
                for (s, mine) in per_officer {
                    let x = mine.len() as u64;
                    let ps: Vec<f64> = cs.iter().map(|&i| chance(s, i)).collect();
                    let expected: f64 = ps.iter().sum();
                    if (x as f64) <= expected {
                        continue;
                    }
                    if sequential && x >= 2 {
                        // Each control of the party falls to this officer
                        // with the chance share (null) or 4× the odds.
                        let steps: Vec<stats::CusumStep> = in_time
                            .iter()
                            .map(|&i| {
                                let q = chance(s, i);
                                stats::CusumStep::new(q, odds(q, CUSUM_ODDS_CONCENTRATION))
                            })
                            .collect();
                        let events: Vec<bool> = in_time.iter().map(|&i| g.control_subject[i] == Some(s)).collect();
                        let times: Vec<i64> = in_time.iter().map(|&i| input.controls[i].completed_at).collect();
                        if let Some(run) = SeqRun::of(&steps, &events, &times, |h| stats::cusum_tail(&steps, h))
                            && run.p <= tau
                        {
                            seq_pairs[s][party].push(SeqPair { name: format!("{pairs_of} {name}"), run });
                        }
                    }
                    let p = stats::poisson_binomial_upper(&ps, x);
                    if p <= tau {
                        pairs[s][party].push(Pair {
                            p,
                            name: format!("{pairs_of} {name}"),
                            x,
                            n: cs.len() as u64,
                            expected,
                            controls: mine,
                        });
                    }
                }
            }
        }
    }
    for s in 0..ns {
        if tested[s].iter().all(|t| *t == 0) {
            continue;
        }
        // Order statistics per party kind; no pair below τ has probability
        // (1 − τ)^L and is given the mid-p of that atom.
        let combined: Vec<f64> = (0..3)
            .map(|k| {
                let l = tested[s][k];
                if pairs[s][k].is_empty() {
                    1.0 - 0.5 * (1.0 - tau).powi(l as i32)
                } else {
                    let small: Vec<f64> = pairs[s][k].iter().map(|p| p.p).collect();
                    stats::order_statistics_p(&small, l, ORDER_DEPTH)
                }
            })
            .collect();
        let best = (0..3).min_by(|&a, &b| combined[a].total_cmp(&combined[b])).expect("three kinds");
        let p = (3.0 * combined[best]).min(1.0);
        let z = stats::z_of_upper_tail(p);
        let mut shown: Vec<&Pair> = pairs[s][best].iter().collect();
        shown.sort_by(|a, b| a.p.total_cmp(&b.p));
        let (x, n, e) = shown.iter().fold((0, 0, 0.0), |(x, n, e), q| (x + q.x, n + q.n, e + q.expected));
        let listed: Vec<String> = shown
            .iter()
            .take(5)
            .map(|q| format!("{} {} of {} (chance {:.1}, p {:.1e})", q.name, q.x, q.n, q.expected, q.p))
            .collect();
        let detail = if shown.is_empty() {
            format!(
                "no {} among the {} tested at this office has more of its controls on this officer than chance allows (p ≤ {tau})",
                PARTIES[best], tested[s][best]
            )
        } else {
            format!(
                "{} of {} {}s tested at this office lean on this officer: {}{}; {x} of their {n} controls vs {e:.1} by chance (together p {:.1e}, ×3 for the party kinds: {p:.1e})",
                shown.len(),
                tested[s][best],
                PARTIES[best],
                listed.join(", "),
                if shown.len() > 5 { ", …" } else { "" },
                combined[best]
            )
        };
        let declarations: Vec<String> = shown
            .iter()
            .flat_map(|q| q.controls.iter())
            .take(EVIDENCE_MAX)
            .map(|&i| input.controls[i].declaration_id.clone())
            .collect();
        let partner_controls: Vec<usize> = pairs[s][0].iter().flat_map(|q| q.controls.iter().copied()).collect();
        let sequential = sequential.then(|| sequential_concentration(&seq_pairs[s], &tested[s], tau));
        let ring = ring.then(|| ring_indicator(&rings[s], g));
        out[s] = Concentration {
            sequential,
            ring,
            raw: Some(Raw {
                key: "concentration",
                y: z,
                y0: 0.0,
                v: 1.0,
                z,
                value: if n > 0 { x as f64 / n as f64 } else { 0.0 },
                baseline: if n > 0 { e / n as f64 } else { 0.0 },
                n,
                detail,
            }),
            declarations,
            partner_controls,
        };
    }
    out
}

/// The alternatives the CUSUM tests are tuned to (each is still a valid
/// test of its null whatever the true shift): overrides to a lighter lane
/// at 10× the odds of the peers' rate, half the predicted findings, and a
/// party's controls falling to the officer at 4× the odds of chance.
const CUSUM_ODDS_OVERRIDES: f64 = 10.0;
const CUSUM_FINDINGS_RATIO: f64 = 0.5;
const CUSUM_ODDS_CONCENTRATION: f64 = 4.0;

/// The smallest CUSUM tail reported: that of z = 8, where the whole-period
/// z-scores are clamped too (beyond it the tail says nothing more).
const P_FLOOR: f64 = 6.2e-16;

/// The probability whose odds are `r` times those of `p`.
fn odds(p: f64, r: f64) -> f64 {
    r * p / (1.0 - p + r * p)
}

/// One CUSUM over a stream of records: its exact tail and the figures of
/// the segment since the shift began (the last reset before the maximum).
struct SeqRun {
    p: f64,
    /// The maximum of the statistic, in nats (log-likelihood ratio).
    stat: f64,
    /// Events in the segment and what the null expects of them.
    count: f64,
    expected: f64,
    n: u64,
    from: i64,
    to: i64,
}

impl SeqRun {
    /// `tail(h)`: the null probability that the maximum reaches `h` grid steps.
    fn of(steps: &[stats::CusumStep], events: &[bool], times: &[i64], tail: impl FnOnce(i64) -> f64) -> Option<SeqRun> {
        if steps.is_empty() {
            return None;
        }
        let (h, a, b) = stats::cusum_path(steps, events);
        if h == 0 {
            return Some(SeqRun { p: 1.0, stat: 0.0, count: 0.0, expected: 0.0, n: 0, from: times[0], to: times[0] });
        }
        Some(SeqRun {
            p: tail(h).max(P_FLOOR),
            stat: h as f64 * stats::CUSUM_GRID,
            count: events[a..=b].iter().filter(|e| **e).count() as f64,
            expected: steps[a..=b].iter().map(|st| st.p0).sum(),
            n: (b - a + 1) as u64,
            from: times[a],
            to: times[b],
        })
    }

    /// "since 2026-05-03 (9 weeks)".
    fn since(&self) -> String {
        let day = chrono::DateTime::from_timestamp(self.from, 0).map_or(String::new(), |t| t.date_naive().to_string());
        format!("since {day} ({:.0} weeks)", (self.to - self.from) as f64 / (7.0 * 86_400.0))
    }

    fn indicator(&self, key: &str, detail: String) -> Indicator {
        let n = self.n.max(1) as f64;
        Indicator {
            key: key.into(),
            value: self.count / n,
            baseline: Some(self.expected / n),
            n: self.n,
            // Not a z-indicator: it enters the officer's p-value by Simes,
            // not the chi-bar-square sum (its records are already there).
            z: None,
            p: Some(self.p),
            points: 0.0,
            detail,
        }
    }
}

/// `cusum_overrides_down` and `cusum_finding_shortfall` of one officer:
/// Page's CUSUM over the officer's records in time order. Overrides: every
/// action (control completed or override) is an override to a lighter lane
/// with the peers' rate under the null (as `overrides_down`); findings:
/// every control finds with its calibrated probability scaled by the peers'
/// findings (as `finding_shortfall`, over all the officer's controls). The
/// tails are exact given those null probabilities (`stats::cusum_tail`),
/// integrated over the between-officer spread `tau` of each indicator (the
/// same τ the whole-period z-scores are deflated by; relative to the null
/// rate), so differences every office shows do not raise warnings.
fn sequential_indicators(
    input: &Input,
    d: &Derived,
    controls: &[usize],
    overrides: &[usize],
    peers: &Acc,
    k: f64,
    tau_findings: f64,
) -> Vec<Indicator> {
    let mut out = Vec::new();
    // Actions in time order: (time, is an override, index).
    let mut acts: Vec<(i64, bool, usize)> = controls
        .iter()
        .map(|&i| (input.controls[i].completed_at, false, i))
        .chain(overrides.iter().map(|&j| (input.overrides[j].at, true, j)))
        .collect();
    acts.sort_unstable();
    if !acts.is_empty() {
        // The peers' rate is known only from their own few overrides: the
        // null draws it from Beta(peers' overrides + prior, the rest +
        // prior), a Pólya urn over the officer's actions, not as a known
        // rate. The prior is Jeffreys' (½, ½) plus the national rate's
        // pseudo-controls: peers who happened to make no override do not
        // make the officer's first two a proof.
        let alpha = peers.down + k * d.national_down_rate + 0.5;
        let beta = (peers.handled - peers.down).max(0.0) + k * (1.0 - d.national_down_rate) + 0.5;
        let rate = (alpha / (alpha + beta)).clamp(1e-4, 0.999);
        let step = stats::CusumStep::new(rate, odds(rate, CUSUM_ODDS_OVERRIDES));
        let steps = vec![step; acts.len()];
        let events: Vec<bool> = acts.iter().map(|&(_, o, j)| o && d.down[j]).collect();
        let times: Vec<i64> = acts.iter().map(|a| a.0).collect();
        let tail = |h| stats::cusum_tail_polya(step, steps.len(), h, alpha, beta);
        if let Some(run) = SeqRun::of(&steps, &events, &times, tail) {
            let detail = format!(
                "{}: {} overrides to a lighter lane in {} actions where the peers' rate ({:.2}%) expects {:.1} (CUSUM against {}× the odds: {:.1} nats, p {:.1e})",
                run.since(),
                run.count,
                run.n,
                100.0 * rate,
                run.expected,
                CUSUM_ODDS_OVERRIDES,
                run.stat,
                run.p
            );
            out.push(run.indicator("cusum_overrides_down", detail));
        }
    }
    let mut cs: Vec<usize> = controls.to_vec();
    cs.sort_by_key(|&i| (input.controls[i].completed_at, i));
    if !cs.is_empty() {
        let prior = k * d.national_find_rate.max(1e-3);
        let factor = (peers.found + prior) / (peers.expected + prior);
        let steps: Vec<stats::CusumStep> = cs
            .iter()
            .map(|&i| {
                let p = (d.p_find[i] * factor).clamp(1e-4, 0.999);
                stats::CusumStep::new(p, CUSUM_FINDINGS_RATIO * p)
            })
            .collect();
        let events: Vec<bool> = cs.iter().map(|&i| input.controls[i].finding).collect();
        let times: Vec<i64> = cs.iter().map(|&i| input.controls[i].completed_at).collect();
        if let Some(run) =
            SeqRun::of(&steps, &events, &times, |h| stats::cusum_tail_overdispersed(&steps, h, tau_findings))
        {
            let detail = format!(
                "{}: {} findings in {} controls where the risk values and peers predict {:.1} (CUSUM against half the findings: {:.1} nats, p {:.1e})",
                run.since(),
                run.count,
                run.n,
                run.expected,
                run.stat,
                run.p
            );
            out.push(run.indicator("cusum_finding_shortfall", detail));
        }
    }
    out
}

/// One officer–party pair whose CUSUM tail is at most `pair_tau`.
struct SeqPair {
    name: String,
    run: SeqRun,
}

/// `cusum_concentration`: per officer–party pair, Page's CUSUM over the
/// party's controls at the office in time order (each falls to the officer
/// with their chance share, as `concentration`); the pairs' exact tails
/// are judged together as `concentration` judges its tails
/// (`stats::order_statistics_p`, ×3 for the party kinds).
fn sequential_concentration(pairs: &[Vec<SeqPair>; 3], tested: &[usize; 3], tau: f64) -> Indicator {
    let combined: Vec<f64> = (0..3)
        .map(|k| {
            if pairs[k].is_empty() {
                1.0
            } else {
                let small: Vec<f64> = pairs[k].iter().map(|q| q.run.p).collect();
                stats::order_statistics_p(&small, tested[k], ORDER_DEPTH)
            }
        })
        .collect();
    let best = (0..3).min_by(|&a, &b| combined[a].total_cmp(&combined[b])).expect("three kinds");
    let p = (3.0 * combined[best]).min(1.0);
    let mut shown: Vec<&SeqPair> = pairs[best].iter().collect();
    shown.sort_by(|a, b| a.run.p.total_cmp(&b.run.p));
    let (x, n, e) = shown.iter().fold((0.0, 0, 0.0), |(x, n, e), q| (x + q.run.count, n + q.run.n, e + q.run.expected));
    let listed: Vec<String> = shown
        .iter()
        .take(5)
        .map(|q| {
            format!(
                "{} {}: {} of {} (chance {:.1}, {:.1} nats, p {:.1e})",
                q.name,
                q.run.since(),
                q.run.count,
                q.run.n,
                q.run.expected,
                q.run.stat,
                q.run.p
            )
        })
        .collect();
    let detail = if shown.is_empty() {
        format!(
            "no {} among the {} tested at this office has drifted toward this officer (CUSUM tail ≤ {tau})",
            PARTIES[best], tested[best]
        )
    } else {
        format!(
            "{} of {} {}s tested at this office drifted toward this officer (CUSUM against {}× the odds of chance): {}{}; {x} of their {n} controls since then vs {e:.1} by chance (together p {:.1e}, ×3 for the party kinds: {p:.1e})",
            shown.len(),
            tested[best],
            PARTIES[best],
            CUSUM_ODDS_CONCENTRATION,
            listed.join(", "),
            if shown.len() > 5 { ", …" } else { "" },
            combined[best]
        )
    };
    let nn = n.max(1) as f64;
    Indicator {
        key: "cusum_concentration".into(),
        value: x / nn,
        baseline: Some(e / nn),
        n,
        z: None,
        p: Some(p),
        points: 0.0,
        detail,
    }
}

/// Parties with fewer controls at the office are left out of the ring
/// search (fixed in advance, so the search family does not depend on who
/// drew the controls).
const RING_MIN_CONTROLS: usize = 8;
/// Colleagues tried as ring partners of an officer (those leaning most on
/// the same parties); the Bonferroni factor counts every group of the
/// office all the same.
const RING_CANDIDATES: usize = 6;
const RING_PARTIES: [&str; 2] = ["trader", "declarant"];

/// One party of a ring: the group's controls of it against chance.
struct RingParty {
    name: String,
    x: u64,
    n: u64,
    expected: f64,
    p: f64,
}

/// The best group found for one officer and party kind.
struct Ring {
    /// Order-statistics tail of the group's parties.
    p_group: f64,
    /// Groups of up to `ring_size` officers containing this one at the
    /// office: the Bonferroni factor of the search.
    family: f64,
    /// The colleagues (subject indices).
    partners: Vec<usize>,
    /// The parties with a pooled tail at most `pair_tau`, smallest first.
    parties: Vec<RingParty>,
    /// Parties tested at the office (with at least `RING_MIN_CONTROLS` controls).
    tested: usize,
    /// The largest group searched (`ring_size`).
    size: usize,
    own_x: u64,
    own_e: f64,
    own_p: f64,
}

/// All subsets of `items` with 1 to `max` elements.
fn subsets(items: &[usize], max: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![vec![]];
    for &it in items {
        let grown: Vec<Vec<usize>> =
            out.iter().filter(|v| v.len() < max).map(|v| v.iter().copied().chain([it]).collect()).collect();
        out.extend(grown);
    }
    out.retain(|v| !v.is_empty());
    out
}

/// C(n, k) as a float (small n).
fn choose(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, j| acc * (n - j) as f64 / (j + 1) as f64)
}

/// The ring search at one office for one party kind: for each active
/// officer (by position in `active`), the group of that officer and up to
/// `ring_size − 1` colleagues whose pooled concentration on the parties
/// they all lean on is least likely by chance, among the groups whose
/// officer's own share of those parties' controls has a tail at most
/// `ring_member_p`.
///
/// Under assignment by chance (each control of the office falls to an
/// officer with their share of its kind and 30-day period, as
/// `concentration`), the controls of a party that fall to a group G are a
/// Poisson-binomial sum with the members' shares added, so each party's
/// pooled tail is exact; a party counts only if every member has more of
/// its controls than chance gives (else its p is taken as 1, which only
/// makes the test more conservative); the parties' tails are judged
/// together by `stats::order_statistics_p`. The colleagues tried are a
/// data-driven shortlist, but the factor is the number of all groups of
/// that size containing the officer, so the minimum over the shortlist is
/// covered by Bonferroni over the whole family.
fn ring_search(
    big: &[(&String, &Vec<usize>)],
    active: &[usize],
    chance: &dyn Fn(usize, usize) -> f64,
    subject: &dyn Fn(usize) -> Option<usize>,
    cfg: &Config,
) -> Vec<Option<Ring>> {
    let m = active.len();
    let l = big.len();
    if m < 2 || l == 0 {
        return (0..m).map(|_| None).collect();
    }
    let k = cfg.ring_size.max(2);
    let family: f64 = (1..k).map(|j| choose(m - 1, j)).sum();
    let pos: HashMap<usize, usize> = active.iter().enumerate().map(|(a, &s)| (s, a)).collect();
    let mut x = vec![vec![0u64; l]; m];
    let mut e = vec![vec![0.0f64; l]; m];
    for (pi, (_, cs)) in big.iter().enumerate() {
        for &i in cs.iter() {
            if let Some(a) = subject(i).and_then(|s| pos.get(&s)) {
                x[*a][pi] += 1;
            }
        }
        for a in 0..m {
            e[a][pi] = cs.iter().map(|&i| chance(active[a], i)).sum();
        }
    }
    let lean = |a: usize, pi: usize| x[a][pi] as f64 > e[a][pi];
    let strength = |a: usize, pi: usize| (x[a][pi] as f64 - e[a][pi]) / e[a][pi].max(0.1).sqrt();
    // Pooled tail per (group, party), shared by the group's members.
    let mut cache: HashMap<(Vec<usize>, usize), (f64, u64, f64)> = HashMap::new();
    let mut out = Vec::with_capacity(m);
    for a in 0..m {
        let mut cand: Vec<(f64, usize)> = (0..m)
            .filter(|&b| b != a)
            .map(|b| {
                let score: f64 = (0..l)
                    .filter(|&pi| lean(a, pi) && lean(b, pi))
                    .map(|pi| strength(a, pi).min(strength(b, pi)))
                    .sum();
                (score, b)
            })
            .filter(|c| c.0 > 0.0)
            .collect();
        cand.sort_by(|u, v| v.0.total_cmp(&u.0).then(u.1.cmp(&v.1)));
        cand.truncate(RING_CANDIDATES);
        let cand: Vec<usize> = cand.into_iter().map(|c| c.1).collect();
        let mut best: Option<Ring> = None;
        for h in subsets(&cand, k - 1) {
            let mut group: Vec<usize> = h.clone();
            group.push(a);
            group.sort_unstable();
            let mut small: Vec<(f64, usize, u64, f64)> = Vec::new();
            for pi in 0..l {
                if !group.iter().all(|&u| lean(u, pi)) {
                    continue;
                }
                let (p, xg, eg) = *cache.entry((group.clone(), pi)).or_insert_with(|| {
                    let probs: Vec<f64> = big[pi]
                        .1
                        .iter()
                        .map(|&i| group.iter().map(|&u| chance(active[u], i)).sum::<f64>().min(0.999))
                        .collect();
                    let xg: u64 = group.iter().map(|&u| x[u][pi]).sum();
                    (stats::poisson_binomial_upper(&probs, xg), xg, probs.iter().sum())
                });
                if p <= cfg.pair_tau {
                    small.push((p, pi, xg, eg));
                }
            }
            if small.is_empty() {
                continue;
            }
            let ps: Vec<f64> = small.iter().map(|q| q.0).collect();
            let p_group = stats::order_statistics_p(&ps, l, ORDER_DEPTH);
            if best.as_ref().is_some_and(|b| b.p_group <= p_group) {
                continue;
            }
            // The officer's own part: their controls of the group's parties
            // against their own chance share.
            let own_x: u64 = small.iter().map(|q| x[a][q.1]).sum();
            let own_probs: Vec<f64> =
                small.iter().flat_map(|q| big[q.1].1.iter().map(|&i| chance(active[a], i))).collect();
            let own_p = stats::poisson_binomial_upper(&own_probs, own_x);
            if own_p > cfg.ring_member_p {
                continue;
            }
            small.sort_by(|u, v| u.0.total_cmp(&v.0).then(u.1.cmp(&v.1)));
            best = Some(Ring {
                p_group,
                family,
                partners: h.iter().map(|&b| active[b]).collect(),
                parties: small
                    .iter()
                    .map(|q| RingParty {
                        name: big[q.1].0.clone(),
                        x: q.2,
                        n: big[q.1].1.len() as u64,
                        expected: q.3,
                        p: q.0,
                    })
                    .collect(),
                tested: l,
                size: k,
                own_x,
                own_e: own_probs.iter().sum(),
                own_p,
            });
        }
        out.push(best);
    }
    out
}

/// The `ring` indicator of one officer: the better of the trader and
/// declarant searches, × the group family and × 2 for the party kinds.
fn ring_indicator(rings: &[Option<Ring>; 2], g: &Grouping) -> Indicator {
    let best = (0..2)
        .filter_map(|k| rings[k].as_ref().map(|r| (k, r, (r.p_group * r.family).min(1.0))))
        .min_by(|u, v| u.2.total_cmp(&v.2));
    let Some((kind, r, adjusted)) = best else {
        return Indicator {
            key: "ring".into(),
            value: 0.0,
            baseline: Some(0.0),
            n: 0,
            z: None,
            p: Some(1.0),
            points: 0.0,
            detail: "no group of officers at this office leans on the same traders or declarants together beyond chance with this officer".into(),
        };
    };
    let p = (2.0 * adjusted).min(1.0);
    let (x, n, e) = r.parties.iter().fold((0, 0, 0.0), |(x, n, e), q| (x + q.x, n + q.n, e + q.expected));
    let mut partners: Vec<&str> = r.partners.iter().map(|&t| g.ids[t].as_str()).collect();
    partners.sort_unstable();
    let listed: Vec<String> = r
        .parties
        .iter()
        .take(5)
        .map(|q| format!("{} {} of {} (chance {:.1}, p {:.1e})", q.name, q.x, q.n, q.expected, q.p))
        .collect();
    let detail = format!(
        "with {} on {} {}{} ({}{}): {x} of {n} controls where chance gives {e:.1} (together p {:.1e} among {} {}s tested; ×{:.0} groups of up to {} with this officer at the office, ×2 for the party kinds: {p:.1e}); this officer alone {} of {n} where chance gives {:.1} (p {:.1e})",
        partners.join(" and "),
        r.parties.len(),
        RING_PARTIES[kind],
        if r.parties.len() == 1 { "" } else { "s" },
        listed.join(", "),
        if r.parties.len() > 5 { ", …" } else { "" },
        r.p_group,
        r.tested,
        RING_PARTIES[kind],
        r.family,
        r.size,
        r.own_x,
        r.own_e,
        r.own_p,
    );
    let nn = n.max(1) as f64;
    Indicator {
        key: "ring".into(),
        value: x as f64 / nn,
        baseline: Some(e / nn),
        n,
        z: None,
        p: Some(p),
        points: 0.0,
        detail,
    }
}

fn finish(subject: &mut Subject, cfg: &Config) {
    let zs: Vec<f64> = subject.indicators.iter().filter_map(|i| i.z).collect();
    let whole = if zs.is_empty() { 1.0 } else { stats::chi_bar_square_sf(&zs) };
    // Trailing windows and CUSUM tests (officers): Simes over the whole
    // period and each of them.
    let windows: Vec<f64> = subject
        .indicators
        .iter()
        .filter(|i| i.key.starts_with("window_") || i.key.starts_with("cusum_") || i.key == "ring")
        .filter_map(|i| i.p)
        .collect();
    let p = if windows.is_empty() {
        whole
    } else {
        stats::simes(&std::iter::once(whole).chain(windows).collect::<Vec<f64>>()).max(1e-300)
    };
    let points: f64 = subject.indicators.iter().map(|i| i.points).sum();
    subject.p_value = p;
    subject.score = -p.log10() + points;
    // Provisional: the per-subject floors; `assign_levels` adds the
    // false-discovery control over the whole level.
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
            (None, Some(p)) => format!("{}: {} (p {p:.1e})", i.key, i.detail),
            _ => format!("{}: {} (+{} points)", i.key, i.detail, i.points),
        })
        .collect();
    subject.reason_figures = notable.iter().map(|i| ReasonFigures::of(i)).collect();
}

/// Levels over one family of subjects (all officers, all posts or all
/// units): `warning` when Benjamini–Hochberg at `warning_fdr` rejects the
/// subject's tail probability 10^(−score) and it is at most `watch_p`, or
/// when it is at most `warning_p`; `watch` likewise with `watch_fdr` or
/// `watch_p`. In a world where nobody colludes, the chance that any
/// subject of the family reaches `warning` is at most `warning_fdr` (plus
/// family size × `warning_p` beyond 500 subjects).
fn assign_levels(subjects: &mut [Subject], cfg: &Config) {
    let ps: Vec<f64> = subjects.iter().map(|s| 10f64.powf(-s.score)).collect();
    let warn = stats::benjamini_hochberg(&ps, cfg.warning_fdr);
    let watch = stats::benjamini_hochberg(&ps, cfg.watch_fdr);
    for (i, s) in subjects.iter_mut().enumerate() {
        let p = ps[i];
        s.level = if p <= cfg.warning_p || (warn[i] && p <= cfg.watch_p) {
            Level::Warning
        } else if p <= cfg.watch_p || watch[i] {
            Level::Watch
        } else {
            Level::Normal
        };
        // Too few controls or peers: the statistics alone do not warn.
        let points: f64 = s.indicators.iter().map(|i| i.points).sum();
        if s.level == Level::Warning
            && (s.controls < cfg.min_controls || s.peers < cfg.min_peers)
            && points < -cfg.warning_p.log10()
        {
            s.level = Level::Watch;
        }
    }
}

/// Officers scored on the records of `[from, to)` alone: combined tail of
/// their statistical indicators and the strongest of them.
fn window_scores(input: &Input, cfg: &Config, from: i64, to: i64) -> HashMap<String, (f64, String)> {
    let inside = |t: i64| t >= from && t < to;
    let window = Input {
        officers: input.officers.clone(),
        controls: input.controls.iter().filter(|c| inside(c.completed_at)).cloned().collect(),
        overrides: input.overrides.iter().filter(|o| inside(o.at)).cloned().collect(),
        disciplinary: vec![],
        as_of: input.as_of,
    };
    let d = derive(&window, cfg);
    let (_, _, grouping) = officer_grouping(&window);
    let (subjects, _) = compute_level(
        &window,
        &d,
        cfg,
        &grouping,
        "officer",
        OfficerTests { concentration: true, ..Default::default() },
    );
    subjects
        .into_iter()
        .map(|s| {
            let zs: Vec<f64> = s.indicators.iter().filter_map(|i| i.z).collect();
            let p = if zs.is_empty() { 1.0 } else { stats::chi_bar_square_sf(&zs) };
            let mut strong: Vec<&Indicator> = s.indicators.iter().filter(|i| i.z.is_some_and(|z| z > 1.0)).collect();
            strong.sort_by(|a, b| b.z.unwrap_or(0.0).total_cmp(&a.z.unwrap_or(0.0)));
            let top: Vec<String> =
                strong.iter().take(3).map(|i| format!("{} z {:.1}", i.key, i.z.unwrap_or(0.0))).collect();
            (s.id, (p, top.join(", ")))
        })
        .collect()
}

/// The officers (registry first, then ids seen only in records), their
/// index, and the officer-level grouping (peers: same office and post).
fn officer_grouping(input: &Input) -> (Vec<OfficerInfo>, HashMap<String, usize>, Grouping) {
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
    let mut groups: BTreeMap<(String, String), usize> = BTreeMap::new();
    for o in &officers {
        groups.insert((o.office.clone(), o.post.clone()), 0);
    }
    // Group numbers in key order: the posts are listed in that order.
    for (i, v) in groups.values_mut().enumerate() {
        *v = i;
    }
    let officer_of = |id: &str| index.get(id).copied();
    let grouping = Grouping {
        ids: officers.iter().map(|o| o.id.clone()).collect(),
        office: officers.iter().map(|o| o.office.clone()).collect(),
        post: officers.iter().map(|o| Some(o.post.clone())).collect(),
        group: officers.iter().map(|o| groups[&(o.office.clone(), o.post.clone())]).collect(),
        control_subject: input.controls.iter().map(|c| officer_of(&c.officer)).collect(),
        override_subject: input.overrides.iter().map(|o| officer_of(&o.officer)).collect(),
    };
    (officers, index, grouping)
}

fn rank(v: &mut [Subject]) {
    v.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
}

/// Computes every level. Same input and config ⇒ same report.
pub fn compute(input: &Input, cfg: &Config) -> Report {
    let d = derive(input, cfg);
    let (officers, index, officer_grouping) = officer_grouping(input);
    let mut groups: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (o, g) in officers.iter().zip(&officer_grouping.group) {
        groups.insert((o.office.clone(), o.post.clone()), *g);
    }
    let (mut off_subjects, evidence) = compute_level(
        input,
        &d,
        cfg,
        &officer_grouping,
        "officer",
        OfficerTests { concentration: true, sequential: cfg.cusum, ring: cfg.ring },
    );
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
    }
    // Change within an officer: each trailing window scored on its own.
    let times = input.controls.iter().map(|c| c.completed_at).chain(input.overrides.iter().map(|o| o.at));
    if let (Some(first), Some(last)) = (times.clone().min(), times.max()) {
        for &days in &cfg.recent_days {
            let from = last + 1 - i64::from(days) * 86_400;
            // A window that covers (nearly) everything repeats the whole period.
            if from <= first + 15 * 86_400 {
                continue;
            }
            let scores = window_scores(input, cfg, from, last + 1);
            for s in off_subjects.iter_mut() {
                let (p, top) = scores.get(&s.id).cloned().unwrap_or((1.0, String::new()));
                s.indicators.push(Indicator {
                    key: format!("window_{days}d"),
                    value: p,
                    baseline: None,
                    n: u64::from(days),
                    z: None,
                    p: Some(p),
                    points: 0.0,
                    detail: if top.is_empty() {
                        format!("the last {days} days alone: combined p {p:.1e}")
                    } else {
                        format!("the last {days} days alone: combined p {p:.1e} ({top})")
                    },
                });
            }
        }
    }
    for s in off_subjects.iter_mut() {
        finish(s, cfg);
    }
    assign_levels(&mut off_subjects, cfg);

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
    let (mut posts, _) = compute_level(input, &d, cfg, &post_grouping, "post", OfficerTests::default());
    let members_of = |pred: &dyn Fn(&Subject) -> bool| -> Vec<&Subject> {
        off_subjects.iter().filter(|s| pred(s)).collect::<Vec<_>>()
    };
    for p in &mut posts {
        let m = members_of(&|s: &Subject| s.office == p.office && s.post == p.post);
        group_rules(p, &m, cfg);
        finish(p, cfg);
    }
    assign_levels(&mut posts, cfg);

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
    let (mut units, _) = compute_level(input, &d, cfg, &unit_grouping, "unit", OfficerTests::default());
    for u in &mut units {
        let m = members_of(&|s: &Subject| s.office == u.office);
        group_rules(u, &m, cfg);
        finish(u, cfg);
    }
    assign_levels(&mut units, cfg);
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

/// Fixtures for the tests of the crates above this one (the report's
/// consumers: inbox, notifications, console answers).
#[doc(hidden)]
pub mod testing {
    use super::{Level, ReasonFigures, Subject};

    /// An officer of office 2201 at `level`, with one concentration reason.
    pub fn subject(id: &str, level: Level) -> Subject {
        Subject {
            id: id.into(),
            kind: "officer".into(),
            office: "2201".into(),
            post: Some("inspection".into()),
            score: if level == Level::Warning { 6.0 } else { 1.0 },
            level,
            p_value: 1e-6,
            controls: 40,
            peers: 6,
            indicators: vec![],
            reasons: vec!["concentration: trader T1 12 of 30 (chance 3.0, p 1e-6)".into()],
            reason_figures: vec![ReasonFigures {
                indicator: "concentration".into(),
                value: 0.4,
                baseline: Some(0.1),
                count: Some(12.0),
                expected: Some(3.0),
                n: 30,
                z: Some(4.75),
                p: Some(1e-6),
                points: 0.0,
            }],
            evidence: vec![],
        }
    }
}
