//! One declaration of the synthetic traffic: who declares what through which
//! office, whether and how it is fraudulent (planted risk), and the records
//! that follow from it (forex payments, VAT invoices, legacy controls).

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat};
use riskgate_core::rng::Rng;
use serde_json::{Map, Value, json};

use crate::catalogue::{self, MODES};
use crate::collusion::Collusion;
use crate::outcome::{Lane, Truth, round2, simulate_control};
use crate::world::{EXPORT_DESTINATIONS, World, pick_cum};
use riskgate_core::CreditClass;

/// Kinds of planted fraud, in DATA.md finding words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Undervaluation,
    Misclassification,
    Origin,
    Quantity,
    Smuggling,
}

pub(crate) const KINDS: [Kind; 5] =
    [Kind::Undervaluation, Kind::Misclassification, Kind::Origin, Kind::Quantity, Kind::Smuggling];

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Undervaluation => "undervaluation",
            Kind::Misclassification => "misclassification",
            Kind::Origin => "origin",
            Kind::Quantity => "quantity",
            Kind::Smuggling => "smuggling",
        }
    }
    fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// Chapters the legacy (pre-riskgate) targeting looked at: meat, fish, drinks,
/// tobacco, cosmetics, leather goods, apparel, shoes, vehicles, watches.
const LEGACY_CHAPTERS: &[&str] = &["02", "03", "22", "24", "33", "42", "61", "62", "64", "87", "91"];

/// CNY per USD: all internal values are USD, converted at the edge.
const USD_CNY: f64 = 7.10;
const VAT: f64 = 0.13;

/// The drivers of one declaration, drawn before any value is built, so that
/// calibration can sample them cheaply.
pub(crate) struct Context {
    pub office: usize,
    pub trader: usize,
    pub declarant: usize,
    pub import: bool,
    pub mode: usize,
    pub trade_mode: &'static str,
    pub main_goods: usize,
    pub origin: &'static str,
    pub party: usize,
    pub departure: &'static str,
}

fn land_neighbour(district: &str) -> &'static str {
    match district {
        "7200" => "VN",
        "0100" => "MN",
        _ => "HK",
    }
}

const ORIGIN_WEIGHTS: [f64; 6] = [1.0, 0.8, 0.6, 0.45, 0.35, 0.3];

fn pick_origin(r: &mut Rng, origins: &'static [&'static str]) -> &'static str {
    origins[r.weighted(&ORIGIN_WEIGHTS[..origins.len().min(6)])]
}

pub(crate) fn draw_context(w: &World, office: usize, r: &mut Rng) -> Context {
    let trader = pick_cum(r, &w.trader_cum_by_office[office]);
    let t = &w.traders[trader];
    let o = &w.offices[office];
    let risky_trader = t.bad || t.credit == CreditClass::Dishonest;
    let mode = r.weighted(&o.modes);
    let import = r.chance(t.import_share);
    let trade_mode = if MODES[mode] == "post" {
        if r.chance(0.8) { "9610" } else { "0110" }
    } else {
        ["0110", "0615", "9610", "1210", "0214"][r.weighted(&[0.78, 0.09, 0.03, 0.04, 0.06])]
    };
    let declarant = if r.chance(0.85) {
        t.declarants[0]
    } else if r.chance(0.7) {
        t.declarants[1]
    } else {
        r.below(w.declarants.len() as u64) as usize
    };
    let mut main_goods = t.goods[pick_cum(r, &t.goods_cum)];
    // Bulk goods rarely fly or go by post.
    for _ in 0..3 {
        let g = &w.goods[main_goods];
        if !matches!(MODES[mode], "air" | "post") || g.unit_value_usd / g.kg_per_unit >= 3.0 {
            break;
        }
        main_goods = t.goods[pick_cum(r, &t.goods_cum)];
    }
    let g = &w.goods[main_goods];
    let origin = if import { pick_origin(r, g.origins) } else { "CN" };
    let country = if import {
        origin
    } else {
        let weights: Vec<f64> = EXPORT_DESTINATIONS.iter().map(|(_, w)| *w).collect();
        EXPORT_DESTINATIONS[r.weighted(&weights)].0
    };
    let pool = &w.parties_by_country[country];
    let party = if risky_trader && r.chance(0.25) {
        let shady: Vec<usize> = pool.iter().copied().filter(|&p| w.parties[p].shady).collect();
        if shady.is_empty() { *r.pick(pool) } else { *r.pick(&shady) }
    } else if r.chance(0.85) {
        pool[(trader + r.below(2) as usize) % pool.len()]
    } else {
        *r.pick(pool)
    };
    let departure = if !import {
        "CN"
    } else if matches!(MODES[mode], "road" | "rail") {
        land_neighbour(o.district)
    } else {
        let via_hub = if risky_trader { 0.35 } else { 0.18 };
        if r.chance(via_hub) {
            let hub = *r.pick(&catalogue::HUBS);
            if hub == origin { "HK" } else { hub }
        } else {
            origin
        }
    };
    Context { office, trader, declarant, import, mode, trade_mode, main_goods, origin, party, departure }
}

/// Unscaled fraud propensity of a declaration from its drivers.
pub(crate) fn fraud_weight(w: &World, c: &Context) -> f64 {
    let t = &w.traders[c.trader];
    let mut p = t.propensity;
    p *= if w.declarants[c.declarant].complicit { 3.0 } else { 0.9 };
    p *= if w.parties[c.party].shady { 3.0 } else { 0.95 };
    p *= w.goods[c.main_goods].risk;
    if c.import && c.departure != c.origin && matches!(MODES[c.mode], "sea" | "air") {
        p *= 1.5;
    }
    if !c.import {
        p *= 0.3;
    }
    p
}

/// Unscaled chance that the legacy process controlled it: crude criteria only.
pub(crate) fn legacy_weight(w: &World, c: &Context) -> f64 {
    let t = &w.traders[c.trader];
    let g = &w.goods[c.main_goods];
    let mut s = 1.0;
    if g.duty >= 0.10 {
        s += 3.0;
    }
    if t.credit == CreditClass::Dishonest {
        s += 4.0;
    }
    if LEGACY_CHAPTERS.contains(&g.chapter()) {
        s += 2.0;
    }
    if t.new {
        s += 1.0;
    }
    if t.credit == CreditClass::Advanced {
        s *= 0.2;
    }
    s
}

pub(crate) const FRAUD_CAP: f64 = 0.35;
pub(crate) const LEGACY_CAP: f64 = 0.7;
/// Share of history declarations the legacy process controlled at random.
pub const LEGACY_RANDOM_RATE: f64 = 0.01;
const LEGACY_NOISE_SIGMA: f64 = 0.6;

/// The factor k with mean(min(k * w, cap)) = target over the sampled weights.
pub(crate) fn calibrate(weights: &[f64], target: f64, cap: f64) -> f64 {
    if weights.is_empty() {
        return 1.0;
    }
    let mean = |k: f64| weights.iter().map(|w| (k * w).min(cap)).sum::<f64>() / weights.len() as f64;
    let (mut lo, mut hi) = (0.0, 1.0);
    while mean(hi) < target && hi < 1e9 {
        hi *= 2.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if mean(mid) < target { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// Sampled legacy weight including its noise, for calibration.
pub(crate) fn legacy_weight_noisy(w: &World, c: &Context, r: &mut Rng) -> f64 {
    legacy_weight(w, c) * r.lognormal(1.0, LEGACY_NOISE_SIGMA)
}

struct Line {
    goods: usize,
    declared_goods: usize,
    origin: &'static str,
    declared_origin: &'static str,
    quantity: f64,
    declared_quantity: f64,
    net_weight_kg: f64,
    value_usd: f64,
    declared_value_usd: f64,
}

/// Everything one declaration contributes to the world's files.
pub(crate) struct Generated {
    pub declaration: Value,
    pub truth: Value,
    pub kind: Option<Kind>,
    pub forex: Vec<Value>,
    pub invoice: Option<Value>,
    pub outcome: Option<(Value, bool)>,
}

pub(crate) struct Scales {
    pub fraud: f64,
    pub legacy: f64,
    /// Post-release fraud relative to the fraud planted at the border
    /// (`WorldConfig::post_release`).
    pub post_release: f64,
}

/// Per-declaration random streams, one per concern, keyed by the declaration
/// id so that changing one concern does not reshuffle the others.
fn stream(seed: u64, concern: u64, id: &str) -> Rng {
    Rng::new(riskgate_core::rng::stable_hash(seed ^ concern.wrapping_mul(0xA076_1D64_78BD_642F), id))
}

fn effective_duty(duty: f64, origin: &str, certificate: bool) -> f64 {
    let f = if certificate { catalogue::preferential_factor(origin).unwrap_or(1.0) } else { 1.0 };
    (duty * f * 1000.0).round() / 1000.0
}

/// Import duty plus import VAT on a value in CNY.
fn import_tax(value_cny: f64, duty: f64) -> f64 {
    value_cny * duty + value_cny * (1.0 + duty) * VAT
}

fn time(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn generate_declaration(
    w: &World,
    seed: u64,
    scales: &Scales,
    id: &str,
    serial: u64,
    declared_at: DateTime<FixedOffset>,
    office: usize,
    history: bool,
    collusion: &Collusion,
) -> Generated {
    let mut r = stream(seed, 1, id);
    let c = draw_context(w, office, &mut r);
    let t = &w.traders[c.trader];
    let mode = MODES[c.mode];
    let party = &w.parties[c.party];
    let year = declared_at.format("%Y").to_string();

    // Lines at their true values.
    let n_lines = (1 + r.weighted(&[0.48, 0.26, 0.11, 0.07, 0.05, 0.03])).min(t.goods.len());
    let median_usd = match (mode, c.trade_mode) {
        ("post", _) => 250.0,
        (_, "9610") => 400.0,
        ("sea", _) => 45_000.0,
        ("air", _) => 12_000.0,
        ("rail", _) => 35_000.0,
        _ => 15_000.0,
    };
    let total_usd = r.lognormal(median_usd, 1.0);
    let shares: Vec<f64> = (0..n_lines).map(|_| r.lognormal(1.0, 0.6)).collect();
    let share_sum: f64 = shares.iter().sum();
    let mut lines: Vec<Line> = Vec::with_capacity(n_lines);
    for (k, share) in shares.iter().enumerate() {
        // Distinct codes per declaration: the trader's goods not yet on a line.
        let goods = if k == 0 {
            c.main_goods
        } else {
            let mut g = t.goods[pick_cum(&mut r, &t.goods_cum)];
            if lines.iter().any(|l| l.goods == g) {
                g = *t.goods.iter().find(|&&x| lines.iter().all(|l| l.goods != x)).unwrap_or(&g);
            }
            g
        };
        let g = &w.goods[goods];
        let origin = if !c.import {
            "CN"
        } else if k == 0 || (r.chance(0.8) && g.origins.contains(&c.origin)) {
            c.origin
        } else {
            pick_origin(&mut r, g.origins)
        };
        let sigma = if matches!(g.unit, "千克" | "升") { 0.3 } else { 0.45 };
        let unit_price = g.unit_value_usd * t.price_level * r.lognormal(1.0, sigma);
        let quantity = (total_usd * share / share_sum / unit_price).round().max(1.0);
        let value_usd = round2(quantity * unit_price);
        let net_weight_kg = ((quantity * g.kg_per_unit * r.lognormal(1.0, 0.08)) * 10.0).round().max(1.0) / 10.0;
        lines.push(Line {
            goods,
            declared_goods: goods,
            origin,
            declared_origin: origin,
            quantity,
            declared_quantity: quantity,
            net_weight_kg,
            value_usd,
            declared_value_usd: value_usd,
        });
    }

    // Currency and documents.
    let currency = match catalogue::local_currency(party.country) {
        Some(local) if r.chance(0.4) => local,
        _ if c.office_in_hk_corridor(w) && r.chance(0.15) => "HKD",
        _ => {
            if r.chance(0.93) {
                "USD"
            } else {
                "CNY"
            }
        }
    };
    let incoterm = if c.import {
        ["CIF", "FOB", "CFR", "EXW", "DAP"][r.weighted(&[0.5, 0.3, 0.1, 0.05, 0.05])]
    } else {
        ["FOB", "CIF", "EXW", "FCA"][r.weighted(&[0.65, 0.2, 0.05, 0.1])]
    };
    let mut certificate =
        c.import && if catalogue::preferential_factor(c.origin).is_some() { r.chance(0.85) } else { r.chance(0.25) };
    let packing_list = r.chance(0.6);
    let mut departure = c.departure;

    // Planted fraud.
    let mut f = stream(seed, 2, id);
    let p = (scales.fraud * fraud_weight(w, &c)).min(FRAUD_CAP);
    let fraudulent = f.uniform() < p;
    let target = (0..lines.len())
        .max_by(|&a, &b| lines[a].value_usd.total_cmp(&lines[b].value_usd).then(b.cmp(&a)))
        .unwrap_or(0);
    let mut kind = None;
    let mut evaded_cny = 0.0;
    if fraudulent {
        let l = &lines[target];
        let g = &w.goods[l.goods];
        let eff_true = effective_duty(g.duty, l.origin, certificate);
        let mc_ok = g
            .lower_duty_alternatives
            .iter()
            .any(|&a| effective_duty(w.goods[a].duty, l.origin, certificate) < eff_true - 0.005);
        let origin_ok = catalogue::preferential_factor(l.origin).is_none() && g.duty >= 0.03;
        let complicit = w.declarants[c.declarant].complicit;
        let mut weights = [0.40, 0.34, 0.28, 0.13, 0.06];
        if complicit {
            weights[Kind::Misclassification.index()] *= 2.0;
        }
        if party.shady {
            weights[Kind::Origin.index()] *= 1.5;
            weights[Kind::Smuggling.index()] *= 1.5;
        }
        if t.new {
            weights[Kind::Smuggling.index()] *= 3.0;
        }
        if !c.import {
            weights[Kind::Undervaluation.index()] = 0.0;
            weights[Kind::Origin.index()] = 0.0;
            weights[Kind::Misclassification.index()] = 0.0;
        }
        if !mc_ok {
            weights[Kind::Misclassification.index()] = 0.0;
        }
        if !origin_ok || !c.import {
            weights[Kind::Origin.index()] = 0.0;
        }
        if l.quantity < 3.0 {
            weights[Kind::Quantity.index()] = 0.0;
        }
        let k = KINDS[f.weighted(&weights)];
        kind = Some(k);
        let rate_true = effective_duty(g.duty, l.origin, certificate);
        let true_cny = lines[target].value_usd * USD_CNY;
        let l = &mut lines[target];
        match k {
            Kind::Undervaluation => {
                l.declared_value_usd = round2(l.value_usd * f.range(0.3, 0.75));
                let decl_cny = l.declared_value_usd * USD_CNY;
                evaded_cny = import_tax(true_cny, rate_true) - import_tax(decl_cny, rate_true);
            }
            Kind::Misclassification => {
                let alts: Vec<usize> = g
                    .lower_duty_alternatives
                    .iter()
                    .copied()
                    .filter(|&a| effective_duty(w.goods[a].duty, l.origin, certificate) < eff_true - 0.005)
                    .collect();
                l.declared_goods = *f.pick(&alts);
                let rate_decl = effective_duty(w.goods[l.declared_goods].duty, l.origin, certificate);
                evaded_cny = import_tax(true_cny, rate_true) - import_tax(true_cny, rate_decl);
            }
            Kind::Origin => {
                let declared = ["VN", "MY", "SG", "TH", "KR"][f.weighted(&[0.3, 0.25, 0.2, 0.15, 0.1])];
                l.declared_origin = declared;
                certificate = true;
                departure = if catalogue::HUBS.contains(&declared) { declared } else { "HK" };
                let rate_decl = effective_duty(g.duty, declared, true);
                evaded_cny = import_tax(true_cny, g.duty) - import_tax(true_cny, rate_decl);
            }
            Kind::Quantity => {
                let unit_price = l.value_usd / l.quantity;
                l.declared_quantity = (l.quantity * f.range(0.4, 0.8)).round().clamp(1.0, l.quantity - 1.0);
                l.declared_value_usd = round2(l.declared_quantity * unit_price);
                let hidden_cny = (l.value_usd - l.declared_value_usd) * USD_CNY;
                evaded_cny = if c.import { import_tax(hidden_cny, rate_true) } else { hidden_cny * 0.09 };
            }
            Kind::Smuggling => {
                l.declared_value_usd = round2(l.value_usd * f.range(0.4, 0.8));
                l.net_weight_kg = (l.net_weight_kg * f.range(1.5, 3.0) * 10.0).round() / 10.0;
                let hidden_cny = true_cny * f.range(1.0, 4.0);
                let cut_cny = (l.value_usd - l.declared_value_usd) * USD_CNY;
                evaded_cny = if c.import {
                    hidden_cny * (0.2 + 1.2 * VAT) + import_tax(cut_cny, rate_true)
                } else {
                    (hidden_cny + cut_cny) * 0.09
                };
                certificate = false;
                if c.import && departure == c.origin && matches!(mode, "sea" | "air") && f.chance(0.6) {
                    let hub = *f.pick(&catalogue::HUBS);
                    departure = if hub == c.origin { "HK" } else { hub };
                }
            }
        }
        evaded_cny = round2(evaded_cny.max(0.01));
    }

    // Post-release fraud (issue 12): royalties or licence fees for the
    // goods (特许权使用费) paid abroad after release and left out of the
    // customs value. Goods and papers agree at the border; only an audit of
    // the payments finds it. Same drivers as the fraud above.
    let mut royalty: Option<(f64, i64, bool)> = None;
    if kind.is_none() && c.import && scales.post_release > 0.0 {
        let mut pr = stream(seed, 6, id);
        if pr.uniform() < (scales.post_release * p).min(FRAUD_CAP) {
            let l = &lines[target];
            let rate = effective_duty(w.goods[l.goods].duty, l.origin, certificate);
            let royalty_cny = l.value_usd * USD_CNY * pr.range(0.25, 0.8);
            evaded_cny = round2(import_tax(royalty_cny, rate).max(0.01));
            royalty = Some((royalty_cny, 20 + pr.below(61) as i64, pr.chance(0.5)));
        }
    }

    // The declaration as declared.
    let to_ccy = USD_CNY / catalogue::cny_per_unit(currency);
    let items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let g = &w.goods[l.declared_goods];
            let duty = if c.import { effective_duty(g.duty, l.declared_origin, certificate) } else { 0.0 };
            json!({
                "line": k + 1,
                "hs_code": g.code,
                "description": g.description,
                "origin": l.declared_origin,
                "quantity": number(l.declared_quantity),
                "unit": g.unit,
                "net_weight_kg": l.net_weight_kg,
                "value": round2(l.declared_value_usd * to_ccy),
                "duty_rate": duty,
            })
        })
        .collect();
    let invoice_id = format!("INV-{year}-{:07}", (serial.wrapping_mul(7919) + 104_729) % 10_000_000);
    let mut documents = vec![json!({"kind": "invoice", "id": invoice_id})];
    if certificate {
        let origin = lines[target].declared_origin;
        documents.push(json!({"kind": "certificate_of_origin",
            "id": format!("CO-{origin}-{:07}", (serial.wrapping_mul(6151) + 31) % 10_000_000)}));
    }
    if packing_list {
        documents.push(json!({"kind": "packing_list", "id": format!("PL-{year}-{:07}", (serial.wrapping_mul(3571) + 7) % 10_000_000)}));
    }
    let declarant = &w.declarants[c.declarant];
    let declaration = json!({
        "id": id,
        "declared_at": time(declared_at),
        "direction": if c.import { "import" } else { "export" },
        "office": w.offices[office].code,
        "transport_mode": mode,
        "trade_mode": c.trade_mode,
        "trader": {"id": t.id, "name": t.name},
        "declarant": {"id": declarant.id, "name": declarant.name},
        "overseas_party": {"id": party.id, "name": party.name, "country": party.country},
        "country_of_departure": departure,
        "incoterm": incoterm,
        "currency": currency,
        "items": items,
        "documents": documents,
        "attributes": Map::new(),
    });

    let mut kinds: Vec<String> = kind.iter().map(|k| k.as_str().to_string()).collect();
    if royalty.is_some() {
        kinds.push("undervaluation".into());
    }
    let mut truth = json!({
        "declaration_id": id,
        "office": w.offices[office].code,
        "fraud": kind.is_some() || royalty.is_some(),
        "kinds": kinds,
        "evaded_duty_cny": evaded_cny,
        "smuggling": kind == Some(Kind::Smuggling),
        "trader": t.id,
        "declarant": declarant.id,
    });

    if royalty.is_some() {
        truth["post_release"] = Value::from(true);
    }

    // Money flow: the trader pays the true value (smugglers pay only for what they declare).
    let mut forex = Vec::new();
    let mut m = stream(seed, 3, id);
    if c.import && m.chance(if fraudulent { 0.55 } else { 0.7 }) {
        let paid_usd: f64 =
            lines.iter().map(|l| if kind == Some(Kind::Smuggling) { l.declared_value_usd } else { l.value_usd }).sum();
        let pay_ccy = if currency != "CNY" && m.chance(0.75) { currency } else { "USD" };
        let amount = paid_usd * USD_CNY / catalogue::cny_per_unit(pay_ccy);
        let with_reference = m.chance(if fraudulent { 0.5 } else { 0.8 });
        let parts: &[f64] = if m.chance(0.1) { &[0.3, 0.7] } else { &[1.0] };
        let district = w.offices[t.home_office].district;
        let bank = format!("{}{}分行", m.pick(catalogue::BANKS), catalogue::district_city(district));
        for part in parts {
            let days = m.range(-30.0, 60.0).floor() as i64;
            let secs = (9.0 * 3600.0 + m.range(0.0, 8.0 * 3600.0)) as i64;
            let day_start = declared_at - Duration::seconds(seconds_of_day(declared_at));
            let paid_at = day_start + Duration::days(days) + Duration::seconds(secs);
            let mut p = json!({"trader": t.id, "paid_at": time(paid_at), "amount": round2(amount * part),
                               "currency": pay_ccy, "bank": bank});
            if with_reference {
                p["reference"] = Value::from(invoice_id.clone());
            }
            forex.push(p);
        }
    }
    if let Some((royalty_cny, days, with_reference)) = royalty {
        // The royalty leaves weeks after release, half the time quoting the invoice.
        let mut pr = stream(seed, 7, id);
        let day_start = declared_at - Duration::seconds(seconds_of_day(declared_at));
        let paid_at =
            day_start + Duration::days(days) + Duration::seconds((9.0 * 3600.0 + pr.range(0.0, 8.0 * 3600.0)) as i64);
        let district = w.offices[t.home_office].district;
        let bank = format!("{}{}分行", pr.pick(catalogue::BANKS), catalogue::district_city(district));
        let mut p = json!({"trader": t.id, "paid_at": time(paid_at), "amount": round2(royalty_cny / USD_CNY),
                           "currency": "USD", "bank": bank});
        if with_reference {
            p["reference"] = Value::from(invoice_id.clone());
        }
        forex.push(p);
    }

    // Tax administration: the importer's domestic resale, under the true code.
    let mut v = stream(seed, 4, id);
    let invoice = (c.import && c.trade_mode == "0110" && v.chance(0.25)).then(|| {
        let l = &lines[target];
        let day_start = declared_at - Duration::seconds(seconds_of_day(declared_at));
        let issued_at = day_start
            + Duration::days(5 + v.below(85) as i64)
            + Duration::seconds((8.5 * 3600.0 + v.range(0.0, 9.0 * 3600.0)) as i64);
        json!({"trader": t.id, "issued_at": time(issued_at),
               "amount_cny": round2(l.value_usd * USD_CNY * v.range(1.15, 1.6)),
               "hs_code": w.goods[l.goods].code})
    });

    // What the legacy process controlled, and what its officers found.
    let outcome = if history {
        let mut lr = stream(seed, 5, id);
        let random = lr.uniform() < LEGACY_RANDOM_RATE;
        let crude = legacy_weight_noisy(w, &c, &mut lr);
        let targeted = lr.uniform() < (scales.legacy * crude).min(LEGACY_CAP);
        (random || targeted).then(|| {
            let lane = if lr.chance(if random { 0.5 } else { 0.4 }) { Lane::Red } else { Lane::Yellow };
            let decided_at = declared_at + Duration::seconds(lr.range(120.0, 1800.0) as i64);
            let truth = Truth {
                declaration_id: id.to_string(),
                office: w.offices[office].code.to_string(),
                fraud: kind.is_some() || royalty.is_some(),
                kinds: kinds.clone(),
                evaded_duty_cny: evaded_cny,
                smuggling: kind == Some(Kind::Smuggling),
                trader: Some(t.id.clone()),
                post_release: royalty.is_some(),
            };
            let mut o =
                simulate_control(seed, &truth, lane, decided_at, &w.offices[office].control_officers, collusion);
            o["attributes"] = json!({"legacy_random": random});
            (o, random)
        })
    } else {
        None
    };

    Generated { declaration, truth, kind, forex, invoice, outcome }
}

/// Whole quantities as JSON integers, others as decimals.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 { Value::from(x as i64) } else { Value::from(x) }
}

fn seconds_of_day(t: DateTime<FixedOffset>) -> i64 {
    use chrono::Timelike;
    i64::from(t.num_seconds_from_midnight())
}

impl Context {
    fn office_in_hk_corridor(&self, w: &World) -> bool {
        w.offices[self.office].district == "5300"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_hits_the_target_under_the_cap() {
        let weights: Vec<f64> = (0..1000).map(|i| if i < 10 { 50.0 } else { 1.0 }).collect();
        let k = calibrate(&weights, 0.025, 0.6);
        let mean = weights.iter().map(|w| (k * w).min(0.6)).sum::<f64>() / 1000.0;
        assert!((mean - 0.025).abs() < 1e-9, "{mean}");
    }

    #[test]
    fn import_tax_includes_vat_on_duty_paid_value() {
        assert!((import_tax(100.0, 0.1) - (10.0 + 110.0 * 0.13)).abs() < 1e-9);
        assert_eq!(effective_duty(0.1, "VN", true), 0.0);
        assert_eq!(effective_duty(0.1, "VN", false), 0.1);
        assert_eq!(effective_duty(0.1, "US", true), 0.1);
    }
}
