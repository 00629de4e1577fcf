//! `riskgate generate`, `riskgate simulate` and `riskgate demo`: a seeded
//! synthetic world in DATA.md formats, officers that complete the controls
//! the engine ordered (using the world's ground truth), and the demo that
//! runs the whole path end to end.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter};
use std::path::Path;

use anyhow::{Context, Result};
use riskgate_core::{Channel, Decision, WorkforceRecord};
use riskgate_synth::{Collusion, JsonlSink, Lane, Truth, WorldConfig, WorldFile};

use crate::import::records;
use crate::jsonl;
use crate::screen::ScreenOptions;
use riskgate_app::App;
use riskgate_app::imports;
use riskgate_app::screening::Clock;

pub fn generate(seed: u64, scale: f64, out: &Path) -> Result<riskgate_synth::WorldSummary> {
    generate_with(seed, scale, WorldConfig::new(seed, scale).colluders, out)
}

/// A world with `colluders` planted colluding officers (0: none).
pub fn generate_with(seed: u64, scale: f64, colluders: usize, out: &Path) -> Result<riskgate_synth::WorldSummary> {
    generate_world(&WorldConfig { colluders, ..WorldConfig::new(seed, scale) }, out)
}

/// A world as `cfg` says (colluders and how they collude included).
pub fn generate_world(cfg: &WorldConfig, out: &Path) -> Result<riskgate_synth::WorldSummary> {
    let scale = cfg.scale;
    anyhow::ensure!(scale > 0.0 && scale <= 100.0, "--scale: expected a number above 0 and at most 100, got {scale}");
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut sink =
        JsonlSink::new(|f| File::create(out.join(f.file_name())).map(|f| BufWriter::with_capacity(1 << 20, f)))?;
    let summary = riskgate_synth::generate(cfg, &mut sink)?;
    sink.flush()?;
    Ok(summary)
}

/// How planted colluders behave: a preset, then any figure changed by its
/// own flag (`riskgate generate --collusion quiet --collusion-start-day 180`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CollusionArgs {
    /// Preset: `loud` (the default: 70% of the linked traders' controls, 85%
    /// of findings hidden, a third of the time, evenings, 40% overrides, 7–10
    /// years in post) or `quiet` (40%, half hidden, normal speed and hours,
    /// 10% overrides, 1–3 years in post).
    #[arg(long, value_name = "PRESET")]
    pub collusion: Option<String>,
    /// Share of a linked trader's controls the colluder picks up on purpose (0–1).
    #[arg(long, value_name = "SHARE")]
    pub collusion_pick_up: Option<f64>,
    /// Share of the findings the colluder would have made that they hide (0–1).
    #[arg(long, value_name = "SHARE")]
    pub collusion_hide: Option<f64>,
    /// Factor on the duration of the colluder's bent controls (1 = normal speed).
    #[arg(long, value_name = "FACTOR")]
    pub collusion_speed: Option<f64>,
    /// Share of bent controls completed in the evening (0–1).
    #[arg(long, value_name = "SHARE")]
    pub collusion_evening: Option<f64>,
    /// Share of a linked trader's live controls overridden to green (0–1).
    #[arg(long, value_name = "SHARE")]
    pub collusion_overrides: Option<f64>,
    /// Years in post at the start of the world, `MIN..MAX` (e.g. `1..3`).
    #[arg(long, value_name = "MIN..MAX")]
    pub collusion_tenure: Option<String>,
    /// Day of the world (0 = its first day) from which colluders collude;
    /// before it they behave like everyone else.
    #[arg(long, value_name = "DAY")]
    pub collusion_start_day: Option<u32>,
    /// Officers per ring (1–8): K > 1 plants rings of K colluders of one
    /// office who share the same traders and split the pick-up among them
    /// (`--colluders` counts officers). Default 1: each colluder alone.
    #[arg(long, value_name = "K")]
    pub collusion_ring: Option<usize>,
}

impl CollusionArgs {
    pub fn params(&self) -> Result<riskgate_synth::CollusionParams> {
        let mut p = match self.collusion.as_deref() {
            None | Some("loud") => riskgate_synth::CollusionParams::default(),
            Some("quiet") => riskgate_synth::CollusionParams::quiet(),
            Some(other) => anyhow::bail!("--collusion: expected `loud` or `quiet`, got {other:?}"),
        };
        let set = |v: Option<f64>, slot: &mut f64| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(self.collusion_pick_up, &mut p.pick_up);
        set(self.collusion_hide, &mut p.hide);
        set(self.collusion_speed, &mut p.speed);
        set(self.collusion_evening, &mut p.evening);
        set(self.collusion_overrides, &mut p.overrides);
        if self.collusion_speed.is_some_and(|s| s >= 0.5) {
            // Normal-paced work releases at the normal pace too.
            p.fast_release = false;
        }
        if let Some(t) = &self.collusion_tenure {
            let parsed = t.split_once("..").and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
            p.tenure_years = parsed
                .with_context(|| format!("--collusion-tenure: expected MIN..MAX in years (e.g. 1..3), got {t:?}"))?;
        }
        if let Some(d) = self.collusion_start_day {
            p.start_day = d;
        }
        if let Some(k) = self.collusion_ring {
            p.ring = k;
        }
        p.validate().map_err(|e| anyhow::anyhow!("--{}", e.replace("collusion ", "collusion-").replace('_', "-")))?;
        Ok(p)
    }
}

fn read_truth(path: &Path) -> Result<HashMap<String, Truth>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = HashMap::new();
    for line in BufReader::new(f).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        if let Some(t) = Truth::from_json(&v) {
            out.insert(t.declaration_id.clone(), t);
        }
    }
    Ok(out)
}

/// The planted colluders listed next to a world's truth.jsonl (none if the file is absent).
pub fn read_collusion(world: &Path) -> Result<Collusion> {
    let p = world.join(WorldFile::Colluders.file_name());
    if !p.exists() {
        return Ok(Collusion::default());
    }
    let values: Vec<serde_json::Value> = jsonl::read(&p)?.into_iter().filter_map(|l| l.value.ok()).collect();
    Ok(Collusion::from_json(&values))
}

/// Writes the outcomes officers would record for the controlled decisions
/// in `decisions`, judged against the world's ground truth, and the
/// overrides officers make before controlling (to `overrides`, when given;
/// an overridden-to-green control has no outcome).
pub fn simulate(
    app: &App,
    seed: u64,
    truth: &Path,
    decisions: &Path,
    out: &Path,
    overrides: Option<&Path>,
) -> Result<usize> {
    let collusion = read_collusion(truth.parent().unwrap_or(Path::new(".")))?;
    let truth = read_truth(truth)?;
    let mut officers: HashMap<String, Vec<String>> = HashMap::new();
    for o in app.store.officers()? {
        if o.post == "inspection" || o.post == "document_review" {
            officers.entry(o.office.clone()).or_default().push(o.id.clone());
        }
    }
    let mut w = jsonl::Writer::create(out)?;
    let mut ow = overrides.map(jsonl::Writer::create).transpose()?;
    let mut n = 0;
    for l in jsonl::read(decisions)? {
        let Ok(v) = l.value else { continue };
        let Ok(d) = serde_json::from_value::<Decision>(v) else { continue };
        let lane = match d.channel {
            Channel::Red => Lane::Red,
            Channel::Yellow => Lane::Yellow,
            Channel::Green => continue,
        };
        let Some(t) = truth.get(&d.declaration_id) else { continue };
        let offs = officers.get(&d.office).map(Vec::as_slice).unwrap_or(&[]);
        let mut lane = lane;
        if let Some(ow) = ow.as_mut() {
            let o = riskgate_synth::simulate_override(seed, t, lane, d.decided_at, offs, &collusion);
            if let Some(o) = o {
                ow.write(&o)?;
                match Lane::parse(o["to"].as_str().unwrap_or("green")) {
                    Some(l) => lane = l,
                    None => continue,
                }
            }
        }
        w.write(&riskgate_synth::simulate_control(seed, t, lane, d.decided_at, offs, &collusion))?;
        n += 1;
    }
    w.finish()?;
    if let Some(ow) = ow {
        ow.finish()?;
    }
    Ok(n)
}

/// Plays the audit department: every open post-clearance audit case an
/// audit plan chose is accepted, started and concluded with what an audit
/// finds, judged by the world's truth (`riskgate_synth::simulate_audit`),
/// through the same use case a department user takes
/// (`riskgate_app::cases::step`), so the result comes back as an audit
/// outcome with its selection probability. Returns (audits, findings).
pub fn simulate_audits(app: &mut App, seed: u64, truth: &Path) -> Result<(usize, usize)> {
    use riskgate_app::cases::{self, Actor, StepBody};
    use riskgate_core::{CaseKind, CaseQuery, CaseResult, CaseStatus, CaseStep};
    let truth = read_truth(truth)?;
    let q = CaseQuery { kind: Some(CaseKind::PostClearanceAudit), ..Default::default() };
    let open: Vec<_> =
        app.store.cases(&q)?.into_iter().filter(|c| c.selection.is_some() && c.status.is_open()).collect();
    let actor = Actor::operator();
    let (mut n, mut found) = (0, 0);
    for c in open {
        let Some(t) = c.declaration_id.as_ref().and_then(|d| truth.get(d)) else { continue };
        let r = riskgate_synth::simulate_audit(seed, t);
        let mut steps = match c.status {
            CaseStatus::Opened => vec![CaseStep::Accept, CaseStep::Start],
            CaseStatus::Accepted => vec![CaseStep::Start],
            _ => vec![],
        };
        steps.push(CaseStep::Conclude);
        for step in steps {
            let body = if step == CaseStep::Conclude {
                StepBody {
                    result: Some(CaseResult {
                        findings: r.findings.clone(),
                        additional_duty: r.additional_duty,
                        penalty: 0.0,
                        seizure: r.smuggling,
                        summary: r.summary.clone(),
                    }),
                    ..Default::default()
                }
            } else {
                StepBody::default()
            };
            cases::step(app, &actor, c.id, step, body)?;
        }
        n += 1;
        found += usize::from(r.found);
    }
    Ok((n, found))
}

/// The demo screens live traffic in periods of this many days, with the
/// controls completed and the model retrained after each.
const DEMO_PERIOD_DAYS: i64 = 14;

/// The demo rules, one rule file each.
const DEMO_RULES: &[(&str, &str)] = &[
    ("R-UV-001", include_str!("demo_rules/R-UV-001.toml")),
    ("R-FX-001", include_str!("demo_rules/R-FX-001.toml")),
    ("R-DIS-001", include_str!("demo_rules/R-DIS-001.toml")),
];

/// A rule the demo leaves waiting for a second analyst's approval, so the
/// rules page has work on it.
const DEMO_PENDING_RULE: (&str, &str) = ("R-OV-001", include_str!("demo_rules/R-OV-001.toml"));

/// The demo leaves the controls decided in its last this many hours open,
/// so the workbench and the managers' views have work on them.
const DEMO_OPEN_HOURS: i64 = 24;

/// Imports a generated world's registry, payments, history and history
/// outcomes into the app's store.
pub fn load_world(app: &mut App, world: &Path, verbose: bool) -> Result<()> {
    let f = |w: WorldFile| world.join(w.file_name());
    type Import<'a> = &'a dyn Fn(&mut App, &Path) -> Result<crate::import::Summary>;
    let work = |parse| move |a: &mut App, p: &Path| records(a, p, imports::workforce(parse));
    // Worlds generated before workforce records existed have no such files:
    // those steps (the last four) are skipped when their file is missing.
    let steps: [(&str, Import, WorldFile); 11] = [
        ("offices", &|a, p| records(a, p, imports::OFFICES), WorldFile::Offices),
        ("officers", &|a, p| records(a, p, imports::OFFICERS), WorldFile::Officers),
        ("enterprises", &|a, p| records(a, p, imports::ENTERPRISES), WorldFile::Enterprises),
        ("forex", &|a, p| records(a, p, imports::FOREX), WorldFile::Forex),
        ("invoices", &|a, p| records(a, p, imports::INVOICES), WorldFile::Invoices),
        ("history", &crate::import::import_historical, WorldFile::History),
        ("history outcomes", &|a, p| records(a, p, imports::OUTCOMES), WorldFile::HistoryOutcomes),
        ("disciplinary cases", &work(WorkforceRecord::disciplinary_from_json), WorldFile::Disciplinary),
        ("inspections", &work(WorkforceRecord::inspection_from_json), WorldFile::Inspections),
        ("assessments", &work(WorkforceRecord::assessment_from_json), WorldFile::Assessments),
        ("litigation cases", &work(WorkforceRecord::litigation_from_json), WorldFile::Litigation),
    ];
    for (i, (what, import, file)) in steps.into_iter().enumerate() {
        if i >= 7 && !f(file).exists() {
            continue;
        }
        let s = import(app, &f(file))?;
        anyhow::ensure!(s.rejected == 0, "{what}: {} records of the generated world were rejected", s.rejected);
        if verbose {
            eprintln!("{}", s.line(what));
        }
    }
    Ok(())
}

/// Adds the demo rules as one analyst and approves them as another.
pub fn add_demo_rules(app: &mut App, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let user = app.user.clone();
    let rules = DEMO_RULES.iter().map(|r| (r, true)).chain([(&DEMO_PENDING_RULE, false)]);
    for ((id, text), approved) in rules {
        let p = dir.join(format!("{id}.toml"));
        std::fs::write(&p, text)?;
        app.user = "li.analyst".into();
        crate::rules_file::add(app, &p)?;
        if approved {
            app.user = "wang.chief".into();
            riskgate_app::rules::approve(app, id, None)?;
        }
    }
    app.user = user;
    app.reload()
}

/// Screens the live traffic (stamped with declaration time), then lets the
/// simulated officers complete the controls. Returns the screening summary
/// and its wall time.
pub fn screen_live(app: &mut App, world: &Path, seed: u64, out_dir: &Path) -> Result<(crate::import::Summary, f64)> {
    screen_file(app, &world.join(WorldFile::Live.file_name()), world, seed, out_dir, "", 0)
}

/// Screens one file of live traffic and completes its controls, but for
/// those decided in the file's last `open_hours` hours (left open);
/// decisions and outcomes go to `out_dir/decisions{suffix}.jsonl` and
/// `live_outcomes{suffix}.jsonl`.
pub fn screen_file(
    app: &mut App,
    live: &Path,
    world: &Path,
    seed: u64,
    out_dir: &Path,
    suffix: &str,
    open_hours: i64,
) -> Result<(crate::import::Summary, f64)> {
    let decisions = out_dir.join(format!("decisions{suffix}.jsonl"));
    let opts =
        ScreenOptions { out: Some(decisions.clone()), clock: Clock::Declared, quiet: true, ..Default::default() };
    let t = std::time::Instant::now();
    let sum = crate::screen::screen_values(app, live, None, &opts)?;
    let secs = t.elapsed().as_secs_f64();
    let outcomes = out_dir.join(format!("live_outcomes{suffix}.jsonl"));
    let overrides = out_dir.join(format!("overrides{suffix}.jsonl"));
    simulate(app, seed, &world.join(WorldFile::Truth.file_name()), &decisions, &outcomes, Some(&overrides))?;
    if open_hours > 0 {
        leave_open(&decisions, &outcomes, open_hours)?;
    }
    // Overrides come before the controls they replace.
    crate::import::import_overrides(app, &overrides)?;
    records(app, &outcomes, imports::OUTCOMES)?;
    Ok((sum, secs))
}

/// Drops from `outcomes` the controls of declarations decided in the last
/// `hours` hours of `decisions`: they stay open, as the newest controls of
/// a working day do.
fn leave_open(decisions: &Path, outcomes: &Path, hours: i64) -> Result<()> {
    let decided: Vec<(String, i64)> = jsonl::read(decisions)?
        .into_iter()
        .filter_map(|l| l.value.ok())
        .filter_map(|v| {
            let at = chrono::DateTime::parse_from_rfc3339(v["decided_at"].as_str()?).ok()?;
            Some((v["declaration_id"].as_str()?.to_string(), at.timestamp()))
        })
        .collect();
    let Some(last) = decided.iter().map(|d| d.1).max() else { return Ok(()) };
    let open: std::collections::HashSet<&str> =
        decided.iter().filter(|d| d.1 > last - hours * 3600).map(|d| d.0.as_str()).collect();
    let kept: Vec<String> = std::fs::read_to_string(outcomes)?
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["declaration_id"].as_str().map(|id| !open.contains(id)))
                .unwrap_or(true)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(outcomes, kept.concat())?;
    Ok(())
}

/// Splits a JSONL file of declarations (in time order) into files of
/// `days` days each.
pub fn split_by_days(file: &Path, days: i64, out_dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    use std::io::Write;
    std::fs::create_dir_all(out_dir)?;
    let mut files = Vec::new();
    let mut current: Option<(i64, std::io::BufWriter<File>)> = None;
    for line in BufReader::new(File::open(file)?).lines() {
        let line = line?;
        let v: serde_json::Value = serde_json::from_str(&line)?;
        let at = v["declared_at"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .with_context(|| format!("{}: a declaration without declared_at", file.display()))?;
        let day = at.timestamp().div_euclid(86_400);
        let start_new = current.as_ref().is_none_or(|(start, _)| day >= start + days);
        if start_new {
            if let Some((_, mut w)) = current.take() {
                w.flush()?;
            }
            let p = out_dir.join(format!("part-{:03}.jsonl", files.len()));
            current = Some((day, std::io::BufWriter::new(File::create(&p)?)));
            files.push(p);
        }
        let (_, w) = current.as_mut().expect("opened above");
        writeln!(w, "{line}")?;
    }
    if let Some((_, mut w)) = current {
        w.flush()?;
    }
    Ok(files)
}

/// Runs the whole path: world → history → rules → model → live screening →
/// controls completed → KPIs → three explained decisions.
pub fn demo(at: &riskgate_app::app::StoreAt, data: &Path, seed: u64, scale: f64, colluders: usize) -> Result<()> {
    let world = data.join("world");
    eprintln!(
        "1/8 generating a world (seed {seed}, scale {scale}, {colluders} planted colluders) in {}",
        world.display()
    );
    let s = generate_with(seed, scale, colluders, &world)?;
    eprintln!(
        "    {} history and {} live declarations; {:.2}% of live ones fraudulent (ground truth in truth.jsonl)",
        s.history_declarations,
        s.live_declarations,
        100.0 * s.live_fraud as f64 / s.live_declarations.max(1) as f64
    );
    let mut app = App::open_at(at, "demo-admin")?;
    let mut seed_action = app.action("setting", "seed");
    seed_action.after = Some(serde_json::json!(seed));
    app.store.set_setting("seed", &seed.to_string(), &seed_action)?;
    app.reload()?;
    eprintln!("2/8 importing the registry, payments and history");
    load_world(&mut app, &world, true)?;
    eprintln!(
        "3/8 adding three rules as analyst 'li.analyst', approving them as 'wang.chief'; a fourth waits for approval"
    );
    add_demo_rules(&mut app, &data.join("rules"))?;
    eprintln!("4/8 training the risk model on the history's controls and activating it");
    let learned = match riskgate_app::model::train_and_register(&mut app, &riskgate_app::model::TrainOptions::default())
    {
        Ok((id, evaluation)) => {
            crate::render::print_evaluation(&id, &evaluation);
            riskgate_app::model::set_status(&mut app, &id, "active")?;
            app.reload()?;
            true
        }
        // A small world may not hold enough controls to learn from.
        Err(e) => {
            eprintln!("    no model trained ({e:#}); screening with the statistical scorer");
            false
        }
    };
    eprintln!(
        "5/8 screening the live declarations {DEMO_PERIOD_DAYS} days at a time; 6/8 after each period officers \
         complete its controls (simulated against the ground truth) and the model is trained again on every \
         outcome so far and made active (as `serve --retrain-every {DEMO_PERIOD_DAYS}d --retrain-activate` does)"
    );
    let parts = split_by_days(&world.join(WorldFile::Live.file_name()), DEMO_PERIOD_DAYS, &data.join("parts"))?;
    let mut sum = riskgate_app::imports::Summary::default();
    let mut secs = 0.0;
    let mut decision_files = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let suffix = format!("-{i:03}");
        // The last period's newest controls stay open (work for the console).
        let open_hours = if i + 1 == parts.len() { DEMO_OPEN_HOURS } else { 0 };
        let (s, t) = screen_file(&mut app, part, &world, seed, data, &suffix, open_hours)?;
        sum.accepted += s.accepted;
        sum.rejected += s.rejected;
        sum.duplicates += s.duplicates;
        secs += t;
        decision_files.push(data.join(format!("decisions{suffix}.jsonl")));
        if i + 1 == parts.len() {
            // The last period's outcomes are in: a model trained on every
            // outcome, evaluated on the latest quarter of them (mostly the
            // live window's controls), is the one a new period would use.
            match riskgate_app::model::train_and_register(&mut app, &riskgate_app::model::TrainOptions::default()) {
                Ok((id, e)) => {
                    riskgate_app::model::set_status(&mut app, &id, "active")?;
                    app.reload()?;
                    eprintln!("    after the last period, the model trained on every outcome so far:");
                    crate::render::print_evaluation(&id, &e);
                }
                Err(e) => eprintln!("    after the last period: no model trained ({e:#})"),
            }
            break;
        }
        match riskgate_app::model::train_and_register(&mut app, &riskgate_app::model::TrainOptions::default()) {
            Ok((id, e)) => {
                riskgate_app::model::set_status(&mut app, &id, "active")?;
                app.reload()?;
                eprintln!(
                    "    period {}: {} declarations; model {id} trained on {} outcomes ({} findings) and active",
                    i + 1,
                    s.accepted,
                    e.deployed_rows,
                    e.deployed_findings
                );
            }
            Err(e) if learned => eprintln!("    period {}: model not retrained ({e:#})", i + 1),
            Err(_) => eprintln!("    period {}: {} declarations", i + 1, s.accepted),
        }
    }
    eprintln!("{}", sum.line("live declarations"));
    eprintln!("    {:.0} declarations per second", sum.accepted as f64 / secs);
    let (e, g) = riskgate_app::levels::recompute(&mut app)?;
    eprintln!("    risk levels recomputed for {e} enterprises and {g} HS6 codes (`riskgate levels enterprises`)");
    eprintln!("7/8 KPIs\n");
    riskgate_app::kpi::fold(app.store.as_mut(), std::time::Duration::MAX)?;
    let units = riskgate_app::kpi::report(app.store.as_ref(), None, None)?;
    crate::render::print_table(&units)?;
    crate::render::print_workforce(&units);
    eprintln!("\n    integrity: officers ranked against peers (`riskgate integrity officers`), top 10\n");
    let report = riskgate_app::integrity::report(&mut app, "officers (demo)", None, None, &Default::default())?;
    // As `serve --integrity-every` would: new warnings reach the
    // supervisors' inbox (and their event namespace).
    let pushed = riskgate_app::integrity::notify_warnings(&mut app, &report)?;
    eprintln!("    {} warnings pushed to the integrity supervisors' inbox", pushed.len());
    let top: Vec<_> = report.officers.iter().take(10).collect();
    crate::render::print_list(&top, "officers", false)?;
    let planted = read_collusion(&world)?;
    let found = planted.colluders.iter().filter(|c| top.iter().any(|s| s.id == c.officer)).count();
    eprintln!(
        "    planted colluders (ground truth in colluders.jsonl) in the top 10: {found} of {}",
        planted.colluders.len()
    );
    eprintln!("\n8/8 three explained decisions\n");
    let mut shown = Vec::new();
    for l in decision_files.iter().map(|f| jsonl::read(f)).collect::<Result<Vec<_>>>()?.into_iter().flatten() {
        let Ok(v) = l.value else { continue };
        let Ok(d) = serde_json::from_value::<Decision>(v) else { continue };
        let kind = match d.source {
            riskgate_core::Source::Rule => "rule",
            riskgate_core::Source::Score if d.rule_hits().next().is_some() => "score+rule",
            riskgate_core::Source::Score => "score",
            riskgate_core::Source::Random => "random",
            _ => continue,
        };
        if shown.iter().any(|(k, _)| *k == kind) || (kind == "score+rule" && shown.iter().any(|(k, _)| *k == "score")) {
            continue;
        }
        shown.push((kind, d));
        if shown.len() == 3 {
            break;
        }
    }
    for (kind, d) in &shown {
        println!("{}", riskgate_app::explain::explain(d, kind));
    }
    demo_users(&mut app)?;
    println!(
        "The data stays in {}: try `riskgate --data {} kpi`, `rules list`, `model list`, `decision ID`.",
        data.display(),
        data.display()
    );
    Ok(())
}

/// One login per role for the console and the API (demo passwords; the
/// machine account gets an API token). Printed at the end of the demo.
pub fn demo_users(app: &mut App) -> Result<()> {
    use riskgate_core::OfficeLevel;
    let offices = app.store.offices()?;
    let hq = offices.iter().find(|o| o.level == OfficeLevel::Hq).map(|o| o.code.clone());
    let district = offices.iter().find(|o| o.level == OfficeLevel::District).map(|o| o.code.clone());
    let office = offices
        .iter()
        .find(|o| o.level == OfficeLevel::Office && o.parent == district)
        .or_else(|| offices.iter().find(|o| o.level == OfficeLevel::Office))
        .map(|o| o.code.clone());
    type Login<'a> = (&'a str, &'a str, &'a Option<String>, Option<&'a str>, &'a str);
    // Display names in Chinese: the console shows the role beside them.
    let users: [Login<'_>; 8] = [
        ("officer", "field_officer", &office, None, "张警官"),
        ("analyst", "risk_analyst", &hq, None, "李分析"),
        ("analyst2", "risk_analyst", &hq, None, "王审核（复核）"),
        ("district", "district_manager", &district, None, "赵关长"),
        ("hq", "hq_manager", &hq, None, "陈署长"),
        ("integrity", "integrity_supervisor", &hq, None, "孙督察"),
        ("tariff", "department_user", &hq, Some("tariff"), "周关税"),
        ("admin", "admin", &None, None, "系统管理员"),
    ];
    println!("\nLogins for `riskgate --data DIR serve` (http://127.0.0.1:8080):");
    println!("  {:<10} {:<21} {:<9} password", "username", "role", "office");
    for (name, role, office, dept, display) in users {
        let password = format!("{name}-demo-pass");
        if app.store.user(name)?.is_none() {
            let new = riskgate_app::accounts::NewUser {
                username: name,
                password: &password,
                role,
                office: office.clone(),
                department: dept.map(str::to_string),
                display_name: Some(display.to_string()),
            };
            riskgate_app::accounts::add_user(app.store.as_mut(), &app.user, new)?;
        }
        println!("  {name:<10} {role:<21} {:<9} {password}", office.as_deref().unwrap_or("national"));
    }
    if app.store.user("declaration-system")?.is_none() {
        let password = riskgate_app::accounts::random_hex(16);
        let new = riskgate_app::accounts::NewUser {
            username: "declaration-system",
            password: &password,
            role: "machine",
            display_name: Some("报关单系统".into()),
            ..Default::default()
        };
        riskgate_app::accounts::add_user(app.store.as_mut(), &app.user, new)?;
    }
    let (_, secret) = riskgate_app::accounts::issue_token(
        app,
        "declaration-system",
        "demo",
        vec!["declarations:write".into(), "imports:write".into(), "read".into()],
    )?;
    println!("  machine token (declaration-system): {secret}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use riskgate_app::App;

    fn test_decl() -> riskgate_core::Declaration {
        riskgate_core::Declaration::from_json(&serde_json::json!({
            "id": "X", "declared_at": "2026-03-01T09:00:00+08:00", "direction": "import",
            "office": "2201", "transport_mode": "sea", "trade_mode": "0110",
            "trader": {"id": "T1"}, "declarant": {"id": "B1"}, "currency": "USD",
            "items": [{"line": 1, "hs_code": "8517130000", "origin": "VN", "quantity": 10,
                       "net_weight_kg": 5.0, "value": 1000.0, "duty_rate": 0.1}]
        }))
        .unwrap()
    }

    /// Same data and seed give the same model bytes; stored bytes give the
    /// same scores back.
    #[test]
    fn training_is_deterministic_and_the_model_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let world = dir.path().join("world");
        crate::world::generate(11, 0.25, &world).unwrap();
        let mut app = App::open(&dir.path().join("data"), "test").unwrap();
        crate::world::load_world(&mut app, &world, false).unwrap();
        let mut opts = riskgate_app::model::TrainOptions::default();
        opts.params.iterations = 40;
        let (a, ea) = riskgate_app::model::train(app.store.as_ref(), "m", &opts).unwrap();
        let (b, _) = riskgate_app::model::train(app.store.as_ref(), "m", &opts).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes(), "training is not deterministic");
        assert!(ea.auc > 0.6, "the model learned nothing: AUC {}", ea.auc);
        let back = riskgate_engine::model_scorer::ModelScorer::from_bytes("m".into(), &a.to_bytes()).unwrap();
        let rows = riskgate_app::model::examples(app.store.as_ref(), opts.max_weight, &[]).unwrap();
        for r in rows.iter().take(200) {
            assert_eq!(a.classifier().predict(&r.features), back.classifier().predict(&r.features));
        }
        assert!(
            riskgate_engine::model_scorer::ModelScorer::from_bytes("m".into(), &a.to_bytes()[..10]).is_err(),
            "a truncated model is refused"
        );

        // A model on a subset of the features stores only those names and
        // round-trips; an unknown prefix is refused by name.
        opts.exclude = vec!["trader_".into(), "day_of_year".into()];
        let (c, _) = riskgate_app::model::train(app.store.as_ref(), "m2", &opts).unwrap();
        let names = c.classifier().feature_names().to_vec();
        assert_eq!(names, opts.names());
        assert!(!names.iter().any(|n| n.starts_with("trader_") || n == "day_of_year"));
        let back = riskgate_engine::model_scorer::ModelScorer::from_bytes("m2".into(), &c.to_bytes()).unwrap();
        let layout = riskgate_engine::features::FeatureLayout::from_names(&names).unwrap();
        let d = test_decl();
        let mut g = Vec::new();
        for r in rows.iter().take(50) {
            layout.gather(&d, &r.features, &mut g);
            assert_eq!(c.classifier().predict(&g), back.classifier().predict(&g));
        }
        opts.exclude = vec!["no_such_".into()];
        let err = riskgate_app::model::train(app.store.as_ref(), "m3", &opts).err().unwrap().to_string();
        assert!(err.contains("no_such_"), "{err}");
    }
}
