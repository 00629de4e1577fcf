//! The transparent statistical scorer: a probability of finding built as a
//! sum of log-odds contributions from the context, each named, so the
//! officer sees why. The learned model joins or replaces it through the
//! `Scorer` seam.

use std::borrow::Cow;

pub use crate::features::ScoreInput;

/// Weight, in controls, of the prior when smoothing a finding rate.
pub use crate::context::PRIOR_STRENGTH;

/// A score with its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Probability that a control finds something.
    pub probability: f64,
    /// Expected additional duty if controlled, in CNY.
    pub expected_revenue_cny: f64,
    /// Named contributions in log-odds, largest first.
    pub contributions: Vec<(Cow<'static, str>, f64)>,
    pub scorer_id: String,
}

/// The seam through which scorers (statistical, learned, shadow) plug in.
pub trait Scorer: Send + Sync {
    fn id(&self) -> &str;
    fn score(&self, input: &ScoreInput<'_>) -> Score;
    /// True when the score already weighs the rules that fired (a model
    /// trained with them as features); the engine then does not add the
    /// rules' weights a second time.
    fn learns_rules(&self) -> bool {
        false
    }
}

/// The statistical scorer (see module doc).
#[derive(Debug, Clone)]
pub struct StatScorer {
    id: String,
}

impl Default for StatScorer {
    fn default() -> Self {
        StatScorer { id: "stat-v1".into() }
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Log-odds shift of a smoothed rate against the base rate, damped.
fn rate_shift(controls: u64, findings: u64, base: f64, damp: f64) -> f64 {
    if controls == 0 {
        return 0.0;
    }
    let r = (findings as f64 + base * PRIOR_STRENGTH) / (controls as f64 + PRIOR_STRENGTH);
    damp * (logit(r) - logit(base))
}

impl Scorer for StatScorer {
    fn id(&self) -> &str {
        &self.id
    }

    fn score(&self, input: &ScoreInput<'_>) -> Score {
        let v = &input.view;
        let d = v.declaration;
        let ctx = v.context;
        let base = v.base_rate;
        let mut c: Vec<(&'static str, f64)> = Vec::with_capacity(10);

        // Price and weight anomalies: the strongest item counts.
        let mut under = 0.0f64;
        let mut heavy = 0.0f64;
        let mut novelty = 0.0f64;
        let mut goods = 0.0f64;
        let mut route = 0.0f64;
        for it in &v.items {
            let exact = it.unit_value_ref;
            let r = exact.filter(|r| r.n >= 8);
            let r = r.or_else(|| it.unit_value_hs6.filter(|r| r.n >= 8));
            if let Some(z) = r.and_then(|r| r.z)
                && z < -1.5
            {
                under = under.max((0.7 * (-z - 1.5)).min(3.0));
            }
            if it.item.net_weight_kg > 0.0
                && let Some(z) = it.kg_ref.filter(|r| r.n >= 8).and_then(|r| r.z)
                && z > 1.5
            {
                heavy = heavy.max((0.6 * (z - 1.5)).min(2.5));
            }
            if exact.is_none_or(|r| r.n < 3) {
                novelty = novelty.max(0.3);
            }
            if let Some(h) = it.goods {
                goods = goods.max(rate_shift(h.controls, h.findings, base, 0.6));
            }
            if let Some(h) = it.route {
                route = route.max(rate_shift(h.controls, h.findings, base, 0.6));
            }
        }
        c.push(("unit_value_vs_hs6_origin", under));
        c.push(("kg_per_unit_vs_hs6", heavy));
        c.push(("new_goods_or_origin", novelty));
        c.push(("goods_finding_rate", goods));
        c.push(("route_finding_rate", route));

        let th = v.trader;
        c.push(("trader_finding_rate", th.map_or(0.0, |h| rate_shift(h.controls, h.findings, base, 0.9))));
        c.push(("declarant_finding_rate", v.declarant.map_or(0.0, |h| rate_shift(h.controls, h.findings, base, 0.6))));
        if d.overseas_party.is_some() {
            c.push((
                "overseas_party_finding_rate",
                v.overseas.map_or(0.0, |h| rate_shift(h.controls, h.findings, base, 0.5)),
            ));
        }
        let newcomer = match (v.enterprise.is_some(), v.trader_age_days) {
            (false, _) => 0.8,
            (true, Some(a)) if a < 365.0 => 0.5,
            _ => 0.0,
        } + if th.is_none_or(|h| h.declarations < 3) { 0.3 } else { 0.0 };
        c.push(("new_trader", newcomer));
        // A payment matched by amount alone may be another shipment's: half
        // the weight of one carrying the declaration's invoice number.
        let fx = match v.forex {
            Some(m) if m.ratio > 1.1 => {
                (1.2 * (m.ratio.ln() / 1.5f64.ln())).min(3.0) * if m.by_reference { 1.0 } else { 0.5 }
            }
            _ => 0.0,
        };
        c.push(("forex_paid_vs_declared", fx));

        c.retain(|(_, v)| *v != 0.0);
        c.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
        let total: f64 = c.iter().map(|(_, v)| v).sum();
        let probability = sigmoid(logit(base) + total);
        let per_value = if ctx.value_found_cny > 0.0 { ctx.revenue_per_value_found } else { 0.05 };
        Score {
            probability,
            expected_revenue_cny: probability * v.total_value_cny * per_value,
            contributions: c.into_iter().map(|(n, v)| (Cow::Borrowed(n), v)).collect(),
            scorer_id: self.id.clone(),
        }
    }
}
