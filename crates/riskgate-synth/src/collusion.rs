//! Planted collusion and the workforce records of the synthetic world.
//!
//! A colluding officer (ground truth in `colluders.jsonl`) is linked to a
//! few traders of their office — those whose declarations carry the most
//! expected fraud — and follows the patterns integrity units look for:
//!
//! * **pick-up**: 70% of the controls of a linked trader at the officer's
//!   office land on them (assignment is otherwise uniform);
//! * **no finding**: on a linked trader's control they record a finding
//!   with 15% of the probability an honest officer would;
//! * **speed**: such controls take a third of the time, release follows
//!   within minutes;
//! * **off hours**: 35% of them are completed in the evening;
//! * **overrides**: 40% of a linked trader's live controls are overridden to
//!   green by the colluder with a bland reason, before anyone controls them;
//! * **tenure**: 7–10 years in the same post.
//!
//! Those are the defaults ([`CollusionParams::default`], the "loud"
//! colluder). [`CollusionParams::quiet`] plants the subtler kind: 40% of the
//! linked traders' controls, half of the findings hidden, normal speed and
//! hours, few overrides, 1–3 years in post, no more disciplinary cases than
//! anyone else. Every figure is a parameter (`riskgate generate
//! --collusion-…`), and `start_day` lets collusion begin part-way through
//! the world: before it the colluder behaves like everyone else.
//! `ring` (`--collusion-ring K`) plants rings instead: K officers of one
//! office share the same three traders and split the pick-up among them,
//! so each member alone looks only mildly concentrated.
//!
//! Honest officers override too (about 0.6% of controls, both directions,
//! with specific reasons), so overrides alone do not give colluders away.
//! Everything is keyed on (seed, declaration id): deterministic.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, SecondsFormat, Timelike};
use riskgate_core::rng::{Rng, keyed_uniform, stable_hash};
use serde_json::{Value, json};

use crate::truth::{Lane, Truth};
use crate::world::World;

/// Share of a linked trader's controls the colluder picks up.
pub const PICK_UP: f64 = 0.7;
/// Factor on the detection probability when a colluder controls a linked trader.
pub const FINDING_FACTOR: f64 = 0.15;
/// Share of a linked trader's live controls overridden to green.
pub const OVERRIDE_RATE: f64 = 0.4;
/// Share of honest controls overridden (either way).
pub const HONEST_OVERRIDE_RATE: f64 = 0.006;

const BLAND_REASONS: &[&str] = &["风险可控", "资料齐全，予以放行", "企业信誉良好", "经核实无异常"];
const HONEST_DOWN_REASONS: &[&str] = &[
    "原产地证书经联网核验一致，付汇记录与申报价格相符，改为放行",
    "同批货物昨日已查验无误（报关单关联），避免重复查验",
    "AEO高级认证企业，随附单证与合同、发票逐项核对一致",
    "冷链鲜活商品，经科长批准先放后核，已布置后续稽查",
];
const HONEST_UP_REASONS: &[&str] = &[
    "现场发现集装箱铅封异常，转人工查验",
    "舱单重量与申报净重差异较大，需开箱核实",
    "同一发货人近期被缉私部门通报，提高查验等级",
];

/// How planted colluders behave (`riskgate generate --collusion-…`).
#[derive(Clone, Debug, PartialEq)]
pub struct CollusionParams {
    /// Share of a linked trader's controls at the office the colluder picks
    /// up on purpose (the rest are assigned uniformly, the colluder included).
    pub pick_up: f64,
    /// Share of the findings the colluder would have made that they hide.
    pub hide: f64,
    /// Factor on the duration of a bent control (1 = normal speed).
    pub speed: f64,
    /// Release within minutes of a bent control.
    pub fast_release: bool,
    /// Share of bent controls completed in the evening.
    pub evening: f64,
    /// Share of a linked trader's live controls overridden to green.
    pub overrides: f64,
    /// Years in post at the start of the world: [min, max).
    pub tenure_years: (f64, f64),
    /// Probability of a disciplinary case in the world's period (honest: 0.01).
    pub disciplinary: f64,
    /// Day (from the first day of the world) collusion starts; before it the
    /// colluder behaves like everyone else.
    pub start_day: u32,
    /// Officers per ring: 1 (the default) plants colluders each with their
    /// own traders; K > 1 plants rings of K officers of one office who share
    /// the same traders and split the pick-up among them (each picked-up
    /// control goes to one member, drawn uniformly), so each member alone
    /// takes only `pick_up / K` of the partners' controls beyond chance.
    pub ring: usize,
}

impl Default for CollusionParams {
    fn default() -> Self {
        CollusionParams {
            pick_up: PICK_UP,
            hide: 1.0 - FINDING_FACTOR,
            speed: 0.35,
            fast_release: true,
            evening: 0.35,
            overrides: OVERRIDE_RATE,
            tenure_years: (7.0, 10.0),
            disciplinary: 0.3,
            start_day: 0,
            ring: 1,
        }
    }
}

impl CollusionParams {
    /// The quiet colluder of issue 15: about 40% of the linked traders'
    /// controls (chance gives an officer about a tenth), half of the
    /// findings hidden, normal speed and hours, overrides on a tenth of the
    /// linked traders' live controls, 1–3 years in post.
    pub fn quiet() -> Self {
        CollusionParams {
            pick_up: 0.4,
            hide: 0.5,
            speed: 1.0,
            fast_release: false,
            evening: 0.0,
            overrides: 0.1,
            tenure_years: (1.0, 3.0),
            disciplinary: 0.01,
            start_day: 0,
            ring: 1,
        }
    }

    /// Factor on the detection probability of a bent control.
    pub fn finding_factor(&self) -> f64 {
        // 1 − (1 − 0.15) is not 0.15 in floating point: the default keeps
        // its exact factor so default worlds do not move.
        if self.hide == 1.0 - FINDING_FACTOR { FINDING_FACTOR } else { 1.0 - self.hide }
    }

    /// Checks ranges; the error names the parameter.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("pick_up", self.pick_up),
            ("hide", self.hide),
            ("evening", self.evening),
            ("overrides", self.overrides),
            ("disciplinary", self.disciplinary),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("collusion {name}: expected a share in [0, 1], got {v}"));
            }
        }
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 10.0) {
            return Err(format!("collusion speed: expected a factor in (0, 10], got {}", self.speed));
        }
        if !(1..=8).contains(&self.ring) {
            return Err(format!("collusion ring: expected 1 to 8 officers per ring, got {}", self.ring));
        }
        let (lo, hi) = self.tenure_years;
        if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi && hi <= 40.0) {
            return Err(format!("collusion tenure: expected 0 ≤ min ≤ max ≤ 40 years, got {lo}..{hi}"));
        }
        Ok(())
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"pick_up": self.pick_up, "hide": self.hide, "speed": self.speed,
               "fast_release": self.fast_release, "evening": self.evening, "overrides": self.overrides,
               "tenure_years": [self.tenure_years.0, self.tenure_years.1],
               "disciplinary": self.disciplinary, "start_day": self.start_day});
        // Only for rings: worlds without them keep their bytes.
        if self.ring > 1 {
            v["ring"] = Value::from(self.ring);
        }
        v
    }

    fn from_json(v: &Value) -> Self {
        let d = CollusionParams::default();
        let f = |k: &str, dflt: f64| v.get(k).and_then(Value::as_f64).unwrap_or(dflt);
        let tenure = v.get("tenure_years").and_then(Value::as_array);
        let t = |i: usize, dflt: f64| tenure.and_then(|a| a.get(i)).and_then(Value::as_f64).unwrap_or(dflt);
        CollusionParams {
            pick_up: f("pick_up", d.pick_up),
            hide: f("hide", d.hide),
            speed: f("speed", d.speed),
            fast_release: v.get("fast_release").and_then(Value::as_bool).unwrap_or(d.fast_release),
            evening: f("evening", d.evening),
            overrides: f("overrides", d.overrides),
            tenure_years: (t(0, d.tenure_years.0), t(1, d.tenure_years.1)),
            disciplinary: f("disciplinary", d.disciplinary),
            start_day: v.get("start_day").and_then(Value::as_u64).map_or(d.start_day, |x| x as u32),
            ring: v.get("ring").and_then(Value::as_u64).map_or(d.ring, |x| x as usize),
        }
    }
}

/// One planted colluder.
#[derive(Clone, Debug, PartialEq)]
pub struct Colluder {
    pub officer: String,
    pub office: String,
    pub post: String,
    pub traders: Vec<String>,
    /// How they collude (the default unless the world was generated with
    /// `--collusion-…` flags).
    pub params: CollusionParams,
    /// When collusion starts (seconds since the epoch; `None`: from the start).
    pub start: Option<i64>,
    /// The ring this colluder belongs to (0, 1, …) when the world plants
    /// rings (`CollusionParams::ring` > 1); its members share `traders`.
    pub ring: Option<usize>,
}

/// The colluders of a world, by trader (several for a ring).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Collusion {
    pub colluders: Vec<Colluder>,
    by_trader: HashMap<String, Vec<usize>>,
}

impl Collusion {
    pub fn new(colluders: Vec<Colluder>) -> Self {
        let mut by_trader: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, c) in colluders.iter().enumerate() {
            for t in &c.traders {
                by_trader.entry(t.clone()).or_default().push(i);
            }
        }
        Collusion { colluders, by_trader }
    }

    /// Reads the ground-truth lines of `colluders.jsonl`.
    pub fn from_json<'a>(lines: impl IntoIterator<Item = &'a Value>) -> Collusion {
        let colluders = lines
            .into_iter()
            .filter_map(|v| {
                let params = v.get("params").map(CollusionParams::from_json).unwrap_or_default();
                let start = v
                    .get("starts_at")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.timestamp());
                Some(Colluder {
                    params,
                    start,
                    ring: v.get("ring").and_then(Value::as_u64).map(|r| r as usize),
                    officer: v.get("officer")?.as_str()?.to_string(),
                    office: v.get("office")?.as_str()?.to_string(),
                    post: v.get("post").and_then(Value::as_str).unwrap_or("").to_string(),
                    traders: v
                        .get("traders")?
                        .as_array()?
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect(),
                })
            })
            .collect();
        Collusion::new(colluders)
    }

    /// The ground-truth line; `params` and `starts_at` only when they
    /// differ from the defaults (default worlds stay byte for byte the same).
    pub fn to_json(c: &Colluder) -> Value {
        let mut v = json!({"officer": c.officer, "office": c.office, "post": c.post, "traders": c.traders,
               "patterns": ["pick_up", "no_finding", "fast_release", "off_hours", "override_to_green", "long_tenure"]});
        if c.params != CollusionParams::default() {
            v["params"] = c.params.to_json();
        }
        if let Some(r) = c.ring {
            v["ring"] = Value::from(r);
        }
        if let Some(t) = c.start.and_then(|t| DateTime::from_timestamp(t, 0)) {
            let cst = FixedOffset::east_opt(8 * 3600).expect("valid offset");
            v["starts_at"] = Value::from(t.with_timezone(&cst).to_rfc3339_opts(SecondsFormat::Secs, false));
        }
        v
    }

    /// The colluder linked to `trader` when the control is at their office
    /// and collusion has started at `at` (seconds since the epoch). For a
    /// ring, the member is drawn uniformly, keyed on (seed, `key`); a lone
    /// colluder draws nothing.
    pub fn colluder_for(&self, trader: &str, office: &str, at: i64, seed: u64, key: &str) -> Option<&Colluder> {
        let members = self.by_trader.get(trader)?;
        let i = match members.len() {
            0 => return None,
            1 => members[0],
            k => {
                let u = keyed_uniform(seed, &format!("collusion/member/{key}"));
                members[((u * k as f64) as usize).min(k - 1)]
            }
        };
        Some(&self.colluders[i]).filter(|c| c.office == office && c.start.is_none_or(|s| at >= s))
    }
}

/// Picks `n` colluders: control officers of offices with at least three
/// control officers, linked to the three traders homed there with the most
/// expected fraud (volume × propensity). Sets their post tenure to 7–10 years.
/// With `params.ring` = K > 1 the colluders come in rings of K officers of
/// one office (one ring per office, the last one smaller if K does not
/// divide `n`) who share the same three traders.
pub(crate) fn plant(w: &mut World, seed: u64, n: usize, start: NaiveDate, params: &CollusionParams) -> Collusion {
    if n == 0 {
        return Collusion::default();
    }
    let ring = params.ring.max(1);
    let mut r = Rng::new(stable_hash(seed, "collusion"));
    let mut candidates: Vec<usize> = (0..w.offices.len())
        .filter(|&o| w.offices[o].is_field() && w.offices[o].control_officers.len() >= 3.max(ring + 1))
        .collect();
    // Larger offices first (more traffic to hide in), then a seeded shuffle among the top half.
    candidates.sort_by(|a, b| w.offices[*b].size.total_cmp(&w.offices[*a].size).then(a.cmp(b)));
    let mut pool: Vec<usize> = candidates.iter().copied().take((candidates.len() / 2).max(n.div_ceil(ring))).collect();
    let mut colluders = Vec::new();
    let mut taken: Vec<usize> = Vec::new();
    let mut by_office: BTreeMap<usize, usize> = BTreeMap::new();
    let mut rings = 0;
    while colluders.len() < n && !pool.is_empty() {
        let k = r.below(pool.len() as u64) as usize;
        let office = pool[k];
        if ring == 1 {
            // At most two colluders per office, each with their own traders.
            let count = by_office.entry(office).or_default();
            *count += 1;
            if *count >= 2 {
                pool.swap_remove(k);
            }
        } else {
            // One ring per office.
            pool.swap_remove(k);
        }
        let mut officers: Vec<usize> = (0..w.officers.len())
            .filter(|&i| {
                w.officers[i].office == office
                    && (w.officers[i].post == "inspection" || w.officers[i].post == "document_review")
                    && !colluders.iter().any(|c: &Colluder| c.officer == w.officers[i].id)
            })
            .collect();
        let size = ring.min(n - colluders.len());
        if officers.len() < size.max(1) {
            continue;
        }
        let members: Vec<usize> = if ring == 1 {
            vec![officers[r.below(officers.len() as u64) as usize]]
        } else {
            (0..size)
                .map(|_| {
                    let j = r.below(officers.len() as u64) as usize;
                    officers.swap_remove(j)
                })
                .collect()
        };
        let mut traders: Vec<usize> = (0..w.traders.len())
            .filter(|&t| w.traders[t].home_office == office && !taken.contains(&t))
            .filter(|&t| w.traders[t].credit != riskgate_core::CreditClass::Advanced)
            .collect();
        traders.sort_by(|a, b| {
            let e = |t: usize| w.traders[t].volume * w.traders[t].propensity;
            e(*b).total_cmp(&e(*a)).then(a.cmp(b))
        });
        traders.truncate(3);
        if traders.is_empty() {
            continue;
        }
        taken.extend(&traders);
        let begins = (params.start_day > 0).then(|| {
            let day = start + Duration::days(i64::from(params.start_day));
            day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp() - 8 * 3600
        });
        for oi in members {
            let years = r.range(params.tenure_years.0, params.tenure_years.1);
            w.officers[oi].post_since = start - Duration::days((years * 365.0) as i64);
            colluders.push(Colluder {
                params: params.clone(),
                start: begins,
                ring: (ring > 1).then_some(rings),
                officer: w.officers[oi].id.clone(),
                office: w.offices[office].code.to_string(),
                post: w.officers[oi].post.to_string(),
                traders: traders.iter().map(|&t| w.traders[t].id.clone()).collect(),
            });
        }
        rings += 1;
    }
    Collusion::new(colluders)
}

/// How a colluder bends one control of a linked trader.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bent {
    pub finding_factor: f64,
    pub duration_factor: f64,
    /// Release within minutes of the control.
    pub fast_release: bool,
    pub evening: bool,
}

/// Who controls a declaration and whether they bend it: the colluder picks
/// up most of a linked trader's controls at their office.
pub fn assign(
    seed: u64,
    id: &str,
    trader: Option<&str>,
    office: &str,
    at: i64,
    officers: &[String],
    collusion: &Collusion,
) -> (String, Option<Bent>) {
    if let Some(c) = trader.and_then(|t| collusion.colluder_for(t, office, at, seed, id))
        && keyed_uniform(seed, &format!("collusion/pick/{id}")) < c.params.pick_up
    {
        let p = &c.params;
        let evening = keyed_uniform(seed, &format!("collusion/evening/{id}")) < p.evening;
        return (
            c.officer.clone(),
            Some(Bent {
                finding_factor: p.finding_factor(),
                duration_factor: p.speed,
                fast_release: p.fast_release,
                evening,
            }),
        );
    }
    let officer = if officers.is_empty() {
        "E00000".to_string()
    } else {
        let k = stable_hash(seed, &format!("outcome/officer/{id}")) % officers.len() as u64;
        officers[k as usize].clone()
    };
    (officer, None)
}

/// Moves `t` to the evening (20:00–23:30 local) of its day, never before `not_before`.
pub(crate) fn evening(
    seed: u64,
    id: &str,
    t: DateTime<FixedOffset>,
    not_before: DateTime<FixedOffset>,
) -> DateTime<FixedOffset> {
    let secs = 20 * 3600 + (keyed_uniform(seed, &format!("collusion/evening-time/{id}")) * 3.5 * 3600.0) as i64;
    let midnight = t - Duration::seconds(i64::from(t.num_seconds_from_midnight()));
    let mut e = midnight + Duration::seconds(secs);
    while e < not_before {
        e += Duration::days(1);
    }
    e
}

/// The override an officer makes of a live control (at the declaration's
/// office) before it is carried out, if any: the DATA-style record {declaration_id, officer, at, from,
/// to, reason}.
pub fn simulate_override(
    seed: u64,
    truth: &Truth,
    lane: Lane,
    decided_at: DateTime<FixedOffset>,
    officers: &[String],
    collusion: &Collusion,
) -> Option<Value> {
    let (id, trader, office) = (truth.declaration_id.as_str(), truth.trader.as_deref(), truth.office.as_str());
    let from = match lane {
        Lane::Red => "red",
        Lane::Yellow => "yellow",
    };
    let u = |k: &str| keyed_uniform(seed, &format!("override/{k}/{id}"));
    let at = decided_at + Duration::seconds(300 + (u("delay") * 3300.0) as i64);
    let time = |t: DateTime<FixedOffset>| t.to_rfc3339_opts(SecondsFormat::Secs, false);
    if let Some(c) = trader.and_then(|t| collusion.colluder_for(t, office, decided_at.timestamp(), seed, id)) {
        if u("collude") < c.params.overrides {
            let at = if u("evening") < 0.35 { evening(seed, id, at, at) } else { at };
            let reason = BLAND_REASONS[(u("reason") * BLAND_REASONS.len() as f64) as usize % BLAND_REASONS.len()];
            return Some(json!({"declaration_id": id, "officer": c.officer, "at": time(at),
                               "from": from, "to": "green", "reason": reason}));
        }
        return None;
    }
    if officers.is_empty() || u("honest") >= HONEST_OVERRIDE_RATE {
        return None;
    }
    let officer = &officers[(stable_hash(seed, &format!("override/officer/{id}")) % officers.len() as u64) as usize];
    let (to, reasons) = match lane {
        Lane::Red if u("dir") < 0.5 => ("yellow", HONEST_DOWN_REASONS),
        Lane::Red => ("green", HONEST_DOWN_REASONS),
        Lane::Yellow if u("dir") < 0.6 => ("green", HONEST_DOWN_REASONS),
        Lane::Yellow => ("red", HONEST_UP_REASONS),
    };
    let reason = reasons[(u("reason") * reasons.len() as f64) as usize % reasons.len()];
    Some(json!({"declaration_id": id, "officer": officer, "at": time(at), "from": from, "to": to, "reason": reason}))
}

/// Workforce records (DATA.md): disciplinary cases (colluders are more
/// often among them), internal-affairs inspections, leadership assessments
/// and litigation, over the world's period.
pub(crate) fn workforce(
    w: &World,
    seed: u64,
    collusion: &Collusion,
    start: NaiveDate,
    days: u32,
) -> Vec<(&'static str, Value)> {
    let mut r = Rng::new(stable_hash(seed, "workforce"));
    let mut out = Vec::new();
    let day = |r: &mut Rng| {
        let d = start + Duration::days(r.below(u64::from(days.max(1))) as i64);
        format!("{d}T10:00:00+08:00")
    };
    for o in &w.officers {
        let colluder = collusion.colluders.iter().find(|c| c.officer == o.id);
        if r.chance(colluder.map_or(0.01, |c| c.params.disciplinary)) {
            let kind = *r.pick(&["违规接受宴请", "违反工作纪律", "泄露工作秘密", "违规干预查验"]);
            let status = *r.pick(&["substantiated", "substantiated", "open", "dismissed"]);
            out.push((
                "disciplinary",
                json!({"officer": o.id, "opened_at": day(&mut r), "kind": kind, "status": status}),
            ));
        }
    }
    let year: i32 = start.format("%Y").to_string().parse().unwrap_or(2026);
    for office in &w.offices {
        if office.level == "hq" {
            continue;
        }
        for _ in 0..1 + r.below(2) {
            out.push((
                "inspection",
                json!({"unit": office.code, "inspected_at": day(&mut r), "passed": r.chance(0.97)}),
            ));
        }
        out.push(("assessment", json!({"unit": office.code, "year": year, "passed": r.chance(0.97)})));
        if office.is_field() {
            for k in 0..r.poisson(1.5) {
                let outcome = ["won", "withdrawn", "lost", "pending"][r.weighted(&[0.8, 0.1, 0.04, 0.06])];
                out.push((
                    "litigation",
                    json!({"id": format!("L{}-{year}-{k:03}", office.code), "office": office.code,
                           "filed_at": day(&mut r), "outcome": outcome}),
                ));
            }
        }
    }
    out
}
