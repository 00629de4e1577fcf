//! Screening context: what riskgate knows about traders, declarants, goods,
//! routes and payments at the moment a declaration arrives. Kept current
//! incrementally (one update per declaration or outcome), never by scanning
//! history, and serialisable as a checkpoint.

/// The context's maps: keyed by strings taken from declarations, looked
/// up several times per declaration. foldhash with a per-process random
/// seed instead of SipHash (measured: BENCHMARKS.md, issue 16).
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use chrono::{DateTime, FixedOffset, NaiveDate};
use riskgate_core::{CreditClass, Declaration, Direction, Enterprise, ForexPayment, Outcome};
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

/// Forex payments indexed for matching against declarations (M6), and the
/// recent import values per trader that explain payments.
///
/// No look-ahead: a declaration decided at `now` is matched only against
/// payments made at or before `now` (`lookup_at`), whatever has been loaded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ForexIndex {
    /// Payments with a reference, per reference, in time order. Reloaded
    /// from the forex table at start, not checkpointed.
    #[serde(skip)]
    pub by_reference: HashMap<String, Vec<Payment>>,
    /// Payments without a reference, per trader, in time order. Reloaded
    /// from the forex table at start, not checkpointed.
    #[serde(skip)]
    pub unreferenced: HashMap<String, Vec<Payment>>,
    /// Per trader, the CNY amounts accounted for by the imports folded into
    /// the context in the last `EXPLAIN_DAYS` (see `Accounted`): each
    /// import's declared value, and the payment it was matched to when
    /// that was an over-payment without reference. A payment one of them
    /// accounts for is not taken as another declaration's over-payment.
    /// Derived from declarations, so checkpointed.
    #[serde(default)]
    pub accounted: HashMap<String, Accounted>,
}

/// How a declaration's value compares with the money that left the country.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForexMatch {
    pub paid_cny: f64,
    /// paid ÷ declared; above 1 means more was paid abroad than declared.
    pub ratio: f64,
    pub by_reference: bool,
}

/// Payments without a reference are matched to an import of the same
/// trader made within this many days before the decision (never after it).
pub const UNREFERENCED_WINDOW_DAYS: i64 = 60;
/// A payment within this relative distance of the declared value pays it.
pub const AMOUNT_TOLERANCE: f64 = 0.02;
/// A payment above the declared value by more than `AMOUNT_TOLERANCE` and
/// at most this many times it is taken as the goods' true price (the
/// under-declaration signal), unless an earlier import explains it.
pub const MAX_OVERPAYMENT_RATIO: f64 = 4.0;
/// How long an import's value is kept to explain payments (days).
pub const EXPLAIN_DAYS: i64 = 120;

const DAY: i64 = 86_400;

impl ForexIndex {
    pub fn add(&mut self, p: &ForexPayment) {
        let pay = Payment { trader: p.trader.clone(), paid_at: p.paid_at.timestamp(), amount_cny: p.amount_cny() };
        let v = match &p.reference {
            Some(r) => self.by_reference.entry(r.clone()).or_default(),
            None => self.unreferenced.entry(p.trader.clone()).or_default(),
        };
        let at = v.partition_point(|x| x.paid_at <= pay.paid_at);
        v.insert(at, pay);
    }

    /// Matches as `lookup_at` with the declaration's own time as the
    /// decision time (`--clock declared`; rule tests and back-tests).
    pub fn lookup(&self, decl: &Declaration, declared_cny: f64) -> Option<ForexMatch> {
        self.lookup_at(decl, declared_cny, decl.declared_at.timestamp())
    }

    /// The payments that bear on a declaration decided at `now` (Unix
    /// seconds); only payments made at or before `now` count.
    ///
    /// 1. By invoice reference: every payment of the declaration's trader
    ///    carrying one of its invoice ids, summed (`by_reference`).
    /// 2. Else, for an import, by trader and amount among the trader's
    ///    payments without reference made in the `UNREFERENCED_WINDOW_DAYS`
    ///    before `now`: the payment closest to the declared value within
    ///    `AMOUNT_TOLERANCE` (it pays this declaration, ratio ≈ 1); failing
    ///    that, the smallest payment above it, up to `MAX_OVERPAYMENT_RATIO`
    ///    times it, that no import of the trader folded in the last
    ///    `EXPLAIN_DAYS` accounts for — by its declared value or as its own
    ///    over-payment (ratio > 1: money left the country for more than was
    ///    declared — the under-declaration signal).
    ///
    /// `None` when nothing matches.
    pub fn lookup_at(&self, decl: &Declaration, declared_cny: f64, now: i64) -> Option<ForexMatch> {
        if declared_cny <= 0.0 {
            return None;
        }
        if let Some(paid) = self.paid_by_reference(decl, now) {
            return Some(ForexMatch { paid_cny: paid, ratio: paid / declared_cny, by_reference: true });
        }
        if decl.direction != Direction::Import {
            return None;
        }
        let ps = self.unreferenced.get(&decl.trader.id)?;
        let lo = ps.partition_point(|p| p.paid_at < now - UNREFERENCED_WINDOW_DAYS * DAY);
        let hi = ps.partition_point(|p| p.paid_at <= now);
        let mut exact: Option<(f64, f64)> = None;
        let mut over: Option<f64> = None;
        // Cheap bounds first (a hair wide), the exact ratio test inside them.
        let (low, high) =
            (declared_cny * (1.0 - AMOUNT_TOLERANCE) * (1.0 - 1e-9), declared_cny * MAX_OVERPAYMENT_RATIO);
        let accounted = self.accounted.get(&decl.trader.id);
        for p in ps[lo..hi.max(lo)].iter().filter(|p| p.amount_cny >= low && p.amount_cny <= high * (1.0 + 1e-9)) {
            let r = p.amount_cny / declared_cny;
            let off = (r - 1.0).abs();
            if off <= AMOUNT_TOLERANCE {
                if exact.is_none_or(|(o, _)| off < o) {
                    exact = Some((off, p.amount_cny));
                }
            } else if exact.is_none()
                && r > 1.0
                && r <= MAX_OVERPAYMENT_RATIO
                && over.is_none_or(|o| p.amount_cny < o)
                && !accounted.is_some_and(|a| a.explains(p.amount_cny, now))
            {
                over = Some(p.amount_cny);
            }
        }
        exact.map(|(_, a)| a).or(over).map(|a| ForexMatch { paid_cny: a, ratio: a / declared_cny, by_reference: false })
    }

    /// The sum of the payments of the declaration's trader carrying one of
    /// its invoice ids, made at or before `now`; `None` when there is none.
    pub fn paid_by_reference(&self, decl: &Declaration, now: i64) -> Option<f64> {
        let mut paid = 0.0;
        let mut found = false;
        for inv in decl.invoice_ids() {
            if let Some(ps) = self.by_reference.get(inv) {
                let hi = ps.partition_point(|p| p.paid_at <= now);
                for p in ps[..hi].iter().filter(|p| p.trader == decl.trader.id) {
                    paid += p.amount_cny;
                    found = true;
                }
            }
        }
        found.then_some(paid)
    }

    /// Keeps what an import accounts for (see `accounted`): its declared
    /// value and, when its match at its declaration time was an
    /// over-payment without reference, that payment, so that one payment
    /// abroad is not the over-payment of every later import of the trader.
    pub fn note_declaration(&mut self, decl: &Declaration, value_cny: f64) {
        let matched = self.lookup(decl, value_cny);
        self.note_matched(decl, value_cny, matched);
    }

    /// As `note_declaration`, given the declaration's match at its own time
    /// (`lookup(decl, value_cny)`, already made by the caller).
    pub fn note_matched(&mut self, decl: &Declaration, value_cny: f64, matched: Option<ForexMatch>) {
        if decl.direction != Direction::Import || value_cny <= 0.0 {
            return;
        }
        let claimed = matched.filter(|m| !m.by_reference && m.ratio > 1.0 + AMOUNT_TOLERANCE).map(|m| m.paid_cny);
        let ts = decl.declared_at.timestamp();
        let acc = match self.accounted.get_mut(&decl.trader.id) {
            Some(a) => a,
            None => self.accounted.entry(decl.trader.id.clone()).or_default(),
        };
        acc.add(value_cny, ts);
        if let Some(paid) = claimed {
            acc.add(paid, ts);
        }
        acc.prune(ts - EXPLAIN_DAYS * DAY);
    }
}

/// The amounts one trader's recent imports account for (`ForexIndex::accounted`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accounted {
    /// (CNY amount, declared at), sorted by amount, then time.
    pub amounts: Vec<(f64, i64)>,
    /// How many were kept at the last pruning: the next one waits until
    /// the list has doubled, so pruning costs O(1) per import.
    #[serde(default)]
    pub kept: usize,
}

impl Accounted {
    /// Whether an import folded in the `EXPLAIN_DAYS` before `now`
    /// accounts for an amount within `AMOUNT_TOLERANCE` of `amount_cny`.
    fn explains(&self, amount_cny: f64, now: i64) -> bool {
        // |a − x| ≤ tol·x  ⇔  a ÷ (1 + tol) ≤ x ≤ a ÷ (1 − tol); the bounds are
        // widened a hair and the exact test applied to what lies between.
        let lo = amount_cny / (1.0 + AMOUNT_TOLERANCE) * (1.0 - 1e-9);
        let hi = amount_cny / (1.0 - AMOUNT_TOLERANCE) * (1.0 + 1e-9);
        let v = &self.amounts;
        let from = v.partition_point(|(x, _)| *x < lo);
        v[from..].iter().take_while(|(x, _)| *x <= hi).any(|(x, t)| {
            *t <= now && *t >= now - EXPLAIN_DAYS * DAY && ((amount_cny - x) / x).abs() <= AMOUNT_TOLERANCE
        })
    }

    fn add(&mut self, amount: f64, ts: i64) {
        let at = self.amounts.partition_point(|(x, t)| *x < amount || (*x == amount && *t <= ts));
        self.amounts.insert(at, (amount, ts));
    }

    /// Drops the amounts declared before `oldest` once the list has doubled.
    fn prune(&mut self, oldest: i64) {
        if self.amounts.len() > 2 * self.kept + 16 {
            self.amounts.retain(|(_, t)| *t >= oldest);
            self.kept = self.amounts.len();
        }
    }
}

/// A control outcome waiting for the decision clock to reach its
/// completion time (see `Context::apply_outcome`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingOutcome {
    pub completed_at: i64,
    pub keys: OutcomeKeys,
    pub finding: bool,
    pub additional_duty: f64,
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
    /// The payments are reloaded from the forex table at start, not
    /// checkpointed; the recent import values that explain them are.
    #[serde(default)]
    pub forex: ForexIndex,
    /// All controls and findings: the prior for smoothed rates.
    pub overall: History,
    /// Random controls only: the unbiased finding rate.
    pub random: History,
    /// Additional duty ÷ declared value over findings: for expected revenue.
    pub revenue_per_value_found: f64,
    pub value_found_cny: f64,
    /// The latest decision time seen (Unix seconds): `Context::advance_to`.
    #[serde(default)]
    pub clock: Option<i64>,
    /// Outcomes completed after `clock`, in completion order: folded in
    /// only once a decision is made at or after their completion.
    #[serde(default)]
    pub pending_outcomes: Vec<PendingOutcome>,
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
        self.apply_declaration_matched(decl, None);
    }

    /// As `apply_declaration`, given the declaration's forex match at its
    /// own time when the caller has it (`ForexIndex::lookup`), to spare
    /// looking it up again.
    pub fn apply_declaration_matched(&mut self, decl: &Declaration, matched: Option<Option<ForexMatch>>) {
        let ts = decl.declared_at.timestamp();
        let rate = decl.rate();
        let value_cny = decl.total_value_cny();
        slot(&mut self.traders, &decl.trader.id, |x| x.touch(ts, value_cny));
        match matched {
            Some(m) => self.forex.note_matched(decl, value_cny, m),
            None => self.forex.note_declaration(decl, value_cny),
        }
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
    /// declaration touched — at once if it was completed by the latest
    /// decision time (`clock`), else once the clock reaches its completion
    /// (`advance_to`): no decision sees an outcome completed after it,
    /// whenever the outcome is imported.
    pub fn apply_outcome(&mut self, keys: &OutcomeKeys, outcome: &Outcome) {
        // An audit after release is not the random control's finding: it
        // does not enter the random controls' base rate.
        let audit;
        let keys = if keys.random && outcome.control == riskgate_core::ControlKind::Audit {
            audit = OutcomeKeys { random: false, ..keys.clone() };
            &audit
        } else {
            keys
        };
        let at = outcome.completed_at.timestamp();
        if self.clock.is_some_and(|c| at > c) {
            let i = self.pending_outcomes.partition_point(|p| p.completed_at <= at);
            let p = PendingOutcome {
                completed_at: at,
                keys: keys.clone(),
                finding: outcome.is_finding(),
                additional_duty: outcome.additional_duty,
            };
            self.pending_outcomes.insert(i, p);
            return;
        }
        self.fold_outcome(keys, outcome.is_finding(), outcome.additional_duty);
    }

    /// Moves the decision clock to `t` (Unix seconds; it never goes back)
    /// and folds in the pending outcomes completed by then, in completion order.
    pub fn advance_to(&mut self, t: i64) {
        let t = self.clock.map_or(t, |c| c.max(t));
        self.clock = Some(t);
        let due = self.pending_outcomes.partition_point(|p| p.completed_at <= t);
        if due > 0 {
            let ready: Vec<PendingOutcome> = self.pending_outcomes.drain(..due).collect();
            for p in &ready {
                self.fold_outcome(&p.keys, p.finding, p.additional_duty);
            }
        }
    }

    fn fold_outcome(&mut self, keys: &OutcomeKeys, f: bool, rev: f64) {
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

    fn decl_at(trader: &str, at: &str, invoice: &str, value_usd: f64) -> Declaration {
        Declaration::from_json(&serde_json::json!({
            "id": "D1", "declared_at": at, "direction": "import", "office": "2201",
            "transport_mode": "sea", "trade_mode": "0110", "trader": {"id": trader}, "declarant": {"id": "B1"},
            "currency": "USD",
            "items": [{"line": 1, "hs_code": "851713", "origin": "VN", "quantity": 10, "net_weight_kg": 1.0,
                       "value": value_usd, "duty_rate": 0.0}],
            "documents": [{"kind": "invoice", "id": invoice}]
        }))
        .unwrap()
    }

    fn decl(trader: &str, invoice: &str, value_usd: f64) -> Declaration {
        decl_at(trader, "2026-03-10T09:00:00+08:00", invoice, value_usd)
    }

    fn pay(trader: &str, at: &str, usd: f64, reference: Option<&str>) -> ForexPayment {
        let mut v = serde_json::json!({"trader": trader, "paid_at": at, "amount": usd, "currency": "USD"});
        if let Some(r) = reference {
            v["reference"] = r.into();
        }
        ForexPayment::from_json(&v).unwrap()
    }

    /// The declarations are decided on 2026-03-10 at 09:00 (their own time).
    #[test]
    fn forex_matches_by_reference_then_by_trader_amount_and_window_before_the_decision() {
        let mut idx = ForexIndex::default();
        idx.add(&pay("T1", "2026-03-01T10:00:00+08:00", 1500.0, Some("INV-1")));
        idx.add(&pay("T1", "2026-03-20T10:00:00+08:00", 500.0, Some("INV-1"))); // after the decision
        idx.add(&pay("T9", "2026-03-01T10:00:00+08:00", 9999.0, Some("INV-1"))); // another trader's
        idx.add(&pay("T2", "2026-02-25T10:00:00+08:00", 1005.0, None)); // within 2%, 13 days before
        idx.add(&pay("T3", "2025-12-25T10:00:00+08:00", 1000.0, None)); // 75 days before: outside the window
        idx.add(&pay("T4", "2026-03-05T10:00:00+08:00", 2000.0, None)); // twice the declared value
        idx.add(&pay("T4", "2026-03-06T10:00:00+08:00", 3000.0, None)); // larger: the smaller one is taken
        idx.add(&pay("T6", "2026-03-10T09:00:01+08:00", 1000.0, None)); // a second after the decision
        idx.add(&pay("T7", "2026-03-05T10:00:00+08:00", 2000.0, None)); // paid for T7's earlier import
        idx.add(&pay("T8", "2026-03-05T10:00:00+08:00", 5000.0, None)); // above 4×: another shipment's
        idx.add(&pay("T10", "2026-03-05T10:00:00+08:00", 700.0, None)); // below the declared value
        idx.add(&pay("T11", "2026-03-02T10:00:00+08:00", 1500.0, None));
        idx.add(&pay("T11", "2026-03-04T10:00:00+08:00", 1010.0, None)); // pays it: preferred
        idx.note_declaration(&decl_at("T7", "2026-02-20T10:00:00+08:00", "X7", 2000.0), 2000.0 * 7.10);
        // T12's import of 2026-02-25 was over-paid by this payment: it is that import's, not the next one's.
        idx.add(&pay("T12", "2026-02-24T10:00:00+08:00", 3000.0, None));
        idx.note_declaration(&decl_at("T12", "2026-02-25T10:00:00+08:00", "X12", 1000.0), 1000.0 * 7.10);
        let cases = [
            ("T1", "INV-1"),
            ("T2", "X"),
            ("T3", "X"),
            ("T4", "X"),
            ("T5", "INV-1"),
            ("T6", "X"),
            ("T7", "X"),
            ("T8", "X"),
            ("T10", "X"),
            ("T11", "X"),
            ("T12", "X"),
        ];
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
                "T4: ratio 2.000 by_reference false",
                "T5: no match",
                "T6: no match",
                "T7: no match",
                "T8: no match",
                "T10: no match",
                "T11: ratio 1.010 by_reference false",
                "T12: no match",
            ]
        "#]]
        .assert_debug_eq(&got);
    }

    /// An export is never matched by amount: payments abroad pay for imports.
    #[test]
    fn exports_are_not_matched_by_amount() {
        let mut idx = ForexIndex::default();
        idx.add(&pay("T1", "2026-03-05T10:00:00+08:00", 1000.0, None));
        let mut d = decl("T1", "X", 1000.0);
        assert!(idx.lookup(&d, d.total_value_cny()).is_some());
        d.direction = riskgate_core::Direction::Export;
        assert!(idx.lookup(&d, d.total_value_cny()).is_none());
    }
}
