//! Indicators on small hand-built inputs: a quiet base world where nobody
//! stands out, then one officer changed in one way at a time. Each change
//! must move its own indicator and the officer's score in the suspicious
//! direction, against the same peers.

use chrono::NaiveDate;
use expect_test::expect;
use riskgate_integrity::{Config, Control, DisciplinaryCase, Input, Level, OfficerInfo, OverrideEvent, compute};

const DAY0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const CST: i32 = 8 * 3600;

/// A small deterministic generator (tests must not depend on a crate's RNG).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn officer(id: &str, office: &str, years: i64) -> OfficerInfo {
    OfficerInfo {
        id: id.into(),
        office: office.into(),
        post: "inspection".into(),
        post_since: NaiveDate::from_ymd_opt(2026 - years as i32, 3, 1),
    }
}

/// Two offices of six inspection officers; 600 controls each, spread
/// evenly over officers, traders and the working day; findings follow the
/// risk value; every officer overrides twice a year, with reasons.
fn base() -> Input {
    let mut r = Lcg(7);
    let mut officers = Vec::new();
    let mut controls = Vec::new();
    let mut overrides = Vec::new();
    for office in ["2201", "2202"] {
        for k in 0..6 {
            officers.push(officer(&format!("E{office}{k}"), office, 2 + k % 3));
        }
        for i in 0..600 {
            let who = format!("E{office}{}", i % 6);
            let risk = r.next();
            let started = DAY0 + (i as i64 / 6) * 86_400 + 9 * 3600 - i64::from(CST) + (r.next() * 3.0 * 3600.0) as i64;
            let completed = started + 3600 + (r.next() * 2.0 * 3600.0) as i64;
            controls.push(Control {
                declaration_id: format!("D{office}{i:05}"),
                office: office.into(),
                trader: format!("T{}", (r.next() * 80.0) as u32),
                declarant: format!("B{}", (r.next() * 20.0) as u32),
                officer: who,
                control: if i % 3 == 0 { "document".into() } else { "physical".into() },
                started_at: started,
                completed_at: completed,
                released_at: Some(completed + 1800 + (r.next() * 3600.0) as i64),
                utc_offset: CST,
                finding: r.next() < 0.1 + 0.4 * risk,
                risk_value: Some(risk),
            });
        }
        for k in 0..6 {
            for j in 0..2 {
                overrides.push(OverrideEvent {
                    log_seq: overrides.len() as i64 + 1,
                    officer: format!("E{office}{k}"),
                    office: office.into(),
                    declaration_id: format!("X{office}{k}{j}"),
                    at: DAY0 + (10 + 20 * k + j) as i64 * 86_400 + 3 * 3600,
                    utc_offset: CST,
                    before: "yellow".into(),
                    after: if j == 0 { "green".into() } else { "red".into() },
                    reason: "发票与合同、付汇记录核对一致 / invoice, contract and payments reconciled".into(),
                });
            }
        }
    }
    Input { officers, controls, overrides, disciplinary: vec![], as_of: NaiveDate::from_ymd_opt(2026, 6, 30) }
}

const TARGET: &str = "E22010";

fn mine(input: &mut Input) -> impl Iterator<Item = &mut Control> {
    input.controls.iter_mut().filter(|c| c.officer == TARGET)
}

/// The target's override of `declaration_id` from `before` to green at
/// `at`, with a bland reason ("risk under control").
fn bland_override(log_seq: i64, declaration_id: String, at: i64, before: &str) -> OverrideEvent {
    OverrideEvent {
        log_seq,
        officer: TARGET.into(),
        office: "2201".into(),
        declaration_id,
        at,
        utc_offset: CST,
        before: before.into(),
        after: "green".into(),
        reason: "风险可控".into(),
    }
}

type Change = fn(&mut Input);

fn changes() -> Vec<(&'static str, &'static str, Change)> {
    vec![
        ("overrides to green with bland reasons", "overrides_down", |i| {
            for j in 0..10 {
                let before = if j % 2 == 0 { "red" } else { "yellow" };
                i.overrides.push(bland_override(
                    1000 + j,
                    format!("Y{j}"),
                    DAY0 + (30 + j) * 86_400 + 3 * 3600,
                    before,
                ));
            }
        }),
        ("no finding where the risk value predicts one", "finding_shortfall", |i| {
            for c in mine(i) {
                c.finding = false;
            }
        }),
        // The target does only document controls, half of the office's: by
        // chance each of its controls would be theirs with probability ½.
        ("one trader's controls picked up", "concentration", |i| {
            let mut n = 0;
            for c in mine(i) {
                if n < 30 {
                    c.trader = "T-FRIEND".into();
                    n += 1;
                }
            }
        }),
        ("controls five times faster", "control_duration", |i| {
            for c in mine(i) {
                c.completed_at = c.started_at + (c.completed_at - c.started_at) / 5;
                c.released_at = Some(c.completed_at + 1800);
            }
        }),
        ("release right after the control", "release_speed", |i| {
            for c in mine(i) {
                c.released_at = Some(c.completed_at + 120);
            }
        }),
        ("completions late at night", "off_hours", |i| {
            for (k, c) in mine(i).enumerate() {
                if k % 3 == 0 {
                    let day = (c.completed_at + i64::from(CST)).div_euclid(86_400);
                    c.completed_at = day * 86_400 - i64::from(CST) + 22 * 3600;
                    c.released_at = Some(c.completed_at + 1800);
                }
            }
        }),
        ("ten years in the same post", "tenure", |i| {
            i.officers.iter_mut().find(|o| o.id == TARGET).unwrap().post_since = NaiveDate::from_ymd_opt(2016, 1, 1);
        }),
        ("a disciplinary case", "disciplinary", |i| {
            i.disciplinary.push(DisciplinaryCase {
                officer: TARGET.into(),
                opened_at: DAY0,
                kind: "违规接受宴请".into(),
                status: "substantiated".into(),
            });
        }),
    ]
}

fn strength(input: &Input, key: &str) -> (f64, f64, usize) {
    let r = compute(input, &Config::default());
    let pos = r.officers.iter().position(|s| s.id == TARGET).unwrap();
    let s = &r.officers[pos];
    let ind = s.indicator(key).map_or(0.0, |i| i.z.unwrap_or(i.points));
    (ind, s.score, pos + 1)
}

#[test]
fn nobody_stands_out_in_the_quiet_world() {
    let r = compute(&base(), &Config::default());
    assert_eq!(r.officers.len(), 12);
    assert!(r.officers.iter().all(|s| s.level == Level::Normal), "{:#?}", r.officers[0]);
    assert!(r.warnings().is_empty());
    assert_eq!(r.posts.len(), 2);
    assert_eq!(r.units.len(), 2);
    // Peers are the same office and post.
    assert!(r.officers.iter().all(|s| s.peers == 6));
}

#[test]
fn each_indicator_moves_the_score_in_the_right_direction() {
    let (base_input, mut rows) = (base(), Vec::new());
    for (name, key, change) in changes() {
        let before = strength(&base_input, key);
        let mut changed = base_input.clone();
        change(&mut changed);
        let after = strength(&changed, key);
        assert!(after.0 > before.0, "{name}: {key} {before:?} → {after:?}");
        assert!(after.1 > before.1, "{name}: score {before:?} → {after:?}");
        rows.push(format!(
            "{name:<45} {key:<18} {:>5.1} → {:>5.1}   score {:>5.2} → {:>5.2}   rank {} → {}",
            before.0, after.0, before.1, after.1, before.2, after.2
        ));
    }
    expect![[r#"
        overrides to green with bland reasons         overrides_down       0.1 →   5.5   score  0.01 →  5.41   rank 9 → 1
        no finding where the risk value predicts one  finding_shortfall    0.7 →   4.2   score  0.01 →  2.77   rank 9 → 1
        one trader's controls picked up               concentration       -7.9 →   4.7   score  0.01 →  3.58   rank 9 → 1
        controls five times faster                    control_duration     1.0 →   6.6   score  0.01 → 15.12   rank 9 → 1
        release right after the control               release_speed        0.0 →   6.6   score  0.01 →  8.01   rank 9 → 1
        completions late at night                     off_hours           -0.0 →   3.5   score  0.01 →  7.75   rank 9 → 1
        ten years in the same post                    tenure               0.0 →   0.5   score  0.01 →  0.51   rank 9 → 2
        a disciplinary case                           disciplinary         0.0 →   1.0   score  0.01 →  1.01   rank 9 → 1"#]].assert_eq(&rows.join("\n"));
}

#[test]
fn a_colluding_pattern_reaches_warning_and_explains_itself() {
    let mut input = base();
    for (_, key, change) in changes() {
        if key != "disciplinary" && key != "tenure" {
            change(&mut input);
        }
    }
    let r = compute(&input, &Config::default());
    let top = &r.officers[0];
    assert_eq!(top.id, TARGET);
    assert_eq!(top.level, Level::Warning);
    let keys: Vec<&str> = top.reasons.iter().map(|r| r.split(':').next().unwrap()).collect();
    for k in ["overrides_down", "finding_shortfall", "concentration", "off_hours"] {
        assert!(keys.contains(&k), "{k} missing from {:#?}", top.reasons);
    }
    // Evidence names the declarations and log entries behind the indicators.
    let ev = top.evidence.iter().find(|e| e.indicator == "overrides_down").unwrap();
    assert_eq!(ev.log_entries.len(), 11, "ten bland overrides plus the one from the base world");
    assert!(top.evidence.iter().any(|e| e.indicator == "concentration" && e.declarations.len() == 20));
    // The post and the unit of that officer rise above their peers.
    assert_eq!(r.posts[0].id, "2201/inspection");
    assert_eq!(r.units[0].id, "2201");
    // Nobody else is flagged.
    assert!(r.officers[1..].iter().all(|s| s.level == Level::Normal));
}

/// Statistics on too few controls or too few peers do not warn: the same
/// colluding pattern stays at `watch` when the minimum sample or peer
/// group is set above what the officer has.
#[test]
fn a_thin_sample_or_peer_group_does_not_warn() {
    let mut input = base();
    for (_, key, change) in changes() {
        if key != "disciplinary" && key != "tenure" {
            change(&mut input);
        }
    }
    let level = |cfg: Config| {
        let r = compute(&input, &cfg);
        let top = r.officers.iter().find(|s| s.id == TARGET).unwrap();
        (top.level, top.controls, top.peers)
    };
    let (l, controls, peers) = level(Config::default());
    assert_eq!(l, Level::Warning, "{controls} controls, {peers} peers: above the default minimums");
    let few = Config { min_controls: controls + 1, ..Config::default() };
    assert_eq!(level(few).0, Level::Watch);
    let lonely = Config { min_peers: peers + 1, ..Config::default() };
    assert_eq!(level(lonely).0, Level::Watch);
}

/// Each reason comes as figures too, in the same order, with the counts
/// its English sentence states: a reader words them in its own language.
#[test]
fn every_reason_carries_its_figures() {
    let mut input = base();
    for (_, key, change) in changes() {
        if key != "disciplinary" {
            change(&mut input);
        }
    }
    let r = compute(&input, &Config::default());
    let subjects = || r.officers.iter().chain(&r.posts).chain(&r.units);
    for s in subjects() {
        let keys: Vec<&str> = s.reasons.iter().map(|x| x.split(':').next().unwrap()).collect();
        let figured: Vec<&str> = s.reason_figures.iter().map(|f| f.indicator.as_str()).collect();
        assert_eq!(keys, figured, "{} {}", s.kind, s.id);
    }
    let top = &r.officers[0];
    assert_eq!(top.id, TARGET);
    let down = top.reason_figures.iter().find(|f| f.indicator == "overrides_down").unwrap();
    let text = top.reasons.iter().find(|x| x.starts_with("overrides_down")).unwrap();
    // "overrides_down: 11 overrides to a lighter lane in 60 controls handled …"
    let said: Vec<f64> = text.split_whitespace().filter_map(|w| w.parse().ok()).take(2).collect();
    assert_eq!((down.count, down.n as f64), (Some(said[0]), said[1]), "{text}");
    let expected = down.expected.unwrap();
    assert!((expected - down.baseline.unwrap() * down.n as f64).abs() < 1e-9 && expected < said[0]);
    assert!(down.p.unwrap() < 0.01 && down.z.is_some() && down.points == 0.0, "{down:?}");
    let tenure = top.reason_figures.iter().find(|f| f.indicator == "tenure").unwrap();
    assert_eq!((tenure.baseline, tenure.p, tenure.count), (Some(Config::default().rotation_years), None, None));
    assert!(tenure.value > 9.0 && tenure.points > 0.0, "{tenure:?}");
}

#[test]
fn thresholds_are_configurable_and_checked() {
    let mut input = base();
    (changes()[1].2)(&mut input);
    let strict = Config { warning_p: 0.2, watch_p: 0.3, ..Config::default() };
    let r = compute(&input, &strict);
    assert_eq!(r.officers[0].level, Level::Warning);
    assert_eq!(
        Config { watch_p: 0.001, warning_p: 0.01, ..Config::default() }.validate().unwrap_err(),
        "warning_p: must not exceed watch_p (0.01 > 0.001)"
    );
    assert!(Config::default().validate().is_ok());
}

#[test]
fn history_shows_when_a_pattern_began() {
    let mut input = base();
    // Overrides only in the second half of the period.
    (changes()[0].2)(&mut input);
    let mid = DAY0 + 25 * 86_400;
    let end = DAY0 + 200 * 86_400;
    let h = riskgate_integrity::officer_history(&input, &Config::default(), TARGET, &[(DAY0, mid), (mid, end)]);
    assert_eq!(h.len(), 2);
    let z = |i: usize| h[i].subject.as_ref().unwrap().indicator("overrides_down").unwrap().z.unwrap();
    assert!(z(0) < 1.0 && z(1) > 3.0, "{} {}", z(0), z(1));
    let none = riskgate_integrity::officer_history(&input, &Config::default(), TARGET, &[(0, 1)]);
    assert!(none[0].subject.is_none());
}

/// A pattern that begins in the last month is diluted over the whole
/// period; the trailing windows see it, and the profile says so.
#[test]
fn a_recent_change_is_seen_by_the_trailing_windows() {
    let mut input = base();
    // From day 70 on: the target releases at once and overrides to green.
    for c in mine(&mut input) {
        if c.completed_at >= DAY0 + 70 * 86_400 {
            c.released_at = Some(c.completed_at + 120);
        }
    }
    for j in 0..5 {
        input.overrides.push(bland_override(2000 + j, format!("Z{j}"), DAY0 + (88 + 2 * j) * 86_400 + 3 * 3600, "red"));
    }
    let score = |cfg: &Config| {
        let r = compute(&input, cfg);
        r.officers.into_iter().find(|s| s.id == TARGET).unwrap()
    };
    let whole = score(&Config { recent_days: vec![], ..Config::default() });
    let scanned = score(&Config::default());
    assert!(scanned.score > whole.score + 1.0, "{} vs {}", scanned.score, whole.score);
    let w = scanned.indicator("window_30d").expect("a 30-day window");
    assert!(w.p.unwrap() < 1e-4 && w.detail.contains("release_speed"), "{}", w.detail);
    assert!(scanned.reasons.iter().any(|r| r.starts_with("window_30d")), "{:#?}", scanned.reasons);
    // Nobody else moves to a level above normal.
    let r = compute(&input, &Config::default());
    assert!(r.officers.iter().filter(|s| s.id != TARGET).all(|s| s.level == Level::Normal));
}

/// Levels follow Benjamini–Hochberg over the officers compared: the same
/// officer p-value is a warning among few officers, and the stated
/// false-discovery rates are checked.
#[test]
fn warnings_control_the_false_discovery_rate() {
    let mut input = base();
    (changes()[1].2)(&mut input);
    let r = compute(&input, &Config::default());
    let top = &r.officers[0];
    assert_eq!(top.id, TARGET);
    // p ≈ 10^-2.97: above warning_p, yet BH at 5% over 12 officers rejects
    // (threshold 0.05 / 12 ≈ 4e-3) — but not above watch_p, so watch.
    assert!(top.p_value > 1e-4 && top.p_value < 4e-3, "{}", top.p_value);
    let strict = Config { watch_p: 1e-2, ..Config::default() };
    assert_eq!(compute(&input, &strict).officers[0].level, Level::Warning);
    let looser = Config { warning_fdr: 1e-3, watch_fdr: 1e-3, watch_p: 1e-4, warning_p: 1e-5, ..Config::default() };
    assert_eq!(compute(&input, &looser).officers[0].level, Level::Normal);
    assert_eq!(
        Config { warning_fdr: 0.3, watch_fdr: 0.2, ..Config::default() }.validate().unwrap_err(),
        "warning_fdr: must not exceed watch_fdr (0.3 > 0.2)"
    );
    assert_eq!(
        Config { recent_days: vec![0], ..Config::default() }.validate().unwrap_err(),
        "recent_days: expected days in 1..=3660, got 0"
    );
}

/// Overrides that begin part-way through the period (`cusum` on): the
/// CUSUM over the officer's actions finds the segment since they began,
/// lowers the officer's combined p-value, and the reason carries the
/// segment's figures (count, expected, n, p) and when it began.
#[test]
fn a_shift_within_an_officer_is_seen_by_the_cusum() {
    let mut input = base();
    for j in 0..6 {
        input.overrides.push(bland_override(3000 + j, format!("Q{j}"), DAY0 + (60 + 3 * j) * 86_400 + 3 * 3600, "red"));
    }
    let on = Config { cusum: true, ..Config::default() };
    let r = compute(&input, &on);
    let top = r.officers.iter().find(|s| s.id == TARGET).unwrap();
    let whole = top.indicator("overrides_down").unwrap();
    let cusum = top.indicator("cusum_overrides_down").expect("a CUSUM indicator");
    // Its own tail is of the whole-period test's order (the peers' rate is
    // uncertain under its null, known under the other's), but it rests on
    // the segment alone, so the officer's combined p-value falls.
    assert!(cusum.p.unwrap() < 3.0 * whole.p.unwrap(), "CUSUM {:?} vs whole {:?}", cusum.p, whole.p);
    assert!(cusum.p.unwrap() < 1e-3 && cusum.z.is_none(), "{cusum:?}");
    // The segment starts at the first of the six overrides (day 60, 2026-03-02).
    assert!(cusum.detail.starts_with("since 2026-03-02"), "{}", cusum.detail);
    let f = top.reason_figures.iter().find(|f| f.indicator == "cusum_overrides_down").expect("a reason");
    assert_eq!(f.count, Some(6.0), "{f:?}");
    assert!(f.n >= 6 && f.n < 40, "{f:?}");
    assert!(f.expected.unwrap() < 1.0 && (f.expected.unwrap() - f.baseline.unwrap() * f.n as f64).abs() < 1e-9);
    assert_eq!(f.p, cusum.p);
    assert!(top.reasons.iter().any(|x| x.starts_with("cusum_overrides_down: since 2026-03-02")), "{:#?}", top.reasons);
    // Without the CUSUM the officer's p-value is larger; the others stay normal.
    let off = compute(&input, &Config::default());
    let plain = off.officers.iter().find(|s| s.id == TARGET).unwrap();
    assert!(plain.indicator("cusum_overrides_down").is_none());
    assert!(top.p_value < plain.p_value / 2.0, "{} vs {}", top.p_value, plain.p_value);
    assert!(r.officers.iter().filter(|s| s.id != TARGET).all(|s| s.level == Level::Normal));
    // Every officer carries the three CUSUM indicators, none of them small.
    for s in r.officers.iter().filter(|s| s.id != TARGET) {
        for key in ["cusum_overrides_down", "cusum_finding_shortfall", "cusum_concentration"] {
            let p = s.indicator(key).and_then(|i| i.p).unwrap_or_else(|| panic!("{} lacks {key}", s.id));
            assert!(p > 1e-3, "{} {key} p {p}", s.id);
        }
    }
}

/// A ring of three officers of office 2201 (E22010–E22012) shares three
/// traders: 120 of the office's controls become the traders T1–T3, and 80%
/// of them go to one of the three (each member as often on each trader),
/// the rest to any officer of the office by chance. Each member alone has about a third of the excess.
fn ring_input() -> Input {
    let mut input = base();
    let mut r = Lcg(11);
    let ring = ["E22010", "E22011", "E22012"];
    for (j, c) in input.controls.iter_mut().filter(|c| c.office == "2201").enumerate() {
        // Kinds drawn afresh (in the base world each officer does one kind).
        c.control = if r.next() < 1.0 / 3.0 { "document".into() } else { "physical".into() };
        if j % 5 != 0 {
            continue;
        }
        c.trader = format!("T{}", 1 + (j / 5) % 3);
        c.declarant = format!("B{}", (r.next() * 20.0) as u32);
        c.officer = if r.next() < 0.8 {
            // Every member in turn on every trader.
            ring[(j / 15) % 3].into()
        } else {
            // The rest by chance (in the base world officers take turns).
            format!("E2201{}", (r.next() * 6.0) as u32)
        };
    }
    // The traders T1–T3 appear nowhere else.
    for c in input.controls.iter_mut().filter(|c| c.office == "2202" && ["T1", "T2", "T3"].contains(&c.trader.as_str()))
    {
        c.trader = "T70".into();
    }
    input
}

/// The member gate (`ring_member_p`, 0.01) is strict in an office of six,
/// where a member's own share includes the controls they took: with other
/// draws of this world (Lcg seeds 5 and 99) one member's own excess misses
/// it and that member's ring is not reported.
#[test]
fn a_ring_is_found_with_its_partners_and_parties() {
    let input = ring_input();
    let on = Config { ring: true, ..Config::default() };
    let r = compute(&input, &on);
    for id in ["E22010", "E22011", "E22012"] {
        let s = r.officers.iter().find(|s| s.id == id).unwrap();
        let ring = s.indicator("ring").expect("a ring indicator");
        assert!(ring.p.unwrap() < 1e-3 && ring.z.is_none(), "{id}: {ring:?}");
        // The two others are named, and the three traders.
        let others: Vec<&str> = ["E22010", "E22011", "E22012"].into_iter().filter(|o| *o != id).collect();
        assert!(
            ring.detail.starts_with(&format!("with {} and {} on 3 traders", others[0], others[1])),
            "{}",
            ring.detail
        );
        for t in ["T1 ", "T2 ", "T3 "] {
            assert!(ring.detail.contains(t), "{}", ring.detail);
        }
        // Its figures: the group's controls of the three traders against chance.
        let f = s.reason_figures.iter().find(|f| f.indicator == "ring").expect("a ring reason");
        assert!(f.n >= 120 && f.n <= 140, "{f:?}");
        let (count, expected) = (f.count.unwrap(), f.expected.unwrap());
        assert!(count > expected + 20.0 && expected > 40.0 && expected < 80.0, "{f:?}");
        assert!((expected - f.baseline.unwrap() * f.n as f64).abs() < 1e-9);
        assert_eq!(f.p, ring.p);
        assert!(s.reasons.iter().any(|x| x.starts_with("ring: with ")), "{:#?}", s.reasons);
        // The ring enters the officer's combination: the p-value falls.
        let off = compute(&input, &Config::default());
        let plain = off.officers.iter().find(|s| s.id == id).unwrap();
        assert!(plain.indicator("ring").is_none());
        assert!(s.p_value < plain.p_value, "{id}: {} vs {}", s.p_value, plain.p_value);
    }
    // The honest officers of both offices are not drawn in.
    for s in r.officers.iter().filter(|s| !["E22010", "E22011", "E22012"].contains(&s.id.as_str())) {
        let p = s.indicator("ring").and_then(|i| i.p).unwrap();
        assert!(p > 0.01, "{} ring p {p}: {:?}", s.id, s.indicator("ring"));
    }
}

/// The ring test on simulated honest assignment (fixed seed): 40 worlds of
/// two offices of 8 officers, traders of uneven size, every control to an
/// officer drawn uniformly. P(p ≤ α) ≤ α for every officer's ring p, and
/// the same for honest officers beside a colleague who takes half of two
/// traders' controls (the member gate keeps them out of that colleague's
/// "ring").
#[test]
fn ring_p_values_are_not_anti_conservative() {
    let mut u = Lcg(2027);
    let alphas = [0.01, 0.05, 0.2];
    let (mut below, mut beside) = ([0usize; 3], [0usize; 3]);
    let (mut n_null, mut n_beside) = (0usize, 0usize);
    for world in 0..40 {
        let grabber = world % 2 == 1;
        let mut officers = Vec::new();
        let mut controls = Vec::new();
        for office in ["3301", "3302"] {
            for k in 0..8 {
                officers.push(officer(&format!("E{office}{k}"), office, 2));
            }
            for i in 0..700 {
                // Trader sizes fall off: T0 is the largest.
                let t = (u.next() * u.next() * 30.0) as u32;
                let mut who = (u.next() * 8.0) as u32;
                if grabber && t < 2 && u.next() < 0.5 {
                    who = 0;
                }
                let started = DAY0 + (i as i64 / 4) * 86_400 + 9 * 3600 - i64::from(CST);
                controls.push(Control {
                    declaration_id: format!("D{world}{office}{i:05}"),
                    office: office.into(),
                    trader: format!("T{t}"),
                    declarant: format!("B{}", (u.next() * u.next() * 15.0) as u32),
                    officer: format!("E{office}{who}"),
                    control: if i % 3 == 0 { "document".into() } else { "physical".into() },
                    started_at: started,
                    completed_at: started + 3600,
                    released_at: Some(started + 7200),
                    utc_offset: CST,
                    finding: u.next() < 0.2,
                    risk_value: Some(u.next()),
                });
            }
        }
        let input = Input { officers, controls, overrides: vec![], disciplinary: vec![], as_of: None };
        let r = compute(&input, &Config { ring: true, recent_days: vec![], ..Config::default() });
        for s in &r.officers {
            if grabber && s.id.ends_with('0') {
                continue;
            }
            let p = s.indicator("ring").and_then(|i| i.p).expect("a ring indicator");
            let (counts, n) = if grabber { (&mut beside, &mut n_beside) } else { (&mut below, &mut n_null) };
            *n += 1;
            for (k, a) in alphas.iter().enumerate() {
                counts[k] += usize::from(p <= *a);
            }
        }
    }
    for (counts, n) in [(below, n_null), (beside, n_beside)] {
        for (k, a) in alphas.iter().enumerate() {
            let expected = a * n as f64;
            let limit = expected + 3.0 * (expected * (1.0 - a)).sqrt() + 3.0;
            assert!(
                (counts[k] as f64) <= limit,
                "α {a}: {} of {n} (limit {limit:.0}); {below:?} {beside:?}",
                counts[k]
            );
        }
    }
}
