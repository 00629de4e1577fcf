//! Selectivity: turns risk into lanes so that each budget controls close
//! to its target rate. Mandatory rules first; then the highest-ranked
//! declarations fill the budget, found as a quantile of a sliding window of
//! recent ranking values, corrected by a proportional term on the window's
//! realised rate and an integral term on the controls the budget owes; plus
//! a uniform random draw. Every decision records its selection probability.
//!
//! The budget is per office (each office fills its own target), per
//! district or national ([`Budget`]). A shared budget puts controls where
//! the ranking is highest across the offices it covers, so a clean office
//! controls less and a risky one more, within each office's floor and
//! ceiling (multiples of the target: the officers' capacity).

use std::collections::{HashMap, VecDeque};

use riskgate_core::Channel;
use riskgate_core::rng::keyed_uniform;
use serde::{Deserialize, Serialize};

/// Target control rates of one office, by lane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetRates {
    pub yellow: f64,
    pub red: f64,
}

impl TargetRates {
    pub fn total(&self) -> f64 {
        self.yellow + self.red
    }
}

impl Default for TargetRates {
    fn default() -> Self {
        TargetRates { yellow: 0.02, red: 0.02 }
    }
}

riskgate_core::word_enum! {
    /// Which offices share one control budget.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Budget {
        /// Each office fills its own target (`target.OFFICE` or the default).
        #[default]
        Office => "office",
        /// The offices of a district share the district's target (`target.DISTRICT`).
        District => "district",
        /// All offices share the default target.
        National => "national",
    }
}

riskgate_core::word_enum! {
    /// How exploration (random) controls are drawn among the declarations the
    /// score does not select.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Exploration {
        /// Every declaration with probability `random_rate`.
        #[default]
        Uniform => "uniform",
        /// With probability `random_rate × w(q)`, `q` the declaration's rank in
        /// the window (0 lowest, 1 highest): `w(q) = 1/4 + 3 q³`, whose mean is
        /// 1, so the expected share stays `random_rate`, declarations just below
        /// the threshold (where the model is least sure it is right to let them
        /// go) are drawn up to 3¼ times as often, and none less than a quarter
        /// as often. The propensity is stored as the selection probability, so
        /// estimates and training weights stay unbiased.
        Targeted => "targeted",
    }
}

impl Exploration {
    /// The draw probability of a declaration at rank `q` in the window.
    pub fn probability(self, random_rate: f64, q: f64) -> f64 {
        match self {
            Exploration::Uniform => random_rate,
            Exploration::Targeted => (random_rate * (0.25 + 3.0 * q.clamp(0.0, 1.0).powi(3))).min(1.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectivityConfig {
    pub default_target: TargetRates,
    pub office_targets: HashMap<String, TargetRates>,
    /// Share of declarations drawn uniformly at random (part of the target).
    /// The engine's own default (0.005) keeps its pinned tests; a store's
    /// engine takes `riskgate_app::app::DEFAULT_RANDOM_RATE` (0.0025) unless
    /// the `random_rate` setting says otherwise.
    pub random_rate: f64,
    /// Declarations per office in the sliding window.
    pub window: usize,
    /// Below this many declarations an office borrows the national window.
    pub warmup: usize,
    /// Feedback gain on the gap between target and realised rate. At 1.0
    /// offices ran ~0.15 points under target on generated worlds (newer
    /// traffic ranks lower than the window it is compared with); 2.5 halves that.
    pub gain: f64,
    /// Gain on the controls an office owes (or is ahead), per window length.
    #[serde(default)]
    pub integral_gain: f64,
    pub seed: u64,
    /// Which offices share a budget.
    #[serde(default)]
    pub budget: Budget,
    /// Office → its district, for `Budget::District`.
    #[serde(default)]
    pub district_of: HashMap<String, String>,
    /// In a shared budget, an office controls at least this multiple of the
    /// budget's target rate (score selection is eased below it)…
    #[serde(default = "default_floor")]
    pub floor: f64,
    /// …and at most this multiple (no score selection above it; mandatory
    /// rules and random draws still apply).
    #[serde(default = "default_ceiling")]
    pub ceiling: f64,
    /// How exploration controls are drawn.
    #[serde(default)]
    pub exploration: Exploration,
}

fn default_floor() -> f64 {
    0.25
}

fn default_ceiling() -> f64 {
    3.0
}

impl Default for SelectivityConfig {
    fn default() -> Self {
        SelectivityConfig {
            default_target: TargetRates::default(),
            office_targets: HashMap::new(),
            random_rate: 0.005,
            window: 2000,
            warmup: 200,
            gain: 2.5,
            integral_gain: 3.0,
            seed: 0,
            budget: Budget::Office,
            district_of: HashMap::new(),
            floor: default_floor(),
            ceiling: default_ceiling(),
            exploration: Exploration::Uniform,
        }
    }
}

impl SelectivityConfig {
    pub fn target(&self, office: &str) -> TargetRates {
        self.office_targets.get(office).copied().unwrap_or(self.default_target)
    }

    /// The shared budget an office draws on (`None`: its own), with its target.
    fn pool<'a>(&'a self, office: &'a str) -> Option<(&'a str, TargetRates)> {
        match self.budget {
            Budget::Office => None,
            Budget::National => Some(("", self.default_target)),
            Budget::District => {
                let d = self.district_of.get(office).map_or(office, String::as_str);
                Some((d, self.target(d)))
            }
        }
    }
}

/// Recent ranking values of one office (or the nation) and what happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    recent: VecDeque<(f64, u8)>,
    #[serde(skip)]
    sorted: Vec<f64>,
    controlled: usize,
    mandatory: usize,
    /// Controls owed: Σ (target − controlled) over every declaration so far,
    /// bounded (anti-windup). The integral part of the controller, which
    /// removes the steady offset the window term leaves.
    #[serde(default)]
    owed: f64,
}

const F_CONTROLLED: u8 = 1;
const F_MANDATORY: u8 = 2;

impl Window {
    fn rebuild(&mut self) {
        self.sorted = self.recent.iter().map(|(v, _)| *v).collect();
        self.sorted.sort_by(f64::total_cmp);
    }

    fn push(&mut self, ranking: f64, flags: u8, cap: usize) {
        if self.sorted.len() != self.recent.len() {
            self.rebuild();
        }
        if self.recent.len() >= cap
            && let Some((old, of)) = self.recent.pop_front()
        {
            let i = self.sorted.partition_point(|x| x.total_cmp(&old).is_lt());
            self.sorted.remove(i);
            self.controlled -= usize::from(of & F_CONTROLLED != 0);
            self.mandatory -= usize::from(of & F_MANDATORY != 0);
        }
        let i = self.sorted.partition_point(|x| x.total_cmp(&ranking).is_lt());
        self.sorted.insert(i, ranking);
        self.recent.push_back((ranking, flags));
        self.controlled += usize::from(flags & F_CONTROLLED != 0);
        self.mandatory += usize::from(flags & F_MANDATORY != 0);
    }

    pub fn len(&self) -> usize {
        self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }

    /// The value above which a share `q` of the window lies.
    fn upper_quantile(&mut self, q: f64) -> f64 {
        if self.sorted.len() != self.recent.len() {
            self.rebuild();
        }
        let n = self.sorted.len();
        if n == 0 || q <= 0.0 {
            return f64::INFINITY;
        }
        let k = ((1.0 - q) * n as f64).floor() as usize;
        self.sorted[k.min(n - 1)]
    }

    pub fn realised_rate(&self) -> f64 {
        if self.recent.is_empty() { 0.0 } else { self.controlled as f64 / self.recent.len() as f64 }
    }

    /// The share of the window ranked below `ranking` (0.5 when empty).
    fn rank_of(&mut self, ranking: f64) -> f64 {
        if self.sorted.len() != self.recent.len() {
            self.rebuild();
        }
        if self.sorted.is_empty() {
            return 0.5;
        }
        self.sorted.partition_point(|x| x.total_cmp(&ranking).is_lt()) as f64 / self.sorted.len() as f64
    }

    /// Records one decision against the target in the integral term.
    fn settle(&mut self, target: f64, controlled: bool, cap: usize) {
        let bound = (cap as f64 * target).max(1.0);
        self.owed = (self.owed + target - f64::from(u8::from(controlled))).clamp(-bound, bound);
    }

    fn mandatory_rate(&self) -> f64 {
        if self.recent.is_empty() { 0.0 } else { self.mandatory as f64 / self.recent.len() as f64 }
    }

    /// The share of traffic the score may select next: what mandatory rules
    /// and the random draw leave of `total`, corrected (once the window holds
    /// 50 decisions) by the gap between target and realised rate and by the
    /// controls owed, within `[0, max]`.
    fn budget(&self, cfg: &SelectivityConfig, total: f64, max: f64) -> f64 {
        let base = (total - cfg.random_rate - self.mandatory_rate()).max(0.0);
        if self.len() < 50 {
            return base;
        }
        let owed = self.owed / self.len().max(100) as f64;
        (base + cfg.gain * (total - self.realised_rate()) + cfg.integral_gain * owed).clamp(0.0, max)
    }
}

/// The window of `key`, created on first use (no allocation once it exists:
/// this runs for every declaration).
fn window<'a>(windows: &'a mut HashMap<String, Window>, key: &str) -> &'a mut Window {
    if !windows.contains_key(key) {
        windows.insert(key.to_string(), Window::default());
    }
    windows.get_mut(key).expect("inserted above")
}

/// The lane chosen and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub channel: Channel,
    pub source: riskgate_core::Source,
    pub random: bool,
    pub selection_probability: f64,
    pub threshold: f64,
    pub target_rate: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Selectivity {
    pub offices: HashMap<String, Window>,
    pub national: Window,
    /// Shared budgets' windows (district code, or `""` for the nation).
    #[serde(default)]
    pub pools: HashMap<String, Window>,
}

impl Selectivity {
    /// Chooses the lane for one declaration and records it in the windows.
    /// `forced` is the strongest lane a mandatory rule demands.
    pub fn select(
        &mut self,
        cfg: &SelectivityConfig,
        office: &str,
        declaration_id: &str,
        ranking: f64,
        forced: Option<Channel>,
    ) -> Selection {
        if let Some((pool, target)) = cfg.pool(office) {
            return self.select_pooled(cfg, office, pool, target, declaration_id, ranking, forced);
        }
        let target = cfg.target(office);
        let total = target.total();
        let red_share = if total > 0.0 { target.red / total } else { 0.5 };
        let w = window(&mut self.offices, office);
        // The gap to close is always the office's own; a young office only
        // borrows the national window's ranking distribution.
        let budget = w.budget(cfg, total, total * 2.0);
        let use_national = w.len() < cfg.warmup;
        let win = if use_national { &mut self.national } else { w };
        let threshold = if win.len() < 20 { 0.5 } else { win.upper_quantile(budget) };
        let red_threshold = if win.len() < 20 { 0.8 } else { win.upper_quantile(budget * red_share) };
        let explore = match cfg.exploration {
            Exploration::Uniform => cfg.random_rate,
            e => e.probability(cfg.random_rate, win.rank_of(ranking)),
        };

        let sel =
            self.lane(cfg, declaration_id, ranking, forced, (threshold, red_threshold, explore), total, red_share);
        let flags =
            if sel.channel.is_control() { F_CONTROLLED } else { 0 } | if forced.is_some() { F_MANDATORY } else { 0 };
        let w = window(&mut self.offices, office);
        w.push(ranking, flags, cfg.window);
        w.settle(total, sel.channel.is_control(), cfg.window);
        self.national.push(ranking, flags, cfg.window);
        sel
    }

    /// A shared budget: the threshold comes from the pool's window and its
    /// realised rate; the office's own rate only bounds it (floor, ceiling).
    #[allow(clippy::too_many_arguments)]
    fn select_pooled(
        &mut self,
        cfg: &SelectivityConfig,
        office: &str,
        pool: &str,
        target: TargetRates,
        declaration_id: &str,
        ranking: f64,
        forced: Option<Channel>,
    ) -> Selection {
        let total = target.total();
        let red_share = if total > 0.0 { target.red / total } else { 0.5 };
        let p = window(&mut self.pools, pool);
        // As per office, but the correction may reach the ceiling: an office
        // held at its ceiling leaves its share to the others.
        let budget = p.budget(cfg, total, total * cfg.ceiling.max(2.0));
        let (mut threshold, red_threshold) =
            if p.len() < 20 { (0.5, 0.8) } else { (p.upper_quantile(budget), p.upper_quantile(budget * red_share)) };
        let explore = match cfg.exploration {
            Exploration::Uniform => cfg.random_rate,
            e => e.probability(cfg.random_rate, p.rank_of(ranking)),
        };
        // The office's floor and ceiling, once it has a history of its own.
        let w = window(&mut self.offices, office);
        if w.len() >= cfg.warmup {
            let rate = w.realised_rate();
            if rate >= cfg.ceiling * total {
                threshold = f64::INFINITY;
            } else if rate < cfg.floor * total {
                threshold = threshold.min(w.upper_quantile((cfg.floor * total - cfg.random_rate).max(0.0)));
            }
        }
        let sel =
            self.lane(cfg, declaration_id, ranking, forced, (threshold, red_threshold, explore), total, red_share);
        let flags =
            if sel.channel.is_control() { F_CONTROLLED } else { 0 } | if forced.is_some() { F_MANDATORY } else { 0 };
        self.record_pooled(cfg, office, pool, total, ranking, flags);
        sel
    }

    /// The lane for a ranking against the thresholds and the exploration
    /// probability: forced, by score, by random draw, or green.
    #[allow(clippy::too_many_arguments)]
    fn lane(
        &self,
        cfg: &SelectivityConfig,
        declaration_id: &str,
        ranking: f64,
        forced: Option<Channel>,
        (threshold, red_threshold, explore): (f64, f64, f64),
        total: f64,
        red_share: f64,
    ) -> Selection {
        let u = keyed_uniform(cfg.seed, declaration_id);
        let lane_draw = keyed_uniform(cfg.seed ^ 0x5EED_0001, declaration_id);
        let (channel, source, random, selection_probability) = if let Some(ch) = forced {
            (ch, riskgate_core::Source::Rule, false, 1.0)
        } else if ranking >= threshold && ranking > 0.0 {
            let ch = if ranking >= red_threshold { Channel::Red } else { Channel::Yellow };
            (ch, riskgate_core::Source::Score, false, 1.0)
        } else if u < explore {
            let ch = if lane_draw < red_share { Channel::Red } else { Channel::Yellow };
            (ch, riskgate_core::Source::Random, true, explore)
        } else {
            (Channel::Green, riskgate_core::Source::None, false, explore)
        };
        Selection { channel, source, random, selection_probability, threshold, target_rate: total }
    }

    fn record_pooled(
        &mut self,
        cfg: &SelectivityConfig,
        office: &str,
        pool: &str,
        total: f64,
        ranking: f64,
        flags: u8,
    ) {
        let controlled = flags & F_CONTROLLED != 0;
        let p = window(&mut self.pools, pool);
        p.push(ranking, flags, cfg.window);
        p.settle(total, controlled, cfg.window);
        window(&mut self.offices, office).push(ranking, flags, cfg.window);
        self.national.push(ranking, flags, cfg.window);
    }

    /// Re-applies a stored decision to the windows (rebuilding state after a
    /// checkpoint) exactly as `select` recorded it.
    pub fn replay(&mut self, cfg: &SelectivityConfig, office: &str, ranking: f64, controlled: bool, mandatory: bool) {
        let flags = if controlled { F_CONTROLLED } else { 0 } | if mandatory { F_MANDATORY } else { 0 };
        if let Some((pool, target)) = cfg.pool(office) {
            return self.record_pooled(cfg, office, pool, target.total(), ranking, flags);
        }
        let w = window(&mut self.offices, office);
        w.push(ranking, flags, cfg.window);
        w.settle(cfg.target(office).total(), controlled, cfg.window);
        self.national.push(ranking, flags, cfg.window);
    }

    pub fn realised_rate(&self, office: &str) -> Option<f64> {
        self.offices.get(office).map(Window::realised_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskgate_core::rng::Rng;

    fn run(sel: &mut Selectivity, cfg: &SelectivityConfig, office: &str, n: usize, rng: &mut Rng, shift: f64) -> f64 {
        let mut controlled = 0;
        for i in 0..n {
            let r = (rng.uniform() * shift).min(1.0);
            let s = sel.select(cfg, office, &format!("{office}-{i}-{shift}"), r, None);
            controlled += usize::from(s.channel.is_control());
        }
        controlled as f64 / n as f64
    }

    #[test]
    fn rate_stays_on_target_when_the_risk_distribution_shifts() {
        let cfg = SelectivityConfig::default();
        let mut sel = Selectivity::default();
        let mut rng = Rng::new(3);
        let before = run(&mut sel, &cfg, "2201", 20_000, &mut rng, 0.3);
        // Traffic turns much riskier: the threshold must follow.
        let after = run(&mut sel, &cfg, "2201", 20_000, &mut rng, 1.0);
        assert!((before - 0.04).abs() < 0.005, "before {before}");
        assert!((after - 0.04).abs() < 0.005, "after {after}");
    }

    /// Newer traffic ranking lower than the window it is compared with (as
    /// when new traders' novelty fades) leaves a proportional controller
    /// under target; the integral term removes that offset.
    #[test]
    fn rate_stays_on_target_when_risk_drifts_down() {
        let mut rng = Rng::new(5);
        let mut rates = Vec::new();
        for integral_gain in [0.0, 3.0] {
            let cfg = SelectivityConfig { gain: 2.5, integral_gain, ..SelectivityConfig::default() };
            let mut sel = Selectivity::default();
            let n = 40_000;
            let mut controlled = 0;
            for i in 0..n {
                let drift = 1.0 - 0.8 * i as f64 / n as f64;
                let r = rng.uniform().powi(3) * drift;
                controlled += usize::from(sel.select(&cfg, "2201", &format!("D{i}"), r, None).channel.is_control());
            }
            rates.push(controlled as f64 / n as f64);
        }
        assert!((rates[1] - 0.04).abs() < 0.001, "with the integral term: {rates:?}");
        assert!((rates[1] - 0.04).abs() < (rates[0] - 0.04).abs(), "the integral term must close the gap: {rates:?}");
    }

    /// Two offices of one district, one with much riskier traffic: per-office
    /// budgets control 4% in each; a district or national budget controls 4%
    /// overall, more in the risky office and less in the clean one, within
    /// the floor and ceiling. Replaying the decisions rebuilds the same state.
    #[test]
    fn a_shared_budget_moves_controls_to_the_risky_office() {
        let mut rows = Vec::new();
        for budget in [Budget::Office, Budget::District, Budget::National] {
            let cfg = SelectivityConfig {
                budget,
                district_of: [("A".to_string(), "D".to_string()), ("B".to_string(), "D".to_string())].into(),
                ..SelectivityConfig::default()
            };
            let mut sel = Selectivity::default();
            let mut replayed = Selectivity::default();
            let mut rng = Rng::new(11);
            let (mut n, mut c) = ([0usize; 2], [0usize; 2]);
            for i in 0..60_000 {
                // Office A: 3 of 4 declarations, low risk; B: high risk.
                let (k, office, r) = if i % 4 == 3 { (1, "B", rng.uniform()) } else { (0, "A", rng.uniform() * 0.7) };
                let s = sel.select(&cfg, office, &format!("D{i}"), r, None);
                replayed.replay(&cfg, office, r, s.channel.is_control(), false);
                n[k] += 1;
                c[k] += usize::from(s.channel.is_control());
            }
            let (a, b) = (c[0] as f64 / n[0] as f64, c[1] as f64 / n[1] as f64);
            let all = (c[0] + c[1]) as f64 / 60_000.0;
            rows.push(format!("{}: all {all:.3} A {a:.3} B {b:.3}", budget.as_str()));
            assert!((all - 0.04).abs() < 0.003, "{budget:?}: overall {all}");
            if budget == Budget::Office {
                assert!((a - 0.04).abs() < 0.004 && (b - 0.04).abs() < 0.004, "{budget:?}: A {a} B {b}");
            } else {
                assert!(b > 0.1 && a < 0.02, "{budget:?}: the risky office controls more: A {a} B {b}");
                assert!(a >= 0.25 * 0.04 * 0.9 && b <= 3.0 * 0.04 * 1.05, "{budget:?}: floor and ceiling: A {a} B {b}");
            }
            let same = serde_json::to_value(&sel).unwrap() == serde_json::to_value(&replayed).unwrap();
            assert!(same, "{budget:?}: replaying the decisions rebuilds the same windows");
        }
        eprintln!("{}", rows.join("\n"));
    }

    /// Targeted exploration draws as many controls as uniform exploration
    /// on average, more of them just below the threshold, and records each
    /// draw's own probability.
    #[test]
    fn targeted_exploration_keeps_the_rate_and_favours_the_near_misses() {
        for exploration in [Exploration::Uniform, Exploration::Targeted] {
            let cfg = SelectivityConfig { exploration, ..SelectivityConfig::default() };
            let mut sel = Selectivity::default();
            let mut rng = Rng::new(17);
            let (mut drawn, mut high, mut p_sum, mut n) = (0usize, 0usize, 0.0, 0usize);
            for i in 0..200_000 {
                let r = rng.uniform();
                let s = sel.select(&cfg, "2201", &format!("D{i}"), r, None);
                if s.source == riskgate_core::Source::Score {
                    continue;
                }
                n += 1;
                p_sum += s.selection_probability;
                if s.random {
                    drawn += 1;
                    high += usize::from(r > 0.8);
                }
            }
            let rate = drawn as f64 / n as f64;
            let mean_p = p_sum / n as f64;
            assert!((rate - 0.005).abs() < 0.0008, "{exploration:?}: drawn {rate}");
            assert!((mean_p - 0.005).abs() < 0.0004, "{exploration:?}: mean propensity {mean_p}");
            let top = high as f64 / drawn as f64;
            match exploration {
                // Uniform: the top fifth of the non-selected gets a fifth of the draws.
                Exploration::Uniform => assert!((top - 0.2).abs() < 0.05, "{top}"),
                Exploration::Targeted => assert!(top > 0.4, "targeted draws favour near misses: {top}"),
            }
        }
    }
}
