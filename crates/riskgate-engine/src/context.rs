//! Screening context: what riskgate knows about traders, declarants, goods,
//! routes and payments at the moment a declaration arrives. Kept current
//! incrementally (one update per declaration or outcome), never by scanning
//! history, and serialisable as a checkpoint.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDate};
use riskgate_core::{CreditClass, Declaration, Enterprise, ForexPayment, Outcome};
use serde::{Deserialize, Serialize};

pub use riskgate_core::screened::{OutcomeKeys, put_route_key, route_key};

/// How many pseudo-controls at the base rate smooth a history's finding
/// rate (`History::smoothed_rate`): scorer, features, facts and levels agree.
pub const PRIOR_STRENGTH: f64 = 8.0;

/// Half-life of the decayed activity counters, in days.
const HALF_LIFE_DAYS: f64 = 90.0;

/// Counters for one trader, declarant, HS6 code or route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub declarations: u64,
    pub controls: u64,
    pub findings: u64,
    pub revenue_cny: f64,
    pub value_cny: f64,
    /// Declarations with exponential decay (half-life 90 days): recent volume.
    pub recent: f64,
    pub first_seen: i64,
    pub last_seen: i64,
}

impl History {
    fn touch(&mut self, ts: i64, value_cny: f64) {
        if self.declarations == 0 {
            self.first_seen = ts;
            self.last_seen = ts;
        }
        let dt_days = (ts - self.last_seen).max(0) as f64 / 86_400.0;
        self.recent = self.recent * (-dt_days * std::f64::consts::LN_2 / HALF_LIFE_DAYS).exp() + 1.0;
        self.last_seen = self.last_seen.max(ts);
        self.declarations += 1;
        self.value_cny += value_cny;
    }

    fn outcome(&mut self, finding: bool, revenue: f64) {
        self.controls += 1;
        if finding {
            self.findings += 1;
        }
        self.revenue_cny += revenue;
    }

    /// Finding rate shrunk towards `prior` with the weight of `strength` controls.
    pub fn smoothed_rate(&self, prior: f64, strength: f64) -> f64 {
        (self.findings as f64 + prior * strength) / (self.controls as f64 + strength)
    }
}

/// Log-scale histogram of a positive quantity (unit value, kg per unit):
/// robust median and spread without keeping every observation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefStats {
    pub n: u64,
    /// Sparse (bin, count), sorted by bin; bin = floor(log10(x) * 16).
    pub bins: Vec<(i16, u32)>,
}

const BINS_PER_DECADE: f64 = 16.0;

impl RefStats {
    pub fn add(&mut self, x: f64) {
        if !(x.is_finite() && x > 0.0) {
            return;
        }
        let b = (x.log10() * BINS_PER_DECADE).floor().clamp(-200.0, 300.0) as i16;
        match self.bins.binary_search_by_key(&b, |(k, _)| *k) {
            Ok(i) => self.bins[i].1 += 1,
            Err(i) => self.bins.insert(i, (b, 1)),
        }
        self.n += 1;
    }

    /// Quantile in log10 space, interpolated inside the bin.
    pub fn quantile_log10(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let target = q * self.n as f64;
        let mut cum = 0.0;
        for (b, c) in &self.bins {
            let c = f64::from(*c);
            if cum + c >= target {
                let frac = if c > 0.0 { (target - cum) / c } else { 0.5 };
                return Some((f64::from(*b) + frac) / BINS_PER_DECADE);
            }
            cum += c;
        }
        self.bins.last().map(|(b, _)| (f64::from(*b) + 1.0) / BINS_PER_DECADE)
    }

    pub fn median(&self) -> Option<f64> {
        self.quantile_log10(0.5).map(|l| 10f64.powf(l))
    }

    /// The quartiles (0.25, 0.5, 0.75) in log10 space in one pass over the
    /// bins; each is exactly what `quantile_log10` gives for it.
    pub fn quartiles_log10(&self) -> [Option<f64>; 3] {
        if self.n == 0 {
            return [None; 3];
        }
        let targets = [0.25 * self.n as f64, 0.5 * self.n as f64, 0.75 * self.n as f64];
        let mut out = [None; 3];
        let mut k = 0;
        let mut cum = 0.0;
        'bins: for (b, c) in &self.bins {
            let c = f64::from(*c);
            // The targets ascend, so each is found at or after the previous one's bin.
            while cum + c >= targets[k] {
                let frac = if c > 0.0 { (targets[k] - cum) / c } else { 0.5 };
                out[k] = Some((f64::from(*b) + frac) / BINS_PER_DECADE);
                k += 1;
                if k == targets.len() {
                    break 'bins;
                }
            }
            cum += c;
        }
        let last = self.bins.last().map(|(b, _)| (f64::from(*b) + 1.0) / BINS_PER_DECADE);
        for q in &mut out[k..] {
            *q = last;
        }
        out
    }

    /// This reference as one observation `x` sees it: the number of
    /// observations, the median and the robust z of `x`, from a single walk
    /// of the bins. Equal, bit for bit, to `n`, `median()` and `z(x)`.
    pub fn point(&self, x: f64) -> RefPoint {
        let [q1, m, q3] = self.quartiles_log10();
        let spread = q1.zip(q3).map(|(q1, q3)| ((q3 - q1) / 1.349).max(0.08));
        let z = if x.is_nan() || x <= 0.0 { None } else { m.zip(spread).map(|(m, s)| (x.log10() - m) / s) };
        RefPoint { n: self.n, median: m.map(|l| 10f64.powf(l)), z }
    }

    /// Robust spread of log10(x): half the inter-quartile range, floored so
    /// that a reference with few observations is not over-confident.
    pub fn spread_log10(&self) -> Option<f64> {
        let q1 = self.quantile_log10(0.25)?;
        let q3 = self.quantile_log10(0.75)?;
        Some(((q3 - q1) / 1.349).max(0.08))
    }

    /// Robust z-score of x against this reference (log scale).
    pub fn z(&self, x: f64) -> Option<f64> {
        if x.is_nan() || x <= 0.0 {
            return None;
        }
        let m = self.quantile_log10(0.5)?;
        let s = self.spread_log10()?;
        Some((x.log10() - m) / s)
    }
}

/// A reference (`RefStats`) as seen from one observation: see `RefStats::point`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefPoint {
    pub n: u64,
    pub median: Option<f64>,
    /// Robust z of the observation; `None` for a non-positive observation.
    pub z: Option<f64>,
}

/// What the registry says about an enterprise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnterpriseInfo {
    pub credit_class: CreditClass,
    pub registered_at: Option<NaiveDate>,
    pub registered_capital_cny: Option<f64>,
}

impl EnterpriseInfo {
    /// Days since registration at `at`, when the registration date is known.
    pub fn age_days(&self, at: DateTime<FixedOffset>) -> Option<f64> {
        let reg = self.registered_at?;
        Some((at.date_naive() - reg).num_days() as f64)
    }
}

/// One forex payment as kept for matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub trader: String,
    pub paid_at: i64,
    pub amount_cny: f64,
}

/// Forex payments indexed for matching against declarations (M6).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ForexIndex {
    pub by_reference: HashMap<String, Vec<Payment>>,
    /// Payments without a reference, per trader, in time order.
    pub unreferenced: HashMap<String, Vec<Payment>>,
}

/// How a declaration's value compares with the money that left the country.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForexMatch {
    pub paid_cny: f64,
    /// paid ÷ declared; above 1 means more was paid abroad than declared.
    pub ratio: f64,
    pub by_reference: bool,
}

/// Payments without reference match a declaration when they are of the
/// same trader, within this window around the declaration, and within
/// `AMOUNT_TOLERANCE` of the declared value.
pub const UNREFERENCED_WINDOW_DAYS: i64 = 60;
pub const AMOUNT_TOLERANCE: f64 = 0.02;

impl ForexIndex {
    pub fn add(&mut self, p: &ForexPayment) {
        let pay = Payment { trader: p.trader.clone(), paid_at: p.paid_at.timestamp(), amount_cny: p.amount_cny() };
        match &p.reference {
            Some(r) => self.by_reference.entry(r.clone()).or_default().push(pay),
            None => {
                let v = self.unreferenced.entry(p.trader.clone()).or_default();
                let at = v.partition_point(|x| x.paid_at <= pay.paid_at);
                v.insert(at, pay);
            }
        }
    }

    /// Matches by invoice reference first, then by trader and amount within
    /// the time window. `None` when nothing matches.
    pub fn lookup(&self, decl: &Declaration, declared_cny: f64) -> Option<ForexMatch> {
        if declared_cny <= 0.0 {
            return None;
        }
        let mut paid = 0.0;
        let mut found = false;
        for inv in decl.invoice_ids() {
            if let Some(ps) = self.by_reference.get(inv) {
                for p in ps.iter().filter(|p| p.trader == decl.trader.id) {
                    paid += p.amount_cny;
                    found = true;
                }
            }
        }
        if found {
            return Some(ForexMatch { paid_cny: paid, ratio: paid / declared_cny, by_reference: true });
        }
        let ps = self.unreferenced.get(&decl.trader.id)?;
        let t = decl.declared_at.timestamp();
        let w = UNREFERENCED_WINDOW_DAYS * 86_400;
        let lo = ps.partition_point(|p| p.paid_at < t - w);
        ps[lo..]
            .iter()
            .take_while(|p| p.paid_at <= t + w)
            .find(|p| ((p.amount_cny - declared_cny) / declared_cny).abs() <= AMOUNT_TOLERANCE)
            .map(|p| ForexMatch { paid_cny: p.amount_cny, ratio: p.amount_cny / declared_cny, by_reference: false })
    }
}

/// Everything the screening context holds; serialisable as a checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Context {
    /// Reloaded from the enterprise registry at start, not checkpointed.
    #[serde(skip)]
    pub enterprises: HashMap<String, EnterpriseInfo>,
    pub traders: HashMap<String, History>,
    pub declarants: HashMap<String, History>,
    pub overseas: HashMap<String, History>,
    pub goods: HashMap<String, History>,
    pub routes: HashMap<String, History>,
    /// Unit value (CNY per declared unit) per "HS6|origin".
    pub unit_value: HashMap<String, RefStats>,
    /// Unit value per HS6 over all origins (fallback reference).
    pub unit_value_hs6: HashMap<String, RefStats>,
    /// Net kg per declared unit per HS6 (quantity misdeclaration).
    pub kg_per_unit: HashMap<String, RefStats>,
    /// CNY per net kg per HS6 (value density; smuggling and undervaluation).
    #[serde(default)]
    pub value_per_kg: HashMap<String, RefStats>,
    /// How often a trader has declared an HS6 ("T|h:HS6") or an origin
    /// ("T|o:CC") before: novelty features.
    #[serde(default)]
    pub pairs: HashMap<String, u32>,
    /// Reloaded from the forex table at start, not checkpointed.
    #[serde(skip)]
    pub forex: ForexIndex,
    /// All controls and findings: the prior for smoothed rates.
    pub overall: History,
    /// Random controls only: the unbiased finding rate.
    pub random: History,
    /// Additional duty ÷ declared value over findings: for expected revenue.
    pub revenue_per_value_found: f64,
    pub value_found_cny: f64,
}

/// Writes the reference key "HS6|origin" into a reused buffer.
pub fn put_ref_key<'b>(buf: &'b mut String, hs6: &str, origin: &str) -> &'b str {
    buf.clear();
    buf.push_str(hs6);
    buf.push('|');
    buf.push_str(origin);
    buf
}

/// Writes the novelty key "TRADER|TAG:VALUE" into a reused buffer.
pub fn put_pair_key<'b>(buf: &'b mut String, trader: &str, tag: &str, value: &str) -> &'b str {
    buf.clear();
    buf.push_str(trader);
    buf.push('|');
    buf.push_str(tag);
    buf.push(':');
    buf.push_str(value);
    buf
}

/// Applies `f` to the entry for `key`, allocating the key only when it is
/// new (the hot path folds every declaration into several maps whose keys
/// mostly exist), and hashing it once when it exists.
fn slot<V: Default>(map: &mut HashMap<String, V>, key: &str, f: impl FnOnce(&mut V)) {
    if let Some(v) = map.get_mut(key) {
        return f(v);
    }
    f(map.entry(key.to_owned()).or_default());
}

impl Context {
    pub fn set_enterprise(&mut self, e: &Enterprise) {
        self.enterprises.insert(
            e.id.clone(),
            EnterpriseInfo {
                credit_class: e.credit_class,
                registered_at: e.registered_at,
                registered_capital_cny: e.registered_capital_cny,
            },
        );
    }

    pub fn add_forex(&mut self, p: &ForexPayment) {
        self.forex.add(p);
    }

    /// Folds a declaration into the counters and references. Called after
    /// the declaration is decided, so it never sees itself.
    pub fn apply_declaration(&mut self, decl: &Declaration) {
        let ts = decl.declared_at.timestamp();
        let rate = decl.rate();
        let value_cny = decl.total_value_cny();
        slot(&mut self.traders, &decl.trader.id, |x| x.touch(ts, value_cny));
        slot(&mut self.declarants, &decl.declarant.id, |x| x.touch(ts, value_cny));
        if let Some(p) = &decl.overseas_party {
            slot(&mut self.overseas, &p.id, |x| x.touch(ts, value_cny));
        }
        let mut key = String::with_capacity(40);
        for item in &decl.items {
            let v = item.value * rate;
            let hs6 = item.hs6();
            slot(&mut self.goods, hs6, |x| x.touch(ts, v));
            slot(&mut self.routes, put_route_key(&mut key, decl, &item.origin), |x| x.touch(ts, v));
            if item.quantity > 0.0 {
                let uv = v / item.quantity;
                slot(&mut self.unit_value, put_ref_key(&mut key, hs6, &item.origin), |x| x.add(uv));
                slot(&mut self.unit_value_hs6, hs6, |x| x.add(uv));
                if item.net_weight_kg > 0.0 {
                    slot(&mut self.kg_per_unit, hs6, |x| x.add(item.net_weight_kg / item.quantity));
                    slot(&mut self.value_per_kg, hs6, |x| x.add(v / item.net_weight_kg));
                }
            }
            slot(&mut self.pairs, put_pair_key(&mut key, &decl.trader.id, "h", hs6), |n| *n += 1);
            slot(&mut self.pairs, put_pair_key(&mut key, &decl.trader.id, "o", &item.origin), |n| *n += 1);
        }
    }

    /// How many times the trader declared this HS6 / origin before.
    pub fn pair_count(&self, key: &mut String, trader: &str, tag: &str, value: &str) -> u32 {
        put_pair_key(key, trader, tag, value);
        self.pairs.get(key.as_str()).copied().unwrap_or(0)
    }

    /// Folds a control outcome into the histories of everything the
    /// declaration touched.
    pub fn apply_outcome(&mut self, keys: &OutcomeKeys, outcome: &Outcome) {
        let f = outcome.is_finding();
        let rev = outcome.additional_duty;
        slot(&mut self.traders, &keys.trader, |x| x.outcome(f, rev));
        slot(&mut self.declarants, &keys.declarant, |x| x.outcome(f, rev));
        if let Some(o) = &keys.overseas {
            slot(&mut self.overseas, o, |x| x.outcome(f, rev));
        }
        for g in &keys.goods {
            slot(&mut self.goods, g, |x| x.outcome(f, rev));
        }
        for r in &keys.routes {
            slot(&mut self.routes, r, |x| x.outcome(f, rev));
        }
        self.overall.outcome(f, rev);
        if keys.random {
            self.random.outcome(f, rev);
        }
        if f && keys.value_cny > 0.0 {
            self.value_found_cny += keys.value_cny;
            self.revenue_per_value_found = self.overall.revenue_cny / self.value_found_cny.max(1.0);
        }
    }

    /// Base finding rate used as prior: the random controls' rate when there
    /// are enough of them, else all controls' rate shrunk towards 3%.
    pub fn base_rate(&self) -> f64 {
        let r = if self.random.controls >= 50 {
            self.random.smoothed_rate(0.03, 20.0)
        } else {
            self.overall.smoothed_rate(0.03, 50.0)
        };
        r.clamp(0.002, 0.5)
    }

    pub fn trader_age_days(&self, trader: &str, at: DateTime<FixedOffset>) -> Option<f64> {
        self.enterprises.get(trader)?.age_days(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_stats_median_is_close_for_lognormal_like_data() {
        let mut r = RefStats::default();
        for i in 0..1000 {
            r.add(100.0 * (1.0 + (i as f64 - 500.0) / 2000.0));
        }
        let m = r.median().unwrap();
        assert!((m / 100.0 - 1.0).abs() < 0.08, "median {m}");
        assert!(r.z(100.0).unwrap().abs() < 1.0);
        assert!(r.z(30.0).unwrap() < -3.0);
    }

    /// `point` walks the bins once; it must equal the separate queries bit for bit.
    #[test]
    fn ref_point_equals_the_separate_quantile_queries() {
        let mut rng = riskgate_core::rng::Rng::new(5);
        let mut refs = vec![RefStats::default(), RefStats { n: 3, bins: Vec::new() }];
        for size in [1usize, 2, 3, 4, 5, 7, 8, 20, 100, 1000] {
            let mut r = RefStats::default();
            for _ in 0..size {
                r.add(10f64.powf(4.0 * rng.uniform() - 1.0));
            }
            refs.push(r);
        }
        // Counts out of step with `n` (a hand-edited checkpoint) take the fallback.
        refs.push(RefStats { n: 10, bins: vec![(3, 1), (5, 2)] });
        refs.push(RefStats { n: 4, bins: vec![(3, 0), (4, 0), (9, 4)] });
        for r in &refs {
            let [q1, m, q3] = r.quartiles_log10();
            let same = |a: Option<f64>, b: Option<f64>| a.map(f64::to_bits) == b.map(f64::to_bits);
            assert!(same(q1, r.quantile_log10(0.25)) && same(m, r.quantile_log10(0.5)));
            assert!(same(q3, r.quantile_log10(0.75)), "{r:?}");
            for x in [f64::NAN, -1.0, 0.0, 0.01, 0.7, 3.0, 55.5, 1e6] {
                let p = r.point(x);
                assert_eq!(p.n, r.n);
                assert!(same(p.median, r.median()) && same(p.z, r.z(x)), "{r:?} at {x}");
            }
        }
    }

    #[test]
    fn decayed_volume_halves_after_half_life() {
        let mut h = History::default();
        h.touch(0, 1.0);
        h.touch((HALF_LIFE_DAYS * 86_400.0) as i64, 1.0);
        assert!((h.recent - 1.5).abs() < 1e-9);
    }
}

#[cfg(test)]
mod forex_tests {
    use super::*;

    fn decl(trader: &str, invoice: &str, value_usd: f64) -> Declaration {
        Declaration::from_json(&serde_json::json!({
            "id": "D1", "declared_at": "2026-03-10T09:00:00+08:00", "direction": "import", "office": "2201",
            "transport_mode": "sea", "trade_mode": "0110", "trader": {"id": trader}, "declarant": {"id": "B1"},
            "currency": "USD",
            "items": [{"line": 1, "hs_code": "851713", "origin": "VN", "quantity": 10, "net_weight_kg": 1.0,
                       "value": value_usd, "duty_rate": 0.0}],
            "documents": [{"kind": "invoice", "id": invoice}]
        }))
        .unwrap()
    }

    fn pay(trader: &str, at: &str, usd: f64, reference: Option<&str>) -> ForexPayment {
        let mut v = serde_json::json!({"trader": trader, "paid_at": at, "amount": usd, "currency": "USD"});
        if let Some(r) = reference {
            v["reference"] = r.into();
        }
        ForexPayment::from_json(&v).unwrap()
    }

    #[test]
    fn forex_matches_by_reference_then_by_trader_amount_and_window() {
        let mut idx = ForexIndex::default();
        idx.add(&pay("T1", "2026-03-20T10:00:00+08:00", 1500.0, Some("INV-1")));
        idx.add(&pay("T9", "2026-03-20T10:00:00+08:00", 9999.0, Some("INV-1"))); // another trader's
        idx.add(&pay("T2", "2026-03-25T10:00:00+08:00", 1005.0, None)); // within 2%, 15 days
        idx.add(&pay("T3", "2026-06-25T10:00:00+08:00", 1000.0, None)); // outside the window
        idx.add(&pay("T4", "2026-03-12T10:00:00+08:00", 1300.0, None)); // amount off by 30%
        let cases = [("T1", "INV-1"), ("T2", "X"), ("T3", "X"), ("T4", "X"), ("T5", "INV-1")];
        let got: Vec<String> = cases
            .iter()
            .map(|(t, inv)| {
                let d = decl(t, inv, 1000.0);
                match idx.lookup(&d, d.total_value_cny()) {
                    Some(m) => format!("{t}: ratio {:.3} by_reference {}", m.ratio, m.by_reference),
                    None => format!("{t}: no match"),
                }
            })
            .collect();
        expect_test::expect![[r#"
            [
                "T1: ratio 1.500 by_reference true",
                "T2: ratio 1.005 by_reference false",
                "T3: no match",
                "T4: no match",
                "T5: no match",
            ]
        "#]]
        .assert_debug_eq(&got);
    }
}
