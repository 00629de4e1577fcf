//! The screening engine: context → rules → score → risk value and level →
//! channel (DESIGN.md "Screening"). It maps customs declarations onto the
//! generic rule language and scorer, and holds the incremental state.
//!
//! Architecture invariant: no I/O, no clock, no environment. `now` and the
//! seed come in as arguments; the same inputs, state and seed give the same
//! decision. Persistence of state is the caller's business (see
//! `Engine::checkpoint`).
//!
//! One derived view per declaration: `Engine::screen` first builds a
//! [`View`] of the declaration against the context — the forex match, the
//! base rate, the CNY totals, the registry entry, the trader, declarant and
//! overseas histories, and per item the CNY values, the unit-value and
//! kg-per-unit references as the item sees them (count, median, robust z,
//! from one walk of each histogram) and the goods and route histories. The
//! rule facts (`CustomsSchema::fill_view`), the statistical scorer, the
//! model features and the shadow scorer all read that one view instead of
//! each looking the context up again. What only a learned model reads is
//! derived on first use, so the statistical path does not pay for it: the
//! view's `novelty` (value per kg, the trader's new HS6 codes and origins)
//! and the feature vector kept in the [`ScoreInput`], which a learned scorer
//! and a learned shadow share. Training replays (`Engine::score_input` with
//! `features::features`) go through the same view, so the features a model
//! is trained on are the ones it is scored on.

pub mod context;
pub mod facts;
pub mod features;
pub mod model_scorer;
pub mod rulebook;
pub mod scorer;
pub mod selectivity;
pub mod view;

use chrono::{DateTime, FixedOffset};
use riskgate_core::{Channel, CreditClass, Decision, Declaration, Disposal, Outcome, Reason, RiskLevel, Source};
use riskgate_rules::{Facts, Lists};
use serde::{Deserialize, Serialize};

pub use context::{Context, ForexMatch, OutcomeKeys};
pub use facts::CustomsSchema;
pub use riskgate_core::screened::{Screened, TaskSpec};
pub use rulebook::{RuleBook, RuleDef, RuleStatus};
pub use scorer::{Score, ScoreInput, Scorer, StatScorer};
pub use selectivity::{Selectivity, SelectivityConfig, TargetRates};
pub use view::{ItemView, View};

/// How much the credit class scales a declaration's ranking (DESIGN.md 6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CreditFactors {
    pub advanced: f64,
    pub general: f64,
    pub ordinary: f64,
    pub dishonest: f64,
    pub unknown: f64,
}

impl Default for CreditFactors {
    fn default() -> Self {
        CreditFactors { advanced: 0.4, general: 0.7, ordinary: 1.0, dishonest: 1.5, unknown: 1.1 }
    }
}

impl CreditFactors {
    pub fn of(&self, c: Option<CreditClass>) -> f64 {
        match c {
            Some(CreditClass::Advanced) => self.advanced,
            Some(CreditClass::General) => self.general,
            Some(CreditClass::Ordinary) => self.ordinary,
            Some(CreditClass::Dishonest) => self.dishonest,
            None => self.unknown,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    pub selectivity: SelectivityConfig,
    pub credit: CreditFactors,
    /// What a control is worth (setting `ranking.value`, 0 to 1): 0 ranks
    /// by the probability of a finding alone; λ > 0 ranks by
    /// `p × (r / REFERENCE_DUTY_CNY)^λ`, `r` the duty a finding is expected
    /// to recover, so at 1 a control is ranked by its expected recoverable
    /// duty. Mapped into (0, 1) by `x / (1 + x)`, which keeps the order.
    #[serde(default)]
    pub value_weight: f64,
}

/// The scale of the duty a finding recovers in the value ranking
/// (`EngineConfig::value_weight`): at this duty the weight is 1.
pub const REFERENCE_DUTY_CNY: f64 = 10_000.0;

impl EngineConfig {
    /// The ranking value of a declaration: its risk value (times the
    /// credit factor), weighted by what a finding would recover when
    /// `value_weight` > 0.
    pub fn ranking(&self, risk_value: f64, factor: f64, duty_if_found: Option<f64>) -> f64 {
        let base = risk_value * factor;
        if self.value_weight <= 0.0 {
            return base.min(1.0);
        }
        // On the value scale every declaration is mapped alike; one without
        // a duty estimate (the conservative default) weighs as the reference.
        let x = match duty_if_found {
            Some(r) if r.is_finite() => base * ((1.0 + r.max(0.0)) / REFERENCE_DUTY_CNY).powf(self.value_weight),
            _ => base,
        };
        x / (1.0 + x)
    }
}

/// State that must survive restarts for decisions to stay reproducible.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub context: Context,
    pub selectivity: Selectivity,
}

pub struct Engine {
    pub config: EngineConfig,
    pub context: Context,
    pub selectivity: Selectivity,
    schema: CustomsSchema,
    rules: RuleBook,
    lists: Lists,
    scorer: Option<Box<dyn Scorer>>,
    shadow: Option<Box<dyn Scorer>>,
    facts: Facts,
    hits: Vec<usize>,
    policy: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("rules", &self.rules.len()).finish_non_exhaustive()
    }
}

/// What to tell the officer about a feature that raised the risk. Feature
/// names of both scorers are matched by what they measure.
fn instruction_for(feature: &str) -> Option<&'static str> {
    const TABLE: &[(&[&str], &str)] = &[
        (&["kg"], "核对数量与重量，过磅 / Check quantity against weight; weigh the goods"),
        (&["forex"], "核对付汇金额与申报价格 / Check forex payments against the declared value"),
        (
            &["unit_value", "value_per_kg", "value_cny", "duty"],
            "核对申报单价与发票及付汇记录 / Check the unit price against the invoice and payments",
        ),
        (
            &["new_trader", "trader_age", "trader_known", "capital"],
            "核实企业资质与实际经营 / Verify the trader's registration and business",
        ),
        (
            &["trader", "declarant", "overseas", "credit"],
            "查看既往查获记录，重点查验 / Review past findings of the parties; inspect thoroughly",
        ),
        (
            &["route", "origin", "hub", "departure", "certificate"],
            "核对原产地证明及运输路线 / Check origin documents and the route",
        ),
        (&["goods", "hs", "new_"], "核对商品编码与归类 / Check the HS classification of the goods"),
        (&["rule"], "按所命中规则的指令查验 / Follow the instructions of the rules that fired"),
    ];
    TABLE.iter().find(|(keys, _)| keys.iter().any(|k| feature.contains(k))).map(|(_, text)| *text)
}

const STANDARD_PROCEDURE: &str = "按规程审核 / Check per standard procedure";

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        let schema = CustomsSchema::new();
        let facts = Facts::new(&schema.schema);
        Engine {
            config,
            context: Context::default(),
            selectivity: Selectivity::default(),
            schema,
            rules: RuleBook::default(),
            lists: Lists::new(),
            scorer: Some(Box::new(StatScorer::default())),
            shadow: None,
            facts,
            hits: Vec::new(),
            policy: String::new(),
        }
        .with_policy()
    }

    fn with_policy(mut self) -> Self {
        self.policy = self.compute_policy_id();
        self
    }

    pub fn schema(&self) -> &CustomsSchema {
        &self.schema
    }

    pub fn lists(&self) -> &Lists {
        &self.lists
    }

    pub fn set_lists(&mut self, lists: Lists) {
        self.lists = lists;
    }

    /// Installs the active rule versions; returns those that did not compile.
    pub fn set_rules(&mut self, defs: Vec<RuleDef>) -> Vec<(String, u32, riskgate_rules::RuleError)> {
        let (book, errors) = RuleBook::build(defs, &self.schema, &self.lists);
        self.rules = book;
        self.policy = self.compute_policy_id();
        errors
    }

    pub fn rules(&self) -> &RuleBook {
        &self.rules
    }

    /// Replaces the scorer; `None` runs on rules and the conservative default.
    pub fn set_scorer(&mut self, scorer: Option<Box<dyn Scorer>>) {
        self.scorer = scorer;
        self.policy = self.compute_policy_id();
    }

    pub fn set_shadow(&mut self, scorer: Option<Box<dyn Scorer>>) {
        self.shadow = scorer;
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { context: self.context.clone(), selectivity: self.selectivity.clone() }
    }

    pub fn restore(&mut self, cp: Checkpoint) {
        self.context = cp.context;
        self.selectivity = cp.selectivity;
    }

    /// A fingerprint of the policy in force: scorer and rule versions.
    pub fn policy_id(&self) -> &str {
        &self.policy
    }

    fn compute_policy_id(&self) -> String {
        let mut h: u64 = 0;
        for d in &self.rules.defs {
            h = riskgate_core::rng::stable_hash(h, &format!("{}@{}", d.id, d.version));
        }
        let scorer = self.scorer.as_ref().map_or("none", |s| s.id());
        format!("{scorer}+rules:{}:{:08x}", self.rules.len(), h as u32)
    }

    /// Which active rules fire on a declaration, without deciding anything.
    pub fn rule_hits(&mut self, d: &Declaration) -> Vec<&RuleDef> {
        self.schema.fill_view(&mut self.facts, &View::new(d, &self.context));
        let mut hits = std::mem::take(&mut self.hits);
        self.rules.matching(&self.facts, d.declared_at, &mut hits);
        self.hits = hits;
        self.hits.iter().map(|i| &self.rules.defs[*i]).collect()
    }

    /// Screens one declaration: decides, then folds it into the context.
    ///
    /// `now` is the decision time: the context is first brought to it
    /// (outcomes completed by then are folded in, later ones wait:
    /// `Context::advance_to`) and only payments made by then are matched
    /// (`View::at`). Nothing dated after `now` reaches the decision.
    pub fn screen(&mut self, d: &Declaration, now: DateTime<FixedOffset>) -> Screened {
        self.context.advance_to(now.timestamp());
        let view = View::at(d, &self.context, now.timestamp());
        // The match at the declaration's own time, which folding it keeps (see `apply_declaration_matched`).
        let own_match = (now.timestamp() == d.declared_at.timestamp()).then_some(view.forex);
        self.schema.fill_view(&mut self.facts, &view);
        let mut hits = std::mem::take(&mut self.hits);
        self.rules.matching(&self.facts, d.declared_at, &mut hits);

        let mut reasons = Vec::with_capacity(hits.len() + 3);
        let mut keep = 1.0;
        let mut forced: Option<Channel> = None;
        let mut instructions: Vec<&str> = Vec::new();
        let mut measure: Option<Disposal> = None;
        let mut refer = Vec::new();
        for &i in &hits {
            let r = &self.rules.defs[i];
            keep *= 1.0 - r.weight.clamp(0.0, 1.0);
            if let Some(k) = &r.refer {
                refer.push((k.clone(), r.id.clone()));
            }
            if let Some(m) = r.disposal {
                measure = Some(measure.map_or(m, |x| if m.severity() > x.severity() { m } else { x }));
            }
            if let Some(ch) = r.channel {
                forced = Some(forced.map_or(ch, |f| f.max(ch)));
            }
            if !r.instructions.is_empty() {
                instructions.push(&r.instructions);
            }
            reasons.push(Reason::Rule {
                id: r.id.clone(),
                version: r.version,
                title: r.title.clone(),
                channel: r.channel,
                weight: r.weight,
            });
        }
        let input = ScoreInput::new(view, 1.0 - keep, hits.len());
        let score = self.scorer.as_ref().map(|s| s.score(&input)).filter(|s| s.probability.is_finite());
        // A scorer that learned the rules' value already counts them.
        let keep = if score.is_some() && self.scorer.as_ref().is_some_and(|s| s.learns_rules()) { 1.0 } else { keep };
        let shadow = self.shadow.as_ref().map(|s| (s.id().to_string(), s.score(&input).probability));
        let probability = match &score {
            Some(s) => {
                reasons.push(Reason::Model {
                    id: s.scorer_id.clone(),
                    score: round4(s.probability),
                    top_features: s.contributions.iter().take(5).map(|(n, v)| (n.to_string(), round4(*v))).collect(),
                    expected_revenue_cny: Some((s.expected_revenue_cny * 100.0).round() / 100.0),
                });
                s.probability
            }
            None => {
                // Conservative default: never below three times the base rate.
                let p = (3.0 * input.base_rate).min(0.5);
                reasons.push(Reason::Fallback {
                    detail: format!("scorer unavailable; rules plus conservative default risk {p:.3}"),
                });
                p
            }
        };
        let risk_value = round4(1.0 - (1.0 - probability) * keep);
        let risk_level = RiskLevel::from_risk_value(risk_value);
        let class = input.enterprise.map(|e| e.credit_class);
        drop(input);
        let factor = self.config.credit.of(class);
        if (factor - 1.0).abs() > 1e-9 {
            reasons.push(Reason::Credit { class: class.map_or("unknown", |c| c.as_str()).into(), factor });
        }
        let duty_if_found =
            score.as_ref().filter(|s| s.probability > 0.0).map(|s| s.expected_revenue_cny / s.probability);
        let ranking = self.config.ranking(risk_value, factor, duty_if_found);
        let sel = self.selectivity.select(&self.config.selectivity, &d.office, &d.id, ranking, forced);
        if sel.random {
            reasons.push(Reason::Random { rate: sel.selection_probability });
        }
        reasons.push(Reason::Selectivity {
            office: d.office.clone(),
            threshold: round4(sel.threshold.min(1.0)),
            target_rate: sel.target_rate,
        });

        let by_level = match (sel.channel, risk_level) {
            (Channel::Green, RiskLevel::High) => Disposal::Transfer,
            (_, RiskLevel::High) => Disposal::Control,
            (_, RiskLevel::Medium) => Disposal::Prevent,
            (_, RiskLevel::Low) => Disposal::Accept,
        };
        // The kind of risk a fired rule names may call for more; a control
        // the budget did not select is transferred to post-clearance audit.
        let disposal = match measure.filter(|m| m.severity() > by_level.severity()) {
            Some(Disposal::Control) if !sel.channel.is_control() => Disposal::Transfer,
            Some(m) => m,
            None => by_level,
        };
        let mut text = String::new();
        if sel.channel.is_control() {
            for i in &instructions {
                if !text.is_empty() {
                    text.push_str("; ");
                }
                text.push_str(i);
            }
            if sel.random {
                if !text.is_empty() {
                    text.push_str("; ");
                }
                text.push_str("随机布控，按规程查验 / Random control: check per standard procedure");
            }
            if text.is_empty()
                && let Some(i) = score.as_ref().and_then(|s| {
                    s.contributions.iter().filter(|(_, v)| *v > 0.0).find_map(|(f, _)| instruction_for(f))
                })
            {
                text.push_str(i);
            }
            if text.is_empty() {
                text.push_str(STANDARD_PROCEDURE);
            }
        } else if disposal == Disposal::Transfer {
            text.push_str(
                "高风险已放行，转稽查 / High risk released within the control budget: refer to post-clearance audit",
            );
        }
        self.hits = hits;

        let decision = Decision {
            declaration_id: d.id.clone(),
            decided_at: now,
            channel: sel.channel,
            risk_value,
            risk_level,
            reasons,
            random: sel.random,
            instructions: text.clone(),
            selection_probability: sel.selection_probability,
            source: sel.source,
            disposal: Some(disposal),
            office: d.office.clone(),
            engine: self.policy.clone(),
        };
        let task = sel.channel.is_control().then(|| TaskSpec {
            office: d.office.clone(),
            channel: sel.channel,
            disposal,
            instructions: text,
        });
        self.context.apply_declaration_matched(d, own_match);
        Screened { decision, ranking, task, shadow, refer }
    }

    /// Folds a declaration stored without screening (migrated history, or
    /// a replayed decision), as decided at its declaration time.
    pub fn apply_historical(&mut self, d: &Declaration) {
        self.context.advance_to(d.declared_at.timestamp());
        self.context.apply_declaration(d);
    }

    pub fn apply_outcome(&mut self, keys: &OutcomeKeys, outcome: &Outcome) {
        self.context.apply_outcome(keys, outcome);
    }

    /// Scores a declaration stored earlier as it looks now, for selection
    /// after release (post-clearance audit): the context as it stands (the
    /// findings and history since its decision count), with `forex` the
    /// payments matched to it after the fact. Decides nothing and folds
    /// nothing; `None` when no scorer answers. Also returns the fired rules'
    /// combined weight and the rules' titles.
    pub fn rescore(&mut self, d: &Declaration, forex: Option<ForexMatch>) -> Option<(Score, f64, Vec<String>)> {
        let view = View::with_forex(d, &self.context, forex);
        let mut hits = std::mem::take(&mut self.hits);
        let weight = fire(&self.schema, &mut self.facts, &self.rules, &mut hits, &view, d.declared_at);
        let titles = hits.iter().map(|i| format!("{} {}", self.rules.defs[*i].id, self.rules.defs[*i].title)).collect();
        let rules_fired = hits.len();
        self.hits = hits;
        let input = ScoreInput::new(view, weight, rules_fired);
        let score = self.scorer.as_ref().map(|s| s.score(&input)).filter(|s| s.probability.is_finite())?;
        let learns = self.scorer.as_ref().is_some_and(|s| s.learns_rules());
        Some((score, if learns { 0.0 } else { weight }, titles))
    }

    /// What the scorers see for a declaration decided at its declaration
    /// time, including the active rules that fire on it (for training and
    /// analysis): the clock is brought to `d.declared_at` first, as
    /// `screen` does with its `now`.
    pub fn score_input<'a>(&'a mut self, d: &'a Declaration) -> ScoreInput<'a> {
        self.context.advance_to(d.declared_at.timestamp());
        let view = View::new(d, &self.context);
        let mut hits = std::mem::take(&mut self.hits);
        let weight = fire(&self.schema, &mut self.facts, &self.rules, &mut hits, &view, d.declared_at);
        let rules_fired = hits.len();
        self.hits = hits;
        ScoreInput::new(view, weight, rules_fired)
    }
}

/// Fills the rule facts of `view`, leaves the active rules that fire at
/// `at` in `hits` and returns their combined weight `1 − Π(1 − wᵢ)` (for
/// `score_input` and `rescore`; `screen` reads more of each hit).
fn fire(
    schema: &CustomsSchema,
    facts: &mut Facts,
    rules: &RuleBook,
    hits: &mut Vec<usize>,
    view: &View<'_>,
    at: DateTime<FixedOffset>,
) -> f64 {
    schema.fill_view(facts, view);
    rules.matching(facts, at, hits);
    1.0 - hits.iter().map(|i| 1.0 - rules.defs[*i].weight.clamp(0.0, 1.0)).product::<f64>()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Selection source of a decision for hit-rate splits.
pub fn source_of(d: &Decision) -> Source {
    d.source
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At 0 the ranking is the risk value times the credit factor, as
    /// before; at 1 two declarations rank by their expected recoverable
    /// duty; in between the probability and the duty trade off. Every
    /// ranking stays in [0, 1].
    #[test]
    fn the_value_weight_trades_probability_for_recoverable_duty() {
        // (probability, duty a finding recovers)
        let likely_small = (0.30, 2_000.0);
        let unlikely_large = (0.10, 60_000.0);
        let rank = |w: f64, (p, r): (f64, f64)| {
            EngineConfig { value_weight: w, ..Default::default() }.ranking(p, 1.0, Some(r))
        };
        assert_eq!(rank(0.0, likely_small), 0.30);
        assert_eq!(EngineConfig::default().ranking(0.8, 1.5, None), 1.0);
        assert!(rank(0.0, likely_small) > rank(0.0, unlikely_large));
        // 0.30 × 2,000 < 0.10 × 60,000: by value the large one comes first.
        assert!(rank(1.0, likely_small) < rank(1.0, unlikely_large));
        // Half way: 0.30 × √0.2 ≈ 0.134 < 0.10 × √6 ≈ 0.245.
        assert!(rank(0.5, likely_small) < rank(0.5, unlikely_large));
        // Without a duty estimate the declaration weighs as the reference
        // duty, on the same (0, 1) scale as the others.
        assert_eq!(
            rank(1.0, (0.3, REFERENCE_DUTY_CNY - 1.0)),
            EngineConfig { value_weight: 1.0, ..Default::default() }.ranking(0.3, 1.0, None)
        );
        for w in [0.0, 0.5, 1.0] {
            for x in [likely_small, unlikely_large, (1.0, 1e9), (0.0, 0.0)] {
                let r = rank(w, x);
                assert!((0.0..=1.0).contains(&r), "{w} {x:?}: {r}");
            }
        }
    }
}
