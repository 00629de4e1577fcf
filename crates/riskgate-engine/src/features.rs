//! The one place where a declaration and its context become a numeric
//! feature vector for the learned model. Everything here is known at the
//! declaration's own time (the context never holds later outcomes when the
//! caller replays in time order), so training is leak-free.

use chrono::{Datelike, Timelike};
use riskgate_core::{CreditClass, Declaration, Direction, Item, TransportMode};

use crate::context::{History, put_ref_key, put_route_key};
use crate::scorer::{PRIOR_STRENGTH, ScoreInput};

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

/// The attribute keys of a model's feature names, if its names are the
/// engine's features followed by attribute features.
pub fn attribute_keys(names: &[String]) -> Option<Vec<String>> {
    if names.len() < FEATURES.len() || names.iter().zip(FEATURES).any(|(a, b)| a != b) {
        return None;
    }
    names[FEATURES.len()..].iter().map(|n| n.strip_prefix(ATTRIBUTE_PREFIX).map(str::to_string)).collect()
}

/// Appends one value per attribute key: numbers as they are, codes as
/// numbers (see `code_number`), missing as NaN.
pub fn attribute_features(d: &Declaration, keys: &[String], out: &mut Vec<f64>) {
    for k in keys {
        out.push(match d.attributes.get(k) {
            Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            Some(serde_json::Value::String(s)) if !s.is_empty() => code_number(s),
            Some(serde_json::Value::Bool(b)) => f64::from(u8::from(*b)),
            _ => f64::NAN,
        });
    }
}

/// Fills `out` with the feature vector of `d` (in `FEATURES` order).
pub fn features(input: &ScoreInput<'_>, out: &mut Vec<f64>) {
    let (d, ctx, fx) = (input.declaration, input.context, input.forex);
    out.clear();
    let prior = ctx.base_rate();
    let nan = f64::NAN;
    let rate_cny = d.rate();
    let value = d.total_value_cny();
    out.push((1.0 + value).ln());
    out.push((1.0 + d.declared_duty_cny()).ln());
    out.push(d.items.len() as f64);
    out.push(d.items.iter().map(|i| i.duty_rate).fold(0.0, f64::max));
    out.push(f64::from(u8::from(d.direction == Direction::Import)));
    out.push(TransportMode::ALL.iter().position(|(_, m)| *m == d.transport_mode).unwrap_or(5) as f64);
    out.push(code_number(&d.trade_mode));
    out.push(code_number(&d.office));
    out.push(f64::from(d.declared_at.hour()));
    out.push(f64::from(d.declared_at.weekday().number_from_monday()));
    out.push(f64::from(u8::from(d.currency != "CNY")));
    let ent = ctx.enterprises.get(&d.trader.id);
    out.push(match ent.map(|e| e.credit_class) {
        Some(CreditClass::Advanced) => 0.0,
        Some(CreditClass::General) => 1.0,
        Some(CreditClass::Ordinary) => 2.0,
        Some(CreditClass::Dishonest) => 3.0,
        None => nan,
    });
    out.push(f64::from(u8::from(ent.is_some())));
    out.push(ent.and_then(|e| e.registered_capital_cny).map_or(nan, |c| (1.0 + c).ln()));
    out.push(ctx.trader_age_days(&d.trader.id, d.declared_at).unwrap_or(nan));
    let th = ctx.traders.get(&d.trader.id);
    out.push(th.map_or(0.0, |h| h.declarations as f64));
    out.push(th.map_or(0.0, |h| h.recent));
    out.push(th.map_or(0.0, |h| h.controls as f64));
    out.push(rate(th, prior));
    out.push(th.filter(|h| h.controls > 0).map_or(nan, |h| h.revenue_cny / h.controls as f64));
    out.push(th.map_or(nan, |h| (d.declared_at.timestamp() - h.first_seen) as f64 / 86_400.0));
    let dh = ctx.declarants.get(&d.declarant.id);
    out.push(dh.map_or(0.0, |h| h.declarations as f64));
    out.push(dh.map_or(0.0, |h| h.controls as f64));
    out.push(rate(dh, prior));
    let oh = d.overseas_party.as_ref().and_then(|p| ctx.overseas.get(&p.id));
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

    let mut key = String::with_capacity(40);
    let (mut min_z, mut ref_n, mut vs_hs6, mut max_kg_z, mut min_vpk_z) = (nan, nan, nan, nan, nan);
    let (mut goods, mut route, mut goods_controls) = (prior, prior, 0.0f64);
    let (mut ne_dep, mut hub, mut new_hs, mut new_origin) = (0.0, 0.0, 0.0, 0.0);
    let dep = d.country_of_departure.as_deref();
    for item in &d.items {
        let hs6 = item.hs6();
        let v = item.value * rate_cny;
        let uv = v / item.quantity;
        let exact = ctx.unit_value.get(put_ref_key(&mut key, hs6, &item.origin)).filter(|r| r.n >= 5);
        let r = exact.or_else(|| ctx.unit_value_hs6.get(hs6).filter(|r| r.n >= 5));
        if let Some(z) = r.and_then(|r| r.z(uv))
            && (min_z.is_nan() || z < min_z)
        {
            min_z = z;
            ref_n = r.map_or(0.0, |r| r.n as f64);
        }
        if let Some(m) = ctx.unit_value_hs6.get(hs6).filter(|r| r.n >= 5).and_then(|r| r.median()) {
            let x = (uv / m).ln();
            if vs_hs6.is_nan() || x < vs_hs6 {
                vs_hs6 = x;
            }
        }
        if item.net_weight_kg > 0.0 {
            if let Some(z) =
                ctx.kg_per_unit.get(hs6).filter(|r| r.n >= 5).and_then(|r| r.z(item.net_weight_kg / item.quantity))
                && (max_kg_z.is_nan() || z > max_kg_z)
            {
                max_kg_z = z;
            }
            if let Some(z) = ctx.value_per_kg.get(hs6).filter(|r| r.n >= 5).and_then(|r| r.z(v / item.net_weight_kg))
                && (min_vpk_z.is_nan() || z < min_vpk_z)
            {
                min_vpk_z = z;
            }
        }
        let g = ctx.goods.get(hs6);
        goods = goods.max(rate(g, prior));
        goods_controls = goods_controls.max(g.map_or(0.0, |h| h.controls as f64));
        route = route.max(rate(ctx.routes.get(put_route_key(&mut key, d, &item.origin)), prior));
        if dep.is_some_and(|dep| dep != item.origin) {
            ne_dep = 1.0;
            if dep.is_some_and(|dep| HUBS.contains(&dep)) {
                hub = 1.0;
            }
        }
        if ctx.pair_count(&mut key, &d.trader.id, "h", hs6) == 0 {
            new_hs = 1.0;
        }
        if ctx.pair_count(&mut key, &d.trader.id, "o", &item.origin) == 0 {
            new_origin = 1.0;
        }
    }
    out.extend([
        min_z,
        ref_n,
        vs_hs6,
        max_kg_z,
        min_vpk_z,
        goods,
        route,
        goods_controls,
        ne_dep,
        hub,
        new_hs,
        new_origin,
    ]);
    out.push(main.hs_code[..2].parse::<f64>().unwrap_or(nan));
    out.push(main.duty_rate);
    out.push(f64::from(u8::from(d.documents.iter().any(|x| x.kind == "certificate_of_origin"))));
    out.push(input.rule_weight);
    out.push(input.rules_fired as f64);
    // Raw counts beside the smoothed rates: with few controls the trees can
    // tell "1 of 1" from "0 of 0" better than a rate shrunk to the prior.
    out.push(th.map_or(0.0, |h| h.findings as f64));
    out.push(dh.map_or(0.0, |h| h.findings as f64));
    out.push(oh.map_or(0.0, |h| h.findings as f64));
    out.push(d.items.iter().filter_map(|i| ctx.goods.get(i.hs6())).map(|h| h.findings as f64).fold(0.0, f64::max));
    // Codes as numbers (label encoding): trees learn code-specific risk.
    out.push(main.hs_code[..6].parse::<f64>().unwrap_or(nan));
    out.push(main.hs_code[..4].parse::<f64>().unwrap_or(nan));
    out.push(code_number(&main.origin));
    out.push(dep.map_or(nan, code_number));
    out.push(main.net_weight_kg.ln_1p());
    out.push((main.value * rate_cny / main.quantity).ln_1p());
    out.push(f64::from(d.declared_at.ordinal()));
    debug_assert_eq!(out.len(), FEATURES.len());
}

/// The item carrying most of the value: its goods describe the declaration.
fn main_item(d: &Declaration) -> &Item {
    d.items.iter().max_by(|a, b| a.value.total_cmp(&b.value)).expect("a declaration has at least one item")
}
