//! The one place where a declaration and its context become a numeric
//! feature vector for the learned model. Everything here is known at the
//! declaration's own time (the context never holds later outcomes when the
//! caller replays in time order), so training is leak-free.

use chrono::{Datelike, Timelike};
use riskgate_core::{CreditClass, Declaration, Direction, Item, TransportMode};

use crate::context::History;
use std::cell::OnceCell;

use crate::context::PRIOR_STRENGTH;
use crate::view::View;

/// Feature names, in vector order. Changing them needs a new model.
pub const FEATURES: &[&str] = &[
    "log_value_cny",
    "log_declared_duty_cny",
    "item_count",
    "max_duty_rate",
    "import",
    "transport_mode",
    "trade_mode",
    "office",
    "hour",
    "weekday",
    "foreign_currency",
    "credit_class",
    "trader_known",
    "log_registered_capital",
    "trader_age_days",
    "trader_declarations",
    "trader_recent",
    "trader_controls",
    "trader_finding_rate",
    "trader_revenue_per_control",
    "trader_days_since_first",
    "declarant_declarations",
    "declarant_controls",
    "declarant_finding_rate",
    "overseas_controls",
    "overseas_finding_rate",
    "overseas_country_is_origin",
    "forex_matched",
    "forex_paid_ratio",
    "forex_by_reference",
    "min_unit_value_z",
    "unit_value_ref_count",
    "unit_value_vs_hs6",
    "max_kg_per_unit_z",
    "min_value_per_kg_z",
    "max_goods_finding_rate",
    "max_route_finding_rate",
    "goods_controls",
    "origin_ne_departure",
    "via_hub",
    "new_trader_hs6",
    "new_trader_origin",
    "main_hs2",
    "main_duty_rate",
    "has_certificate_of_origin",
    "rule_weight",
    "rules_fired",
    "trader_findings",
    "declarant_findings",
    "overseas_findings",
    "goods_findings",
    "main_hs6",
    "main_hs4",
    "main_origin",
    "departure",
    "log_net_weight_kg",
    "log_unit_value_cny",
    "day_of_year",
];

const HUBS: &[&str] = &["SG", "MY", "HK", "VN", "AE", "TH", "KR"];

fn rate(h: Option<&History>, prior: f64) -> f64 {
    h.map_or(prior, |h| h.smoothed_rate(prior, PRIOR_STRENGTH))
}

fn code_number(s: &str) -> f64 {
    // Codes made of digits become their number (a stable label encoding);
    // others a hash folded to 20 bits.
    s.parse::<f64>().unwrap_or_else(|_| (riskgate_core::rng::stable_hash(0, s) & 0xF_FFFF) as f64)
}

/// Names of attribute features: `attr:KEY` reads the declaration's
/// `attributes.KEY` (codes that a deployment's own declarations carry).
pub const ATTRIBUTE_PREFIX: &str = "attr:";

/// The full list of feature names for a model using these attribute keys.
pub fn feature_names(attributes: &[String]) -> Vec<String> {
    FEATURES.iter().map(|s| s.to_string()).chain(attributes.iter().map(|k| format!("{ATTRIBUTE_PREFIX}{k}"))).collect()
}

/// Where each of a model's inputs comes from: an engine feature (by its
/// index in `FEATURES`) or a declaration attribute. A model may use any
/// subset of the engine's features, in any order, followed or interleaved
/// with `attr:KEY` features; the layout is resolved once from the names
/// stored with the model.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureLayout {
    sources: Vec<Source>,
    /// `Some(attribute keys)` when the layout is exactly `FEATURES` then
    /// attributes, so the engine's vector is used as it is (no gather).
    identity_tail: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Source {
    Engine(usize),
    Attribute(String),
}

impl FeatureLayout {
    /// Resolves `names`; the error names the first feature this engine does not compute.
    pub fn from_names(names: &[String]) -> Result<Self, String> {
        let mut sources = Vec::with_capacity(names.len());
        for n in names {
            if let Some(k) = n.strip_prefix(ATTRIBUTE_PREFIX) {
                sources.push(Source::Attribute(k.to_string()));
            } else if let Some(i) = FEATURES.iter().position(|f| f == n) {
                sources.push(Source::Engine(i));
            } else {
                return Err(n.clone());
            }
        }
        let identity_tail = if sources.len() >= FEATURES.len()
            && sources[..FEATURES.len()].iter().enumerate().all(|(i, s)| *s == Source::Engine(i))
        {
            sources[FEATURES.len()..]
                .iter()
                .map(|s| match s {
                    Source::Attribute(k) => Some(k.clone()),
                    Source::Engine(_) => None,
                })
                .collect()
        } else {
            None
        };
        Ok(FeatureLayout { sources, identity_tail })
    }

    /// The names a model with this layout stores.
    pub fn names(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| match s {
                Source::Engine(i) => FEATURES[*i].to_string(),
                Source::Attribute(k) => format!("{ATTRIBUTE_PREFIX}{k}"),
            })
            .collect()
    }

    /// The name of input `i`, borrowed when it is an engine feature.
    pub fn name(&self, i: usize) -> std::borrow::Cow<'static, str> {
        match &self.sources[i] {
            Source::Engine(j) => std::borrow::Cow::Borrowed(FEATURES[*j]),
            Source::Attribute(k) => std::borrow::Cow::Owned(format!("{ATTRIBUTE_PREFIX}{k}")),
        }
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Fills `out` with the model's input row for `input`, from the
    /// engine's vector that `input` derives once. (`scratch` is no longer
    /// used; it stays for callers.)
    pub fn fill(&self, input: &ScoreInput<'_>, _scratch: &mut Vec<f64>, out: &mut Vec<f64>) {
        let full = input.features();
        if let Some(keys) = &self.identity_tail {
            out.clear();
            out.extend_from_slice(full);
            attribute_features(input.declaration, keys, out);
            return;
        }
        self.gather(input.declaration, full, out);
    }

    /// Picks the model's inputs out of the engine's full vector `full`
    /// (in `FEATURES` order) and the declaration's attributes.
    pub fn gather(&self, d: &Declaration, full: &[f64], out: &mut Vec<f64>) {
        out.clear();
        for s in &self.sources {
            out.push(match s {
                Source::Engine(i) => full[*i],
                Source::Attribute(k) => attribute_value(d, k),
            });
        }
    }
}

/// The engine's features minus those whose names start with any of
/// `exclude`, then the attribute features.
pub fn selected_names(attributes: &[String], exclude: &[String]) -> Vec<String> {
    feature_names(attributes)
        .into_iter()
        .filter(|n| n.starts_with(ATTRIBUTE_PREFIX) || !exclude.iter().any(|p| n.starts_with(p.as_str())))
        .collect()
}

fn attribute_value(d: &Declaration, k: &str) -> f64 {
    match d.attributes.get(k) {
        Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(serde_json::Value::String(s)) if !s.is_empty() => code_number(s),
        Some(serde_json::Value::Bool(b)) => f64::from(u8::from(*b)),
        _ => f64::NAN,
    }
}

/// Appends one value per attribute key: numbers as they are, codes as
/// numbers (see `code_number`), missing as NaN.
pub fn attribute_features(d: &Declaration, keys: &[String], out: &mut Vec<f64>) {
    for k in keys {
        out.push(attribute_value(d, k));
    }
}

/// Fills `out` with the feature vector of `d` (in `FEATURES` order).
pub fn features(input: &ScoreInput<'_>, out: &mut Vec<f64>) {
    out.clear();
    out.extend_from_slice(input.features());
}

/// Fills `out` with the feature vector of a declaration's view (in
/// `FEATURES` order), given the active rules that fired on it.
pub fn features_of(v: &View<'_>, rule_weight: f64, rules_fired: usize, out: &mut Vec<f64>) {
    let (d, fx) = (v.declaration, v.forex);
    out.clear();
    let prior = v.base_rate;
    let nan = f64::NAN;
    let value = v.total_value_cny;
    out.push((1.0 + value).ln());
    out.push((1.0 + v.declared_duty_cny).ln());
    out.push(d.items.len() as f64);
    out.push(d.items.iter().map(|i| i.duty_rate).fold(0.0, f64::max));
    out.push(f64::from(u8::from(d.direction == Direction::Import)));
    out.push(TransportMode::ALL.iter().position(|(_, m)| *m == d.transport_mode).unwrap_or(5) as f64);
    out.push(code_number(&d.trade_mode));
    out.push(code_number(&d.office));
    out.push(f64::from(d.declared_at.hour()));
    out.push(f64::from(d.declared_at.weekday().number_from_monday()));
    out.push(f64::from(u8::from(d.currency != "CNY")));
    let ent = v.enterprise;
    out.push(match ent.map(|e| e.credit_class) {
        Some(CreditClass::Advanced) => 0.0,
        Some(CreditClass::General) => 1.0,
        Some(CreditClass::Ordinary) => 2.0,
        Some(CreditClass::Dishonest) => 3.0,
        None => nan,
    });
    out.push(f64::from(u8::from(ent.is_some())));
    out.push(ent.and_then(|e| e.registered_capital_cny).map_or(nan, |c| (1.0 + c).ln()));
    out.push(v.trader_age_days.unwrap_or(nan));
    let th = v.trader;
    out.push(th.map_or(0.0, |h| h.declarations as f64));
    out.push(th.map_or(0.0, |h| h.recent));
    out.push(th.map_or(0.0, |h| h.controls as f64));
    out.push(rate(th, prior));
    out.push(th.filter(|h| h.controls > 0).map_or(nan, |h| h.revenue_cny / h.controls as f64));
    out.push(th.map_or(nan, |h| (d.declared_at.timestamp() - h.first_seen) as f64 / 86_400.0));
    let dh = v.declarant;
    out.push(dh.map_or(0.0, |h| h.declarations as f64));
    out.push(dh.map_or(0.0, |h| h.controls as f64));
    out.push(rate(dh, prior));
    let oh = v.overseas;
    out.push(oh.map_or(0.0, |h| h.controls as f64));
    out.push(rate(oh, prior));
    let main = main_item(d);
    out.push(match d.overseas_party.as_ref().and_then(|p| p.country.as_deref()) {
        Some(c) => f64::from(u8::from(c == main.origin)),
        None => nan,
    });
    out.push(f64::from(u8::from(fx.is_some())));
    out.push(fx.map_or(nan, |m| m.ratio));
    out.push(fx.map_or(nan, |m| f64::from(u8::from(m.by_reference))));

    let (mut min_z, mut ref_n, mut vs_hs6, mut max_kg_z) = (nan, nan, nan, nan);
    let (mut goods, mut route, mut goods_controls) = (prior, prior, 0.0f64);
    let (mut ne_dep, mut hub) = (0.0, 0.0);
    let dep = d.country_of_departure.as_deref();
    for it in &v.items {
        let item = it.item;
        let uv = it.unit_value;
        let r = it.unit_value_ref.filter(|r| r.n >= 5).or_else(|| it.unit_value_hs6.filter(|r| r.n >= 5));
        if let Some(z) = r.and_then(|r| r.z)
            && (min_z.is_nan() || z < min_z)
        {
            min_z = z;
            ref_n = r.map_or(0.0, |r| r.n as f64);
        }
        if let Some(m) = it.unit_value_hs6.filter(|r| r.n >= 5).and_then(|r| r.median) {
            let x = (uv / m).ln();
            if vs_hs6.is_nan() || x < vs_hs6 {
                vs_hs6 = x;
            }
        }
        if item.net_weight_kg > 0.0
            && let Some(z) = it.kg_ref.filter(|r| r.n >= 5).and_then(|r| r.z)
            && (max_kg_z.is_nan() || z > max_kg_z)
        {
            max_kg_z = z;
        }
        let g = it.goods;
        goods = goods.max(rate(g, prior));
        goods_controls = goods_controls.max(g.map_or(0.0, |h| h.controls as f64));
        route = route.max(rate(it.route, prior));
        if dep.is_some_and(|dep| dep != item.origin) {
            ne_dep = 1.0;
            if dep.is_some_and(|dep| HUBS.contains(&dep)) {
                hub = 1.0;
            }
        }
    }
    let novelty = v.novelty();
    out.extend([
        min_z,
        ref_n,
        vs_hs6,
        max_kg_z,
        novelty.min_value_per_kg_z,
        goods,
        route,
        goods_controls,
        ne_dep,
        hub,
        f64::from(u8::from(novelty.new_hs6)),
        f64::from(u8::from(novelty.new_origin)),
    ]);
    out.push(main.hs_code[..2].parse::<f64>().unwrap_or(nan));
    out.push(main.duty_rate);
    out.push(f64::from(u8::from(d.documents.iter().any(|x| x.kind == "certificate_of_origin"))));
    out.push(rule_weight);
    out.push(rules_fired as f64);
    // Raw counts beside the smoothed rates: with few controls the trees can
    // tell "1 of 1" from "0 of 0" better than a rate shrunk to the prior.
    out.push(th.map_or(0.0, |h| h.findings as f64));
    out.push(dh.map_or(0.0, |h| h.findings as f64));
    out.push(oh.map_or(0.0, |h| h.findings as f64));
    out.push(v.items.iter().filter_map(|i| i.goods).map(|h| h.findings as f64).fold(0.0, f64::max));
    // Codes as numbers (label encoding): trees learn code-specific risk.
    out.push(main.hs_code[..6].parse::<f64>().unwrap_or(nan));
    out.push(main.hs_code[..4].parse::<f64>().unwrap_or(nan));
    out.push(code_number(&main.origin));
    out.push(dep.map_or(nan, code_number));
    out.push(main.net_weight_kg.ln_1p());
    out.push((main.value * v.rate / main.quantity).ln_1p());
    out.push(f64::from(d.declared_at.ordinal()));
    debug_assert_eq!(out.len(), FEATURES.len());
}

/// The item carrying most of the value: its goods describe the declaration.
fn main_item(d: &Declaration) -> &Item {
    d.items.iter().max_by(|a, b| a.value.total_cmp(&b.value)).expect("a declaration has at least one item")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, EngineConfig};

    fn decl() -> Declaration {
        Declaration::from_json(&serde_json::json!({
            "id": "D1", "declared_at": "2026-03-10T09:00:00+08:00", "direction": "import", "office": "2201",
            "transport_mode": "sea", "trade_mode": "0110", "trader": {"id": "T1"}, "declarant": {"id": "B1"},
            "currency": "USD", "attributes": {"tax_type": "FEU1", "use": 21},
            "items": [{"line": 1, "hs_code": "851713", "origin": "VN", "quantity": 10, "net_weight_kg": 1.0,
                       "value": 1000.0, "duty_rate": 0.05}]
        }))
        .unwrap()
    }

    /// A layout picks each named input from the engine's vector or the
    /// attributes, in the model's order; unknown names are refused.
    #[test]
    fn layout_gathers_named_inputs_in_model_order() {
        let d = decl();
        let mut engine = Engine::new(EngineConfig::default());
        let input = engine.score_input(&d);
        let mut full = Vec::new();
        features(&input, &mut full);
        let attrs = vec!["use".to_string(), "tax_type".to_string()];

        // The full layout (engine features then attributes) is the engine's vector as it is.
        let identity = FeatureLayout::from_names(&feature_names(&attrs)).unwrap();
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        identity.fill(&input, &mut scratch, &mut out);
        let mut expected = full.clone();
        attribute_features(&d, &attrs, &mut expected);
        assert_eq!(out.len(), expected.len());
        assert!(out.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits()));

        // A subset, reordered, with an attribute in the middle.
        let names: Vec<String> =
            ["log_value_cny", "attr:use", "max_duty_rate", "item_count"].iter().map(|s| s.to_string()).collect();
        let subset = FeatureLayout::from_names(&names).unwrap();
        assert_eq!(subset.names(), names);
        subset.fill(&input, &mut scratch, &mut out);
        let at = |n: &str| full[FEATURES.iter().position(|f| *f == n).unwrap()];
        assert_eq!(out, vec![at("log_value_cny"), 21.0, at("max_duty_rate"), at("item_count")]);
        assert_eq!(subset.name(1), "attr:use");
        assert_eq!(subset.name(2), "max_duty_rate");

        assert_eq!(FeatureLayout::from_names(&["no_such_feature".to_string()]), Err("no_such_feature".to_string()));
    }

    #[test]
    fn excluded_prefixes_leave_attributes_alone() {
        let attrs = vec!["trader_note".to_string()];
        let names = selected_names(&attrs, &["trader_".to_string(), "day_of_year".to_string()]);
        assert!(!names.iter().any(|n| n.starts_with("trader_") || n == "day_of_year"));
        assert_eq!(names.last().map(String::as_str), Some("attr:trader_note"));
        let dropped = FEATURES.iter().filter(|f| f.starts_with("trader_") || **f == "day_of_year").count();
        assert_eq!(names.len(), FEATURES.len() - dropped + 1);
    }
}

/// Inputs every scorer sees: the declaration's derived view (which also
/// gives `declaration`, `context` and `forex` as fields, through `Deref`)
/// and the active rules that fired on it. The model's feature vector is
/// derived from them on first use and kept, so that a learned scorer and a
/// learned shadow share it.
#[derive(Debug)]
pub struct ScoreInput<'a> {
    pub view: View<'a>,
    /// The active rules that fired: their combined weight 1 − Π(1 − wᵢ)
    /// and their number.
    pub rule_weight: f64,
    pub rules_fired: usize,
    features: OnceCell<Vec<f64>>,
}

impl<'a> ScoreInput<'a> {
    pub fn new(view: View<'a>, rule_weight: f64, rules_fired: usize) -> Self {
        ScoreInput { view, rule_weight, rules_fired, features: OnceCell::new() }
    }

    /// The engine's feature vector (`features::FEATURES` order), derived once.
    pub fn features(&self) -> &[f64] {
        self.features.get_or_init(|| {
            let mut out = Vec::with_capacity(FEATURES.len());
            features_of(&self.view, self.rule_weight, self.rules_fired, &mut out);
            out
        })
    }
}

impl<'a> std::ops::Deref for ScoreInput<'a> {
    type Target = View<'a>;
    fn deref(&self) -> &View<'a> {
        &self.view
    }
}
