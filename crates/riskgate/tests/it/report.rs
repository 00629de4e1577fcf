//! `riskgate report`: a quarter's KPI report written as XLSX and read back
//! by a second program (calamine), as printable HTML holding every KPI and
//! nothing from outside, and as CSV; a bad period refused naming the field.

use calamine::{Data, Reader, Xlsx, open_workbook};
use serde_json::Value;

use crate::support::{Env, generate_world};

/// A small world with its history and live traffic (June to September
/// 2026) screened, and the third quarter's KPIs as `riskgate kpi --format json` prints them.
fn quarter() -> (Env, Vec<Value>) {
    let e = Env::new();
    let w = generate_world(&e.dir, 3, 0.02);
    e.load_as("admin", &w);
    e.ok_as("admin", &["screen", w.join("live.jsonl").to_str().unwrap(), "--clock", "declared"]);
    let kpi = e.ok_as("admin", &["kpi", "--format", "json", "--from", "2026-07-01", "--to", "2026-09-30"]);
    let v: Value = serde_json::from_str(&kpi).unwrap();
    (e, v["units"].as_array().unwrap().clone())
}

fn cell_f64(d: Option<&Data>) -> Option<f64> {
    match d? {
        Data::Float(x) => Some(*x),
        Data::Int(x) => Some(*x as f64),
        _ => None,
    }
}

fn cell_str(d: Option<&Data>) -> String {
    match d {
        Some(Data::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[test]
fn a_quarter_report_reads_back_as_xlsx_html_and_csv() {
    let (e, units) = quarter();
    let hq = &units[0];
    assert_eq!(hq["level"], "hq");
    let figures = hq["figures"].as_array().unwrap();
    assert!(figures.len() >= 11, "all KPIs: {}", figures.len());

    // XLSX, read back by calamine.
    let xlsx = e.dir.join("q3.xlsx");
    let out =
        e.ok_as("hq.manager", &["report", "--period", "2026-Q3", "--format", "xlsx", "--out", xlsx.to_str().unwrap()]);
    assert!(out.contains("2026-Q3") && out.contains("2026-07-01") && out.contains("2026-09-30"), "{out}");
    let mut wb: Xlsx<_> = open_workbook(&xlsx).expect("a valid XLSX");
    assert_eq!(wb.sheet_names(), riskgate_server::reports::SHEETS.map(String::from).to_vec());
    let summary = wb.worksheet_range("概要").unwrap();
    let row_of = |key: &str| (1..summary.height()).find(|&r| cell_str(summary.get((r, 0))) == key);
    for f in figures {
        let key = f["key"].as_str().unwrap();
        let r = row_of(key).unwrap_or_else(|| panic!("KPI {key} is not in 概要"));
        assert_eq!(cell_str(summary.get((r, 1))), f["name_zh"].as_str().unwrap(), "{key}: the Chinese name");
        assert_eq!(cell_str(summary.get((r, 4))), f["formula"].as_str().unwrap(), "{key}: the formula");
        assert_eq!(cell_f64(summary.get((r, 5))), f["numerator"].as_f64(), "{key}: numerator");
        assert_eq!(cell_f64(summary.get((r, 6))), f["denominator"].as_f64(), "{key}: denominator");
        match f["value"].as_f64() {
            // The value is a number cell (a percentage format for a rate), not text.
            Some(v) => assert_eq!(cell_f64(summary.get((r, 7))), Some(v), "{key}: value"),
            None => assert_eq!(cell_str(summary.get((r, 7))), "—", "{key}: no value"),
        }
    }
    let tr = row_of("engine_targeting_rate").unwrap();
    assert!(cell_f64(summary.get((tr, 7))).unwrap() > 0.0, "a targeting rate in the quarter");
    assert_eq!(cell_str(summary.get((tr, 3))), "系统判定布控的报关单 ÷ 报关单", "the Chinese formula first");
    // The trend: the quarter's three months, their declarations adding up to the quarter's.
    let trend = wb.worksheet_range("趋势").unwrap();
    let months: Vec<String> = (1..trend.height()).map(|r| cell_str(trend.get((r, 0)))).collect();
    assert_eq!(months, ["2026-07", "2026-08", "2026-09"]);
    let declared: f64 = (1..trend.height()).filter_map(|r| cell_f64(trend.get((r, 1)))).sum();
    assert_eq!(declared, hq["declarations"].as_f64().unwrap());
    // The units directly below HQ: its districts.
    let below = wb.worksheet_range("下级单位").unwrap();
    let codes: Vec<String> = (1..below.height()).map(|r| cell_str(below.get((r, 0)))).collect();
    let mut districts: Vec<String> =
        units.iter().filter(|u| u["level"] == "district").map(|u| u["code"].as_str().unwrap().to_string()).collect();
    districts.sort();
    assert_eq!(codes, districts);
    // Rule performance: the rule versions (the CLI reader sees them).
    let rules = wb.worksheet_range("规则").unwrap();
    assert_eq!(cell_str(rules.get((0, 0))), "规则 / Rule");

    // Printable HTML: every KPI, Chinese first, nothing fetched from outside.
    let html_path = e.dir.join("q3.html");
    e.ok_as("hq.manager", &["report", "--period", "2026-Q3", "--format", "html", "--out", html_path.to_str().unwrap()]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    for f in figures {
        let key = f["key"].as_str().unwrap();
        assert!(html.contains(&format!("data-kpi=\"{key}\"")), "{key} in the HTML");
        assert!(html.contains(f["name_zh"].as_str().unwrap()), "{key}'s Chinese name in the HTML");
    }
    for outside in ["http:", "https:", "//", "src=", "href=", "url(", "@import", "<script", "<link"] {
        assert!(!html.contains(outside), "the HTML holds {outside:?}: it must be self-contained");
    }
    assert!(html.contains("@media print") && html.contains("size:A4"), "printable on A4");
    assert!(html.contains("lang=\"zh-CN\""));

    // CSV: a BOM, then one row per part × unit or month × KPI.
    let csv_path = e.dir.join("q3.csv");
    e.ok_as("hq.manager", &["report", "--period", "2026-Q3", "--format", "csv", "--out", csv_path.to_str().unwrap()]);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.starts_with("\u{feff}part,unit,"), "{}", &csv[..40.min(csv.len())]);
    let summary_rows = csv.lines().filter(|l| l.starts_with("summary,")).count();
    assert_eq!(summary_rows, figures.len());

    // A district's report: its offices below it, and a period of days.
    let district = districts[0].clone();
    let d_path = e.dir.join("d.xlsx");
    e.ok_as(
        "hq.manager",
        &[
            "report",
            "--period",
            "2026-06-10..2026-07-20",
            "--office",
            &district,
            "--format",
            "xlsx",
            "--out",
            d_path.to_str().unwrap(),
        ],
    );
    let mut wb: Xlsx<_> = open_workbook(&d_path).unwrap();
    let trend = wb.worksheet_range("趋势").unwrap();
    let months: Vec<String> = (1..trend.height()).map(|r| cell_str(trend.get((r, 0)))).collect();
    assert_eq!(months, ["2026-06", "2026-07"]);
    let below = wb.worksheet_range("下级单位").unwrap();
    let offices: Vec<String> = (1..below.height()).map(|r| cell_str(below.get((r, 0)))).collect();
    let mut want: Vec<String> = units
        .iter()
        .filter(|u| u["parent"] == district.as_str())
        .map(|u| u["code"].as_str().unwrap().to_string())
        .collect();
    want.sort();
    assert!(!want.is_empty() && want.iter().all(|c| offices.contains(c)), "{offices:?} ⊇ {want:?}");
}

#[test]
fn a_bad_period_or_office_is_refused_naming_the_field() {
    let e = Env::new();
    e.ok_as(
        "admin",
        &["import", "offices", &{
            let p = e.dir.join("offices.jsonl");
            std::fs::write(&p, "{\"code\":\"0000\",\"name\":\"海关总署\",\"level\":\"hq\"}\n").unwrap();
            p.display().to_string()
        }],
    );
    let out_file = e.dir.join("x.xlsx");
    for (args, field) in [
        (vec!["--period", "2026-Q5"], "period"),
        (vec!["--period", "2026-04-01..2026-03-01"], "period"),
        (vec!["--period", "2026-Q3", "--office", "9999"], "office"),
    ] {
        let mut all = vec!["report", "--format", "xlsx", "--out", out_file.to_str().unwrap()];
        all.extend(args.iter());
        let out = e.run_as("admin", &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{field}:")), "{args:?}: {err}");
    }
    assert!(!out_file.exists(), "nothing written");
    // An empty store still gives a report of HQ (no data, nothing judged).
    e.ok_as(
        "admin",
        &["report", "--period", "2026", "--format", "html", "--out", e.dir.join("e.html").to_str().unwrap()],
    );
}
