//! `riskgate bench collusion`: the integrity ranking measured on generated
//! worlds with planted colluders (or none): where the colluders rank, how
//! many honest officers reach `watch` and `warning`, and, when collusion
//! starts part-way through the world, how many weeks it takes a colluder to
//! reach `watch` and `warning` (the report recomputed at weekly cut-offs).

use std::path::Path;

use anyhow::Result;
use riskgate_app::App;
use riskgate_integrity::{Config, Input, Level, Report};
use riskgate_synth::WorldConfig;

/// A colluder and the weeks after which they reached watch and warning.
type Reached = (String, Option<f64>, Option<f64>);

/// What one world gave.
#[derive(Default)]
struct Tally {
    officers: usize,
    colluders: usize,
    in_top10: usize,
    true_warnings: usize,
    false_warnings: usize,
    false_watch: usize,
}

impl Tally {
    fn add(&mut self, t: &Tally) {
        self.officers += t.officers;
        self.colluders += t.colluders;
        self.in_top10 += t.in_top10;
        self.true_warnings += t.true_warnings;
        self.false_warnings += t.false_warnings;
        self.false_watch += t.false_watch;
    }
}

/// The input restricted to records before `cut` (tenure measured that day).
fn before(input: &Input, cut: i64) -> Input {
    Input {
        officers: input.officers.clone(),
        controls: input.controls.iter().filter(|c| c.completed_at < cut).cloned().collect(),
        overrides: input.overrides.iter().filter(|o| o.at < cut).cloned().collect(),
        disciplinary: input.disciplinary.iter().filter(|c| c.opened_at < cut).cloned().collect(),
        as_of: chrono::DateTime::from_timestamp(cut - 1, 0).map(|t| t.date_naive()),
    }
}

fn tally(report: &Report, planted: &[String]) -> (Tally, Vec<usize>) {
    let is_planted = |id: &str| planted.iter().any(|c| c == id);
    let ranks: Vec<usize> =
        planted.iter().map(|c| report.officers.iter().position(|s| &s.id == c).map_or(usize::MAX, |p| p + 1)).collect();
    let t = Tally {
        officers: report.officers.len(),
        colluders: planted.len(),
        in_top10: ranks.iter().filter(|r| **r <= 10).count(),
        true_warnings: report.officers.iter().filter(|s| s.level == Level::Warning && is_planted(&s.id)).count(),
        false_warnings: report.officers.iter().filter(|s| s.level == Level::Warning && !is_planted(&s.id)).count(),
        false_watch: report.officers.iter().filter(|s| s.level == Level::Watch && !is_planted(&s.id)).count(),
    };
    (t, ranks)
}

/// Generates, loads and screens one world; the simulated officers complete
/// the live controls (with their overrides); returns the integrity input
/// and the planted colluders.
fn world(cfg: &WorldConfig, dir: &Path) -> Result<(Input, riskgate_synth::Collusion)> {
    let _ = std::fs::remove_dir_all(dir);
    let world = dir.join("world");
    crate::world::generate_world(cfg, &world)?;
    let mut app = App::open(&dir.join("data"), "bench")?;
    let mut seed_action = app.action("setting", "seed");
    seed_action.after = Some(serde_json::json!(cfg.seed));
    app.store.set_setting("seed", &cfg.seed.to_string(), &seed_action)?;
    app.reload()?;
    crate::world::load_world(&mut app, &world, false)?;
    crate::world::screen_live(&mut app, &world, cfg.seed, dir)?;
    let input = riskgate_app::integrity::load_input(app.store.as_ref(), None, None, None)?;
    Ok((input, crate::world::read_collusion(&world)?))
}

/// One integrity configuration of the run, named as on the command line.
pub struct Variant {
    pub name: String,
    pub config: Config,
}

pub fn collusion(
    seeds: &[u64],
    scale: f64,
    colluders: usize,
    params: riskgate_synth::CollusionParams,
    step_days: u32,
    variants: &[Variant],
    dir: &Path,
) -> Result<()> {
    anyhow::ensure!(step_days > 0, "--step-days: expected at least 1 day");
    anyhow::ensure!(!variants.is_empty(), "no integrity configuration");
    let mut totals: Vec<Tally> = variants.iter().map(|_| Tally::default()).collect();
    let mut all_weeks: Vec<Vec<Reached>> = variants.iter().map(|_| Vec::new()).collect();
    for &seed in seeds {
        let cfg = WorldConfig { colluders, collusion: params.clone(), ..WorldConfig::new(seed, scale) };
        let t0 = std::time::Instant::now();
        let (input, planted) = world(&cfg, &dir.join(format!("seed-{seed}")))?;
        let prepared = t0.elapsed().as_secs_f64();
        let ids: Vec<String> = planted.colluders.iter().map(|c| c.officer.clone()).collect();
        let run = Run { seed, input: &input, planted: &planted, ids: &ids, prepared };
        for (v, variant) in variants.iter().enumerate() {
            let cfg_int = &variant.config;
            let weeks = &mut all_weeks[v];
            let total = &mut totals[v];
            if variants.len() > 1 {
                println!("[{}]", variant.name);
            }
            let t = one_report(&run, cfg_int, step_days, weeks);
            total.add(&t);
        }
    }
    for (v, variant) in variants.iter().enumerate() {
        let total = &totals[v];
        let weeks = &all_weeks[v];
        if variants.len() > 1 {
            println!("[{}]", variant.name);
        }
        let honest = total.officers - total.colluders;
        println!(
            "total over {} world(s): colluders in the top 10: {} of {}; colluders at warning: {}; honest officers at warning: {} of {honest} ({:.2} per 1,000), at watch: {} ({:.2} per 1,000)",
            seeds.len(),
            total.in_top10,
            total.colluders,
            total.true_warnings,
            total.false_warnings,
            1000.0 * total.false_warnings as f64 / honest.max(1) as f64,
            total.false_watch,
            1000.0 * total.false_watch as f64 / honest.max(1) as f64
        );
        if !weeks.is_empty() {
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied()
            };
            let reached = |f: fn(&Reached) -> Option<f64>| -> (usize, Option<f64>) {
                let v: Vec<f64> = weeks.iter().filter_map(f).collect();
                (v.len(), median(v))
            };
            let (nw, mw) = reached(|w| w.1);
            let (nx, mx) = reached(|w| w.2);
            let show = |m: Option<f64>| m.map_or("-".to_string(), |m| format!("{m:.0}"));
            println!(
                "weeks from the start of collusion: watch reached by {nw} of {} (median {} weeks), warning by {nx} (median {} weeks)",
                weeks.len(),
                show(mw),
                show(mx)
            );
        }
    }
    Ok(())
}

/// A generated world as the configurations see it.
struct Run<'a> {
    seed: u64,
    input: &'a Input,
    planted: &'a riskgate_synth::Collusion,
    /// The planted colluders' officer ids.
    ids: &'a [String],
    /// Seconds taken to generate, load, screen and control it.
    prepared: f64,
}

/// One configuration's report on one world: ranks, levels and (collusion
/// starting part-way) the weeks to watch and warning, printed; the weeks
/// are added to `weeks`.
fn one_report(w: &Run, cfg_int: &Config, step_days: u32, weeks: &mut Vec<Reached>) -> Tally {
    let Run { seed, input, planted, ids, prepared } = *w;
    let t1 = std::time::Instant::now();
    let report = riskgate_integrity::compute(input, cfg_int);
    let secs = t1.elapsed().as_secs_f64();
    let (t, ranks) = tally(&report, ids);
    println!(
        "seed {seed}: {} officers, {} controls, {} overrides (world {prepared:.0} s, integrity {secs:.2} s)",
        t.officers,
        input.controls.len(),
        input.overrides.len()
    );
    let mut shown: Vec<String> = ranks.iter().map(|r| r.to_string()).collect();
    shown.sort_by_key(|r| r.parse::<usize>().unwrap_or(usize::MAX));
    println!(
        "  colluders' ranks: [{}]; in the top 10: {} of {}; warnings: {} colluders, {} honest officers; honest at watch: {}",
        shown.join(", "),
        t.in_top10,
        t.colluders,
        t.true_warnings,
        t.false_warnings,
        t.false_watch
    );
    for (id, rank) in ids.iter().zip(&ranks) {
        let Some(s) = report.officers.iter().find(|s| &s.id == id) else { continue };
        let zs: Vec<String> = s
            .indicators
            .iter()
            .map(|i| match (i.z, i.p) {
                (Some(z), _) => format!("{} {z:.1}", i.key),
                (None, Some(p)) => format!("{} p {p:.0e}", i.key),
                _ => format!("{} +{}", i.key, i.points),
            })
            .collect();
        println!("  colluder {id} rank {rank} p {:.1e} {}: {}", s.p_value, s.level.as_str(), zs.join(", "));
    }
    for s in report.officers.iter().filter(|s| s.level == Level::Warning && !ids.contains(&s.id)) {
        println!("  honest officer at warning: {} p {:.1e}: {}", s.id, s.p_value, s.reasons.join(" | "));
    }
    // Weeks from the start of collusion to watch and warning: the report
    // recomputed on the records before each weekly cut-off.
    let starts: Vec<(String, i64)> =
        planted.colluders.iter().filter_map(|c| c.start.map(|s| (c.officer.clone(), s))).collect();
    if let Some(first) = starts.iter().map(|s| s.1).min() {
        let last = input.controls.iter().map(|c| c.completed_at).max().unwrap_or(first);
        let step = i64::from(step_days) * 86_400;
        let mut reached: Vec<(Option<f64>, Option<f64>)> = vec![(None, None); starts.len()];
        let (mut cuts, mut honest_warned) = (0, 0);
        let mut cut = first + step;
        while cut <= last + step && reached.iter().any(|r| r.1.is_none()) {
            let r = riskgate_integrity::compute(&before(input, cut), cfg_int);
            cuts += 1;
            honest_warned += r.officers.iter().filter(|s| s.level == Level::Warning && !ids.contains(&s.id)).count();
            for (k, (officer, start)) in starts.iter().enumerate() {
                let level = r.officers.iter().find(|s| &s.id == officer).map_or(Level::Normal, |s| s.level);
                let w = (cut - start) as f64 / (7.0 * 86_400.0);
                if level >= Level::Watch && reached[k].0.is_none() {
                    reached[k].0 = Some(w);
                }
                if level == Level::Warning && reached[k].1.is_none() {
                    reached[k].1 = Some(w);
                }
            }
            cut += step;
        }
        let show = |x: Option<f64>| x.map_or("never".to_string(), |w| format!("{w:.0} weeks"));
        for ((officer, _), (watch, warning)) in starts.iter().zip(&reached) {
            println!("  {officer}: watch after {}, warning after {}", show(*watch), show(*warning));
            weeks.push((officer.clone(), *watch, *warning));
        }
        println!("  honest officers at warning summed over the {cuts} weekly cut-offs: {honest_warned}");
    }
    t
}
