//! A seeded synthetic customs world — offices, officers, traders, declarations
//! with planted fraud, forex and VAT records, legacy control outcomes and the
//! ground truth — for demos, tests and benchmarks.
//!
//! Architecture invariant: this crate does no file I/O and never reads the
//! clock; everything is a pure function of [`WorldConfig`], and records leave
//! through the [`Sink`] trait in a deterministic order (reference data first,
//! then declarations in time order with their dependent records).
//!
//! # Planted risk
//!
//! About 2.5% of declarations are fraudulent (history and live alike; the
//! overall rate is calibrated per world). Whether a declaration is fraudulent
//! is drawn from the product of latent drivers, none decisive on its own:
//!
//! * **trader propensity** — by credit class (advanced ≈ never, dishonest ≈ 5×
//!   ordinary), ×2.5 for traders registered less than a year before the world
//!   starts, log-normal spread, and ~3% "bad" traders at 10–30%;
//! * **complicit declarants** (~6% of brokers, ×3), favoured by bad traders;
//! * **shady overseas parties** (~5% per country, ×3), favoured by bad traders;
//! * **goods**: family risk (tobacco, watches, bags, cosmetics, drinks, meat,
//!   cars high; chips, chemicals low) raised by the duty rate;
//! * **routes**: sea/air imports departing from a transhipment hub (SG, MY, HK,
//!   VN) other than the origin ×1.5; exports ×0.3.
//!
//! The kind then follows the drivers (complicit declarant → misclassification,
//! shady party → origin/smuggling, new trader → smuggling) and what is feasible
//! for the largest line, which is the one falsified:
//!
//! * `undervaluation`: declared value = true × U(0.3, 0.75); the forex payment,
//!   when present, carries the true value;
//! * `misclassification`: declared code swapped for a code of the same chapter
//!   and unit with a lower duty; the VAT invoice (when present) keeps the true code;
//! * `origin`: a non-preferential origin declared as VN/MY/SG/TH/KR with a
//!   certificate of origin and a preferential rate, departing from a hub;
//! * `quantity`: declared quantity × U(0.4, 0.8) at the same unit price while
//!   the net weight stays true (kg per unit out of line);
//! * `smuggling`: weak signals only — value cut to × U(0.4, 0.8), weight
//!   × U(1.5, 3) for hidden goods, no certificate, odd routing, new traders.
//!
//! Honest unit prices vary log-normally (σ 0.3 for bulk goods, 0.45 otherwise)
//! around the catalogue value with a per-trader price level, so modest
//! undervaluation is buried in noise. `evaded_duty_cny` is duty plus import VAT
//! (13%) lost, or a 9% rebate-style loss on exports.

mod catalogue;
mod collusion;
mod declaration;
mod outcome;
mod truth;
mod world;

use chrono::{Duration, FixedOffset, NaiveDate, TimeZone};
use riskgate_core::rng::Rng;
use serde_json::{Value, json};
use std::fmt;
use std::io;

pub use collusion::{Colluder, Collusion, CollusionParams, simulate_override};
pub use outcome::{
    AuditResult, Lane, Truth, audit_detection_probability, detection_probability, simulate_audit, simulate_control,
    simulate_outcome,
};

use declaration::{FRAUD_CAP, KINDS, LEGACY_CAP, Scales};

/// Target share of fraudulent declarations.
pub const FRAUD_BASE_RATE: f64 = 0.025;
/// Target share of history declarations the legacy process controlled on its
/// criteria (random controls come on top, see [`LEGACY_RANDOM_RATE`]).
pub const LEGACY_TARGETED_RATE: f64 = 0.05;
pub use declaration::LEGACY_RANDOM_RATE;

/// What world to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldConfig {
    pub seed: u64,
    /// 1.0 ≈ 400 declarations a day, 100k over the default 250 days.
    pub scale: f64,
    /// First day of history.
    pub start: NaiveDate,
    pub history_days: u32,
    pub live_days: u32,
    /// Planted colluding officers (ground truth in `colluders.jsonl`).
    pub colluders: usize,
    /// How they collude.
    pub collusion: CollusionParams,
    /// Post-release fraud (royalties paid abroad after release, left out of
    /// the customs value; only an audit finds it), as a share of the
    /// declarations the fraud drivers would make fraudulent at the border:
    /// 0.15 plants about 0.3% of imports. 0 plants none.
    pub post_release: f64,
}

impl WorldConfig {
    pub fn new(seed: u64, scale: f64) -> Self {
        WorldConfig {
            seed,
            scale,
            start: NaiveDate::from_ymd_opt(2026, 1, 5).expect("valid date"),
            history_days: 150,
            live_days: 100,
            colluders: 4,
            collusion: CollusionParams::default(),
            post_release: 0.15,
        }
    }

    /// First day of live traffic.
    pub fn live_start(&self) -> NaiveDate {
        self.start + Duration::days(i64::from(self.history_days))
    }

    /// The traffic shift of the live period: this office's volume doubles on
    /// the days `[from, until)`.
    pub fn traffic_shift(&self) -> (&'static str, NaiveDate, NaiveDate) {
        let (a, b) = self.shift_days();
        let day = |d: u32| self.start + Duration::days(i64::from(d));
        (catalogue::SHIFT_OFFICE, day(a), day(b))
    }

    fn shift_days(&self) -> (u32, u32) {
        let from = self.history_days + self.live_days * 35 / 100;
        let until = (from + 21).min(self.history_days + self.live_days);
        (from, until)
    }
}

/// The files of a world, each JSON Lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorldFile {
    Offices,
    Officers,
    Enterprises,
    Forex,
    Invoices,
    History,
    HistoryOutcomes,
    Live,
    Truth,
    Colluders,
    Disciplinary,
    Inspections,
    Assessments,
    Litigation,
}

impl WorldFile {
    pub const ALL: [WorldFile; 14] = [
        WorldFile::Offices,
        WorldFile::Officers,
        WorldFile::Enterprises,
        WorldFile::Forex,
        WorldFile::Invoices,
        WorldFile::History,
        WorldFile::HistoryOutcomes,
        WorldFile::Live,
        WorldFile::Truth,
        WorldFile::Colluders,
        WorldFile::Disciplinary,
        WorldFile::Inspections,
        WorldFile::Assessments,
        WorldFile::Litigation,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            WorldFile::Offices => "offices.jsonl",
            WorldFile::Officers => "officers.jsonl",
            WorldFile::Enterprises => "enterprises.jsonl",
            WorldFile::Forex => "forex.jsonl",
            WorldFile::Invoices => "invoices.jsonl",
            WorldFile::History => "history.jsonl",
            WorldFile::HistoryOutcomes => "history_outcomes.jsonl",
            WorldFile::Live => "live.jsonl",
            WorldFile::Truth => "truth.jsonl",
            WorldFile::Colluders => "colluders.jsonl",
            WorldFile::Disciplinary => "disciplinary.jsonl",
            WorldFile::Inspections => "inspections.jsonl",
            WorldFile::Assessments => "assessments.jsonl",
            WorldFile::Litigation => "litigation.jsonl",
        }
    }

    fn index(self) -> usize {
        WorldFile::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// Where generated records go.
pub trait Sink {
    fn record(&mut self, file: WorldFile, value: &Value) -> io::Result<()>;
}

/// Keeps every record in memory, in emission order (tests and small demos).
#[derive(Debug, Default)]
pub struct MemorySink {
    pub records: Vec<(WorldFile, Value)>,
}

impl MemorySink {
    pub fn of(&self, file: WorldFile) -> impl Iterator<Item = &Value> {
        self.records.iter().filter(move |(f, _)| *f == file).map(|(_, v)| v)
    }
}

impl Sink for MemorySink {
    fn record(&mut self, file: WorldFile, value: &Value) -> io::Result<()> {
        self.records.push((file, value.clone()));
        Ok(())
    }
}

/// Discards records (when only the summary is wanted).
#[derive(Debug, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn record(&mut self, _: WorldFile, _: &Value) -> io::Result<()> {
        Ok(())
    }
}

/// Writes each file as JSON Lines to its own writer (e.g. a buffered file).
pub struct JsonlSink<W: io::Write> {
    writers: Vec<W>,
}

impl<W: io::Write> JsonlSink<W> {
    /// `open` is called once per [`WorldFile`], in [`WorldFile::ALL`] order.
    pub fn new(mut open: impl FnMut(WorldFile) -> io::Result<W>) -> io::Result<Self> {
        let writers = WorldFile::ALL.iter().map(|f| open(*f)).collect::<io::Result<Vec<W>>>()?;
        Ok(JsonlSink { writers })
    }

    pub fn into_writers(self) -> Vec<W> {
        self.writers
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writers.iter_mut().try_for_each(|w| w.flush())
    }
}

impl<W: io::Write> Sink for JsonlSink<W> {
    fn record(&mut self, file: WorldFile, value: &Value) -> io::Result<()> {
        let w = &mut self.writers[file.index()];
        serde_json::to_writer(&mut *w, value)?;
        w.write_all(b"\n")
    }
}

/// Counts of what a world holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorldSummary {
    /// Records per file, in [`WorldFile::ALL`] order.
    pub records: [u64; 14],
    pub history_declarations: u64,
    pub live_declarations: u64,
    pub history_fraud: u64,
    pub live_fraud: u64,
    /// Fraudulent declarations per kind, in DATA.md finding words.
    pub fraud_by_kind: Vec<(&'static str, u64)>,
    pub evaded_duty_cny: f64,
    pub legacy_controls: u64,
    pub legacy_random: u64,
    pub legacy_findings: u64,
    /// Calibrated multipliers (for diagnostics).
    pub fraud_scale: f64,
    pub legacy_scale: f64,
}

impl WorldSummary {
    pub fn count(&self, file: WorldFile) -> u64 {
        self.records[file.index()]
    }
    pub fn history_base_rate(&self) -> f64 {
        ratio(self.history_fraud, self.history_declarations)
    }
    pub fn live_base_rate(&self) -> f64 {
        ratio(self.live_fraud, self.live_declarations)
    }
    pub fn legacy_control_rate(&self) -> f64 {
        ratio(self.legacy_controls, self.history_declarations)
    }
    pub fn to_json(&self) -> Value {
        let files: serde_json::Map<String, Value> =
            WorldFile::ALL.iter().map(|f| (f.file_name().to_string(), Value::from(self.count(*f)))).collect();
        let kinds: serde_json::Map<String, Value> =
            self.fraud_by_kind.iter().map(|(k, n)| (k.to_string(), Value::from(*n))).collect();
        json!({
            "files": files,
            "history_declarations": self.history_declarations,
            "live_declarations": self.live_declarations,
            "history_fraud": self.history_fraud,
            "live_fraud": self.live_fraud,
            "history_base_rate": self.history_base_rate(),
            "live_base_rate": self.live_base_rate(),
            "fraud_by_kind": kinds,
            "evaded_duty_cny": (self.evaded_duty_cny * 100.0).round() / 100.0,
            "legacy_controls": self.legacy_controls,
            "legacy_random": self.legacy_random,
            "legacy_findings": self.legacy_findings,
            "legacy_control_rate": self.legacy_control_rate(),
        })
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl fmt::Display for WorldSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in WorldFile::ALL {
            writeln!(f, "{:<24}{:>9}", file.file_name(), self.count(file))?;
        }
        writeln!(
            f,
            "fraud: history {}/{} ({:.2}%), live {}/{} ({:.2}%)",
            self.history_fraud,
            self.history_declarations,
            100.0 * self.history_base_rate(),
            self.live_fraud,
            self.live_declarations,
            100.0 * self.live_base_rate()
        )?;
        let kinds: Vec<String> = self.fraud_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(f, "kinds: {}", kinds.join(", "))?;
        write!(
            f,
            "legacy controls: {} ({:.2}%), random {}, findings {}",
            self.legacy_controls,
            100.0 * self.legacy_control_rate(),
            self.legacy_random,
            self.legacy_findings
        )
    }
}

/// Hour-of-day weights: ports and borders work office hours, airports round the clock.
const HOURS_OFFICE: [f64; 24] = [
    0.2, 0.2, 0.2, 0.2, 0.2, 0.3, 0.5, 1.0, 3.0, 4.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.6, 0.4,
    0.3,
];
const HOURS_AIR: [f64; 24] = [
    0.8, 0.7, 0.6, 0.6, 0.6, 0.8, 1.0, 1.5, 2.5, 3.0, 3.0, 3.0, 2.5, 2.5, 3.0, 3.0, 3.0, 2.5, 2.0, 2.0, 1.8, 1.5, 1.2,
    1.0,
];

fn draw_count(r: &mut Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        0
    } else if mean < 30.0 {
        r.poisson(mean)
    } else {
        (mean + mean.sqrt() * r.normal()).round().max(0.0) as u64
    }
}

/// Generates the whole world into `sink`. Same config ⇒ same records in the
/// same order.
pub fn generate(cfg: &WorldConfig, sink: &mut dyn Sink) -> io::Result<WorldSummary> {
    if !(cfg.scale.is_finite() && cfg.scale > 0.0 && cfg.scale <= 1000.0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("scale must be in (0, 1000], got {}", cfg.scale),
        ));
    }
    let mut root = Rng::new(cfg.seed);
    let mut w = world::build(cfg, &mut root);
    // Own streams: planting colluders never changes the rest of the world.
    cfg.collusion.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    if cfg.collusion.start_day >= cfg.history_days + cfg.live_days {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "collusion start day: expected a day before the world's end ({}), got {}",
                cfg.history_days + cfg.live_days,
                cfg.collusion.start_day
            ),
        ));
    }
    let collusion = collusion::plant(&mut w, cfg.seed, cfg.colluders, cfg.start, &cfg.collusion);
    let mut traffic = root.fork(10);
    let mut calibration = root.fork(11);
    let mut summary =
        WorldSummary { fraud_by_kind: KINDS.iter().map(|k| (k.as_str(), 0)).collect(), ..Default::default() };
    let mut emit = |summary: &mut WorldSummary, file: WorldFile, v: &Value| {
        summary.records[file.index()] += 1;
        sink.record(file, v)
    };

    // Calibrate fraud and legacy-control rates on sampled drivers.
    let field: Vec<usize> = (0..w.offices.len()).filter(|&i| w.offices[i].is_field()).collect();
    let share_cum = world::cumulative(field.iter().map(|&i| w.office_share[i]));
    let (mut fraud_w, mut legacy_w) = (Vec::with_capacity(20_000), Vec::with_capacity(20_000));
    for _ in 0..20_000 {
        let office = field[world::pick_cum(&mut calibration, &share_cum)];
        let c = declaration::draw_context(&w, office, &mut calibration);
        fraud_w.push(declaration::fraud_weight(&w, &c));
        legacy_w.push(declaration::legacy_weight_noisy(&w, &c, &mut calibration));
    }
    let scales = Scales {
        fraud: declaration::calibrate(&fraud_w, FRAUD_BASE_RATE, FRAUD_CAP),
        legacy: declaration::calibrate(&legacy_w, LEGACY_TARGETED_RATE, LEGACY_CAP),
        post_release: cfg.post_release,
    };
    summary.fraud_scale = scales.fraud;
    summary.legacy_scale = scales.legacy;

    for o in &w.offices {
        emit(&mut summary, WorldFile::Offices, &w.office_json(o))?;
    }
    for o in &w.officers {
        emit(&mut summary, WorldFile::Officers, &w.officer_json(o))?;
    }
    for t in &w.traders {
        emit(&mut summary, WorldFile::Enterprises, &w.trader_json(t))?;
    }
    for d in &w.declarants {
        emit(&mut summary, WorldFile::Enterprises, &w.declarant_json(d))?;
    }
    for c in &collusion.colluders {
        emit(&mut summary, WorldFile::Colluders, &Collusion::to_json(c))?;
    }
    for (kind, v) in collusion::workforce(&w, cfg.seed, &collusion, cfg.start, cfg.history_days + cfg.live_days) {
        let file = match kind {
            "disciplinary" => WorldFile::Disciplinary,
            "inspection" => WorldFile::Inspections,
            "assessment" => WorldFile::Assessments,
            _ => WorldFile::Litigation,
        };
        emit(&mut summary, file, &v)?;
    }

    let tz = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    let (shift_from, shift_until) = cfg.shift_days();
    let mut sequence = vec![0u64; w.offices.len()];
    let mut serial = 0u64;
    let mut slots: Vec<(u32, usize)> = Vec::new();
    for day in 0..cfg.history_days + cfg.live_days {
        let date = cfg.start + Duration::days(i64::from(day));
        let history = day < cfg.history_days;
        let mean = 400.0 * cfg.scale * world::day_factor(date);
        slots.clear();
        for &oi in &field {
            let office = &w.offices[oi];
            let boost = if office.code == catalogue::SHIFT_OFFICE && (shift_from..shift_until).contains(&day) {
                2.0
            } else {
                1.0
            };
            let n = draw_count(&mut traffic, mean * w.office_share[oi] * boost);
            let hours: &[f64] = if office.modes[1] > 0.5 { &HOURS_AIR } else { &HOURS_OFFICE };
            for _ in 0..n {
                let secs = traffic.weighted(hours) as u32 * 3600 + traffic.below(3600) as u32;
                slots.push((secs, oi));
            }
        }
        slots.sort_unstable();
        let midnight = tz
            .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
            .single()
            .expect("fixed offsets are unambiguous");
        let year = date.format("%Y").to_string();
        for &(secs, oi) in &slots {
            sequence[oi] += 1;
            serial += 1;
            let id = format!("{}{}{:010}", w.offices[oi].code, year, sequence[oi]);
            let declared_at = midnight + Duration::seconds(i64::from(secs));
            let g = declaration::generate_declaration(
                &w,
                cfg.seed,
                &scales,
                &id,
                serial,
                declared_at,
                oi,
                history,
                &collusion,
            );
            if let Some(k) = g.kind {
                summary.fraud_by_kind[KINDS.iter().position(|x| *x == k).unwrap_or(0)].1 += 1;
                summary.evaded_duty_cny += g.truth["evaded_duty_cny"].as_f64().unwrap_or(0.0);
            }
            if history {
                summary.history_declarations += 1;
                summary.history_fraud += u64::from(g.kind.is_some());
                emit(&mut summary, WorldFile::History, &g.declaration)?;
            } else {
                summary.live_declarations += 1;
                summary.live_fraud += u64::from(g.kind.is_some());
                emit(&mut summary, WorldFile::Live, &g.declaration)?;
            }
            emit(&mut summary, WorldFile::Truth, &g.truth)?;
            for p in &g.forex {
                emit(&mut summary, WorldFile::Forex, p)?;
            }
            if let Some(inv) = &g.invoice {
                emit(&mut summary, WorldFile::Invoices, inv)?;
            }
            if let Some((o, random)) = &g.outcome {
                summary.legacy_controls += 1;
                summary.legacy_random += u64::from(*random);
                summary.legacy_findings += u64::from(o["result"] == "finding");
                emit(&mut summary, WorldFile::HistoryOutcomes, o)?;
            }
        }
    }
    Ok(summary)
}
