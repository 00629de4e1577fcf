//! The KPI report (`riskgate_app::report::Report`) and the console's
//! tables written as files: XLSX (rust_xlsxwriter), one self-contained
//! printable HTML page (A4, Chinese first, no external asset) and CSV.
//! Used by `GET /api/v1/reports/kpi`, `POST /api/v1/exports/xlsx` and
//! `riskgate report`, so the CLI and the API write the same bytes.

use riskgate_app::kpi::Figure;
use riskgate_app::report::{Kpi, Report, UnitKpis, Verdict};
use rust_xlsxwriter::{Color, DocProperties, Format, FormatAlign, Workbook, Worksheet, XlsxError};

pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
pub const HTML_TYPE: &str = "text/html; charset=utf-8";
pub const CSV_TYPE: &str = "text/csv; charset=utf-8";

/// The sheets of the XLSX report, in order.
pub const SHEETS: [&str; 5] = ["概要", "趋势", "下级单位", "规则", "模型"];

/// `riskgate-kpi-2200-2026-Q1.xlsx`: ASCII only, safe in a header.
pub fn file_name(r: &Report, ext: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
    };
    format!("riskgate-kpi-{}-{}.{ext}", clean(&r.unit.code), clean(&r.period.label.replace("..", "_to_")))
}

/// The Chinese text of a KPI's formula, from the console's dictionary
/// (`formula.KEY` in `console/js/i18n.js`), so the report and the console
/// word a formula once; the server's English formula when it has none.
pub fn formula_zh(f: &Figure) -> &str {
    static ZH: std::sync::OnceLock<std::collections::HashMap<&'static str, &'static str>> = std::sync::OnceLock::new();
    let map = ZH.get_or_init(|| {
        include_str!("../console/js/i18n.js")
            .lines()
            .filter_map(|l| {
                let rest = l.trim_start().strip_prefix("'formula.")?;
                let (key, rest) = rest.split_once("':")?;
                let zh = rest.trim_start().strip_prefix("['")?;
                Some((key, &zh[..zh.find('\'')?]))
            })
            .collect()
    });
    map.get(f.key).copied().unwrap_or(f.formula)
}

fn level_zh(level: &str) -> &'static str {
    match level {
        "hq" => "总署",
        "district" => "直属海关",
        _ => "隶属海关",
    }
}

/// How a figure's value reads: a percentage for a rate, else a number.
fn shown(f: &Figure) -> String {
    match f.value {
        None => "—".into(),
        Some(v) if f.unit == "rate" => format!("{:.2}%", v * 100.0),
        Some(v) => format!("{v:.1}"),
    }
}

fn amount(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.2}") }
}

// ------------------------------------------------------------------- XLSX

struct Formats {
    header: Format,
    pct: Format,
    int: Format,
    dec: Format,
    text: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new().set_bold().set_text_wrap().set_background_color(Color::RGB(0xE8EEF4)),
            pct: Format::new().set_num_format("0.00%"),
            int: Format::new().set_num_format("#,##0"),
            dec: Format::new().set_num_format("#,##0.00"),
            text: Format::new().set_text_wrap().set_align(FormatAlign::Top),
        }
    }
    fn number(&self, x: f64) -> &Format {
        if x.fract() == 0.0 { &self.int } else { &self.dec }
    }
}

fn header(ws: &mut Worksheet, f: &Formats, cols: &[(&str, f64)]) -> Result<(), XlsxError> {
    for (i, (label, width)) in cols.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, *label, &f.header)?;
        ws.set_column_width(i as u16, *width)?;
    }
    ws.set_freeze_panes(1, 0)?;
    ws.set_paper_size(9); // A4
    Ok(())
}

/// A figure's value as a number cell (a percentage for a rate), or blank.
fn value_cell(ws: &mut Worksheet, f: &Formats, row: u32, col: u16, fig: &Figure) -> Result<(), XlsxError> {
    match fig.value {
        Some(v) if fig.unit == "rate" => ws.write_number_with_format(row, col, v, &f.pct)?,
        Some(v) => ws.write_number_with_format(row, col, v, &f.dec)?,
        None => ws.write_string(row, col, "—")?,
    };
    Ok(())
}

fn kpi_keys(r: &Report) -> Vec<&Figure> {
    r.unit.kpis.iter().map(|k| &k.figure).collect()
}

/// The report as an XLSX workbook: 概要 (the unit's KPIs), 趋势 (months),
/// 下级单位 (units below), 规则 (rule performance), 模型 (models).
pub fn xlsx(r: &Report) -> Result<Vec<u8>, XlsxError> {
    let f = Formats::new();
    let mut wb = Workbook::new();
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("KPI 报告 {} {} / KPI report", r.unit.name, r.period.label))
            .set_author("riskgate"),
    );

    let ws = wb.add_worksheet();
    ws.set_name(SHEETS[0])?;
    header(
        ws,
        &f,
        &[
            ("指标代码 / Key", 24.0),
            ("指标 / Indicator (中文)", 26.0),
            ("Indicator", 34.0),
            ("公式", 50.0),
            ("Formula", 50.0),
            ("分子 / Numerator", 16.0),
            ("分母 / Denominator", 16.0),
            ("数值 / Value", 12.0),
            ("目标 / Target", 10.0),
            ("评价 / Verdict", 20.0),
        ],
    )?;
    let mut row = 1u32;
    for k in &r.unit.kpis {
        let g = &k.figure;
        ws.write_string(row, 0, g.key)?;
        ws.write_string(row, 1, g.name_zh)?;
        ws.write_string(row, 2, g.name)?;
        ws.write_string_with_format(row, 3, formula_zh(g), &f.text)?;
        ws.write_string_with_format(row, 4, g.formula, &f.text)?;
        ws.write_number_with_format(row, 5, g.numerator, f.number(g.numerator))?;
        ws.write_number_with_format(row, 6, g.denominator, f.number(g.denominator))?;
        value_cell(ws, &f, row, 7, g)?;
        ws.write_string(row, 8, g.target)?;
        ws.write_string(row, 9, format!("{} / {}", k.verdict.zh(), k.verdict.en()))?;
        row += 1;
    }
    row += 1;
    let meta = [
        ("单位 / Unit", format!("{} ({}) · {}", r.unit.name, r.unit.code, level_zh(&r.unit.level))),
        ("期间 / Period", format!("{} ({} – {})", r.period.label, r.period.first, r.period.last)),
        ("报关单 / Declarations", r.unit.declarations.to_string()),
        ("补税 / Additional duty (CNY)", amount(r.unit.additional_duty_cny)),
        ("生成时间 / Generated", r.generated_at.clone()),
        (
            "说明 / Note",
            format!(
                "样本少于 {} 的比率不作评价 / a rate on fewer than {} cases is not judged",
                riskgate_app::report::MIN_CASES,
                riskgate_app::report::MIN_CASES
            ),
        ),
    ];
    for (label, v) in meta {
        ws.write_string_with_format(row, 0, label, &f.header)?;
        ws.write_string(row, 1, v)?;
        row += 1;
    }

    let keys = kpi_keys(r);
    let ws = wb.add_worksheet();
    ws.set_name(SHEETS[1])?;
    let mut cols: Vec<(&str, f64)> = vec![("月份 / Month", 12.0), ("报关单 / Declarations", 14.0)];
    cols.extend(keys.iter().map(|g| (g.name_zh, 16.0)));
    header(ws, &f, &cols)?;
    for (i, m) in r.trend.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &m.month)?;
        ws.write_number_with_format(row, 1, m.declarations as f64, &f.int)?;
        for (j, key) in keys.iter().enumerate() {
            match m.figures.iter().find(|g| g.key == key.key) {
                Some(g) => value_cell(ws, &f, row, j as u16 + 2, g)?,
                None => {
                    ws.write_string(row, j as u16 + 2, "—")?;
                }
            }
        }
    }

    let ws = wb.add_worksheet();
    ws.set_name(SHEETS[2])?;
    let mut cols: Vec<(&str, f64)> = vec![
        ("代码 / Code", 10.0),
        ("名称 / Name", 18.0),
        ("层级 / Level", 10.0),
        ("报关单 / Declarations", 14.0),
        ("补税 / Additional duty (CNY)", 16.0),
    ];
    cols.extend(keys.iter().map(|g| (g.name_zh, 16.0)));
    header(ws, &f, &cols)?;
    for (i, u) in r.below.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &u.code)?;
        ws.write_string(row, 1, &u.name)?;
        ws.write_string(row, 2, level_zh(&u.level))?;
        ws.write_number_with_format(row, 3, u.declarations as f64, &f.int)?;
        ws.write_number_with_format(row, 4, u.additional_duty_cny, &f.dec)?;
        for (j, key) in keys.iter().enumerate() {
            match u.kpis.iter().find(|k| k.figure.key == key.key) {
                Some(k) => value_cell(ws, &f, row, j as u16 + 5, &k.figure)?,
                None => {
                    ws.write_string(row, j as u16 + 5, "—")?;
                }
            }
        }
    }

    let ws = wb.add_worksheet();
    ws.set_name(SHEETS[3])?;
    header(
        ws,
        &f,
        &[
            ("规则 / Rule", 16.0),
            ("版本 / Version", 8.0),
            ("状态 / Status", 10.0),
            ("名称 / Title", 40.0),
            ("部门 / Department", 12.0),
            ("命中 / Hits", 10.0),
            ("布控 / Controls", 10.0),
            ("查获 / Findings", 10.0),
            ("有效率 / Hit rate", 12.0),
            ("补税 / Revenue (CNY)", 16.0),
            ("近期选中率 / Recent selection rate", 16.0),
        ],
    )?;
    match &r.rules {
        None => {
            ws.write_string(1, 0, "无权查看规则统计 / rule statistics are not available to this reader")?;
        }
        Some(rules) => {
            for (i, x) in rules.iter().enumerate() {
                let row = i as u32 + 1;
                ws.write_string(row, 0, &x.id)?;
                ws.write_number(row, 1, x.version)?;
                ws.write_string(row, 2, x.status)?;
                ws.write_string(row, 3, &x.title)?;
                ws.write_string(row, 4, &x.department)?;
                ws.write_number_with_format(row, 5, x.hits as f64, &f.int)?;
                ws.write_number_with_format(row, 6, x.controls as f64, &f.int)?;
                ws.write_number_with_format(row, 7, x.findings as f64, &f.int)?;
                match x.hit_rate {
                    Some(v) => ws.write_number_with_format(row, 8, v, &f.pct)?,
                    None => ws.write_string(row, 8, "—")?,
                };
                ws.write_number_with_format(row, 9, x.revenue_cny, &f.dec)?;
                ws.write_number_with_format(row, 10, x.recent_selection_rate, &f.pct)?;
            }
        }
    }

    let ws = wb.add_worksheet();
    ws.set_name(SHEETS[4])?;
    header(
        ws,
        &f,
        &[
            ("模型 / Model", 36.0),
            ("状态 / Status", 10.0),
            ("创建时间 / Created", 20.0),
            ("创建人 / By", 14.0),
            ("AUC", 8.0),
            ("评估行数 / Evaluation rows", 14.0),
        ],
    )?;
    match &r.models {
        None => {
            ws.write_string(1, 0, "无权查看模型 / models are not available to this reader")?;
        }
        Some(models) => {
            for (i, m) in models.iter().enumerate() {
                let row = i as u32 + 1;
                ws.write_string(row, 0, &m.id)?;
                ws.write_string(row, 1, &m.status)?;
                ws.write_string(row, 2, day_time(m.created_at))?;
                ws.write_string(row, 3, &m.created_by)?;
                if let Some(a) = m.auc {
                    ws.write_number_with_format(row, 4, a, &f.dec)?;
                }
                if let Some(n) = m.eval_rows {
                    ws.write_number_with_format(row, 5, n as f64, &f.int)?;
                }
            }
        }
    }
    wb.save_to_buffer()
}

/// Unix seconds as `2026-03-01 09:00` China time.
fn day_time(t: i64) -> String {
    let tz = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A console table's column: its label and how its cells read.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct Column {
    pub label: String,
    /// `text` (default), `number` or `percent` (numbers as fractions: 0.25 is 25%).
    #[serde(default)]
    pub kind: Option<String>,
}

/// Bounds of an exported table (the request body is bounded too).
pub const MAX_COLUMNS: usize = 100;
pub const MAX_ROWS: usize = 20_000;
/// Excel's own limit on a cell's text.
const MAX_CELL: usize = 32_767;

/// A table as a one-sheet XLSX: header row frozen, column widths from the
/// content, numbers as numbers (percent columns formatted as such).
pub fn table_xlsx(title: &str, columns: &[Column], rows: &[Vec<serde_json::Value>]) -> Result<Vec<u8>, XlsxError> {
    let f = Formats::new();
    let mut wb = Workbook::new();
    wb.set_properties(&DocProperties::new().set_title(title).set_author("riskgate"));
    let ws = wb.add_worksheet();
    let name: String = title
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\' | '\''))
        .take(31)
        .collect::<String>()
        .trim()
        .to_string();
    ws.set_name(if name.is_empty() { "表格".to_string() } else { name })?;
    let width = |s: &str| s.chars().map(|c| if c.is_ascii() { 1.1 } else { 2.1 }).sum::<f64>();
    let mut widths: Vec<f64> = columns.iter().map(|c| width(&c.label).clamp(6.0, 60.0)).collect();
    for (i, c) in columns.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, &c.label, &f.header)?;
    }
    for (r, cells) in rows.iter().enumerate() {
        let row = r as u32 + 1;
        for (i, (cell, col)) in cells.iter().zip(columns).enumerate() {
            let c = i as u16;
            let percent = col.kind.as_deref() == Some("percent");
            match cell {
                serde_json::Value::Null => {}
                serde_json::Value::Number(n) => {
                    let x = n.as_f64().unwrap_or(0.0);
                    let fmt = if percent { &f.pct } else { f.number(x) };
                    ws.write_number_with_format(row, c, x, fmt)?;
                    widths[i] = widths[i].max(12.0);
                }
                serde_json::Value::Bool(b) => {
                    ws.write_string(row, c, if *b { "是" } else { "否" })?;
                }
                serde_json::Value::String(s) => {
                    let s: String = s.chars().take(MAX_CELL).collect();
                    widths[i] = widths[i].max(width(&s).min(60.0));
                    ws.write_string(row, c, s)?;
                }
                other => {
                    ws.write_string(row, c, other.to_string().chars().take(MAX_CELL).collect::<String>())?;
                }
            }
        }
    }
    for (i, w) in widths.iter().enumerate() {
        ws.set_column_width(i as u16, *w + 1.0)?;
    }
    ws.set_freeze_panes(1, 0)?;
    wb.save_to_buffer()
}

// ------------------------------------------------------------------- HTML

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = r#"
*{box-sizing:border-box}
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;color:#1b2733;margin:0;background:#eef1f4;font-size:13px;line-height:1.45}
.page{background:#fff;width:210mm;min-height:297mm;margin:12px auto;padding:14mm 14mm 12mm;box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:21px;margin:0 0 4px}
h2{font-size:16px;margin:0 0 8px;border-bottom:2px solid #2a5d8f;padding-bottom:4px}
.en{color:#5b6b7a;font-weight:normal;font-size:.85em}
.meta{color:#3d4d5c;margin:0 0 12px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{border:1px solid #c9d3dc;padding:3px 5px;vertical-align:top;text-align:left}
th{background:#e8eef4;font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
tr{page-break-inside:avoid;break-inside:avoid}
.formula{color:#3d4d5c;font-size:11px}
.met{color:#1d6b36;font-weight:600}.missed{color:#a4262c;font-weight:600}.few,.none{color:#6b7785}
.note{color:#5b6b7a;font-size:11px}
.small th,.small td{font-size:11px;padding:2px 4px}
@page{size:A4;margin:12mm}
@media print{
 body{background:#fff}
 .page{width:auto;min-height:0;margin:0;padding:0;box-shadow:none;page-break-after:always;break-after:page}
 .page:last-child{page-break-after:auto;break-after:auto}
 th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"#;

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Missed => "missed",
        Verdict::TooFew => "few",
        _ => "none",
    }
}

fn kpi_rows(out: &mut String, kpis: &[Kpi]) {
    for k in kpis {
        let g = &k.figure;
        out.push_str(&format!(
            "<tr data-kpi=\"{key}\"><td>{zh}<br><span class=\"en\">{en}</span><div class=\"formula\">{formula_zh}<br><span class=\"en\">{formula}</span></div></td>\
             <td class=\"num\">{n}</td><td class=\"num\">{d}</td><td class=\"num\">{v}</td><td>{t}</td>\
             <td class=\"{cls}\">{vz}<br><span class=\"en\">{ve}</span></td></tr>\n",
            key = esc(g.key),
            zh = esc(g.name_zh),
            en = esc(g.name),
            formula_zh = esc(formula_zh(g)),
            formula = esc(g.formula),
            n = amount(g.numerator),
            d = amount(g.denominator),
            v = shown(g),
            t = esc(g.target),
            cls = verdict_class(k.verdict),
            vz = k.verdict.zh(),
            ve = k.verdict.en(),
        ));
    }
}

/// A wide table of units or months × KPIs, split into chunks of columns
/// so it fits an A4 page.
fn wide_table(out: &mut String, first: &[&str], keys: &[&Figure], rows: &[(Vec<String>, Vec<Option<&Figure>>)]) {
    for chunk in keys.chunks(6).zip(0..).map(|(c, i)| (c, i * 6)) {
        let (cols, offset) = chunk;
        out.push_str("<table class=\"small\"><thead><tr>");
        for f in first {
            out.push_str(&format!("<th>{f}</th>"));
        }
        for g in cols {
            out.push_str(&format!("<th class=\"num\">{}</th>", esc(g.name_zh)));
        }
        out.push_str("</tr></thead><tbody>\n");
        for (lead, figs) in rows {
            out.push_str("<tr>");
            for l in lead {
                out.push_str(&format!("<td>{l}</td>"));
            }
            for j in 0..cols.len() {
                let v = figs.get(offset + j).copied().flatten().map_or("—".to_string(), shown);
                out.push_str(&format!("<td class=\"num\">{v}</td>"));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }
}

fn figures_by_key<'a>(keys: &[&Figure], figs: impl Fn(&str) -> Option<&'a Figure>) -> Vec<Option<&'a Figure>> {
    keys.iter().map(|k| figs(k.key)).collect()
}

fn unit_rows<'a>(keys: &[&Figure], units: &'a [UnitKpis]) -> Vec<(Vec<String>, Vec<Option<&'a Figure>>)> {
    units
        .iter()
        .map(|u| {
            (
                vec![format!("{} ({})", esc(&u.name), esc(&u.code)), u.declarations.to_string()],
                figures_by_key(keys, |k| u.kpis.iter().find(|x| x.figure.key == k).map(|x| &x.figure)),
            )
        })
        .collect()
}

/// The report as one printable HTML page: inline CSS, no script, no
/// external asset; each part a page when printed (A4).
pub fn html(r: &Report) -> String {
    let mut o = String::new();
    let title = format!("{} KPI 报告 · {}", esc(&r.unit.name), esc(&r.period.label));
    o.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{CSS}</style></head><body>\n"
    ));
    let meta = format!(
        "<p class=\"meta\">单位 <span class=\"en\">Unit</span>：{} ({}) · {} · 期间 <span class=\"en\">Period</span>：{} （{} 至 {}）<br>\
         报关单 <span class=\"en\">Declarations</span>：{} · 补税 <span class=\"en\">Additional duty</span>：{} CNY · 生成时间 <span class=\"en\">Generated</span>：{}</p>",
        esc(&r.unit.name),
        esc(&r.unit.code),
        level_zh(&r.unit.level),
        esc(&r.period.label),
        r.period.first,
        r.period.last,
        r.unit.declarations,
        amount(r.unit.additional_duty_cny),
        esc(&r.generated_at),
    );

    o.push_str("<section class=\"page\" id=\"summary\">\n");
    o.push_str(&format!("<h1>{title} <span class=\"en\">KPI report</span></h1>\n{meta}\n"));
    o.push_str("<h2>一、关键绩效指标 <span class=\"en\">Key performance indicators</span></h2>\n");
    o.push_str(
        "<table><thead><tr><th>指标与公式 <span class=\"en\">Indicator and formula</span></th><th class=\"num\">分子 <span class=\"en\">Num.</span></th>\
         <th class=\"num\">分母 <span class=\"en\">Den.</span></th><th class=\"num\">数值 <span class=\"en\">Value</span></th>\
         <th>目标 <span class=\"en\">Target</span></th><th>评价 <span class=\"en\">Verdict</span></th></tr></thead><tbody>\n",
    );
    kpi_rows(&mut o, &r.unit.kpis);
    o.push_str(&format!(
        "</tbody></table>\n<p class=\"note\">样本少于 {n} 的比率不作评价（样本过少）。<span class=\"en\">A rate on fewer than {n} cases is not judged (too few cases).</span></p>\n</section>\n",
        n = riskgate_app::report::MIN_CASES
    ));

    let keys = kpi_keys(r);
    o.push_str(
        "<section class=\"page\" id=\"trend\">\n<h2>二、月度趋势 <span class=\"en\">Monthly trend</span></h2>\n",
    );
    let rows: Vec<(Vec<String>, Vec<Option<&Figure>>)> = r
        .trend
        .iter()
        .map(|m| {
            (
                vec![esc(&m.month), m.declarations.to_string()],
                figures_by_key(&keys, |k| m.figures.iter().find(|g| g.key == k)),
            )
        })
        .collect();
    wide_table(
        &mut o,
        &["月份 <span class=\"en\">Month</span>", "报关单 <span class=\"en\">Decl.</span>"],
        &keys,
        &rows,
    );
    o.push_str("</section>\n");

    o.push_str("<section class=\"page\" id=\"below\">\n<h2>三、下级单位 <span class=\"en\">Units below</span></h2>\n");
    if r.below.is_empty() {
        o.push_str(
            "<p class=\"note\">本单位无下级单位。<span class=\"en\">This unit has no units below it.</span></p>\n",
        );
    } else {
        let rows = unit_rows(&keys, &r.below);
        wide_table(
            &mut o,
            &["单位 <span class=\"en\">Unit</span>", "报关单 <span class=\"en\">Decl.</span>"],
            &keys,
            &rows,
        );
    }
    o.push_str("</section>\n");

    o.push_str(
        "<section class=\"page\" id=\"rules\">\n<h2>四、规则表现 <span class=\"en\">Rule performance</span></h2>\n",
    );
    match &r.rules {
        None => o.push_str("<p class=\"note\">无权查看规则统计。<span class=\"en\">Rule statistics are not available to this reader.</span></p>\n"),
        Some(rules) => {
            o.push_str("<p class=\"note\">本单位及下属单位的累计统计（不限于本期）。<span class=\"en\">All-time statistics on the unit's offices, not only the period.</span></p>\n");
            o.push_str(
                "<table class=\"small\"><thead><tr><th>规则 <span class=\"en\">Rule</span></th><th>状态 <span class=\"en\">Status</span></th>\
                 <th>名称 <span class=\"en\">Title</span></th><th class=\"num\">命中 <span class=\"en\">Hits</span></th>\
                 <th class=\"num\">布控 <span class=\"en\">Controls</span></th><th class=\"num\">查获 <span class=\"en\">Findings</span></th>\
                 <th class=\"num\">有效率 <span class=\"en\">Hit rate</span></th><th class=\"num\">补税 <span class=\"en\">Revenue</span></th></tr></thead><tbody>\n",
            );
            for x in rules {
                o.push_str(&format!(
                    "<tr><td>{}@{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                    esc(&x.id),
                    x.version,
                    rule_status_zh(x.status),
                    esc(&x.title),
                    x.hits,
                    x.controls,
                    x.findings,
                    x.hit_rate.map_or("—".into(), |v| format!("{:.2}%", v * 100.0)),
                    amount(x.revenue_cny),
                ));
            }
            o.push_str("</tbody></table>\n");
        }
    }
    o.push_str("<h2>五、模型状态 <span class=\"en\">Model status</span></h2>\n");
    match &r.models {
        None => o.push_str("<p class=\"note\">无权查看模型。<span class=\"en\">Models are not available to this reader.</span></p>\n"),
        Some(models) if models.is_empty() => {
            o.push_str("<p class=\"note\">尚无模型，使用统计评分。<span class=\"en\">No model yet: the statistical scorer is used.</span></p>\n")
        }
        Some(models) => {
            o.push_str(
                "<table class=\"small\"><thead><tr><th>模型 <span class=\"en\">Model</span></th><th>状态 <span class=\"en\">Status</span></th>\
                 <th>创建时间 <span class=\"en\">Created</span></th><th class=\"num\">AUC</th><th class=\"num\">评估行数 <span class=\"en\">Eval. rows</span></th></tr></thead><tbody>\n",
            );
            for m in models {
                o.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                    esc(&m.id),
                    model_status_zh(&m.status),
                    day_time(m.created_at),
                    m.auc.map_or("—".into(), |a| format!("{a:.3}")),
                    m.eval_rows.map_or("—".into(), |n| n.to_string()),
                ));
            }
            o.push_str("</tbody></table>\n");
        }
    }
    o.push_str("</section>\n</body></html>\n");
    o
}

fn rule_status_zh(s: &str) -> String {
    match s {
        "active" => "生效".into(),
        "draft" => "草稿".into(),
        "retired" => "停用".into(),
        "approved" => "已批准".into(),
        other => esc(other),
    }
}

fn model_status_zh(s: &str) -> String {
    match s {
        "active" => "使用中".into(),
        "shadow" => "影子运行".into(),
        "candidate" => "候选".into(),
        "retired" => "停用".into(),
        other => esc(other),
    }
}

// -------------------------------------------------------------------- CSV

fn csv_field(s: &str) -> String {
    // A text starting like a formula is kept text in a spreadsheet.
    let s = if s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err()) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// The report's KPI figures as one long CSV table (UTF-8 with a BOM so a
/// spreadsheet reads the Chinese): a row per part × unit or month × KPI.
pub fn csv(r: &Report) -> String {
    let mut o = String::from("\u{feff}");
    o.push_str("part,unit,unit_name,month,key,name_zh,name,numerator,denominator,value,target,verdict\r\n");
    let mut line = |part: &str, u: &UnitKpis, month: &str, g: &Figure, verdict: &str| {
        let cells = [
            part.to_string(),
            u.code.clone(),
            u.name.clone(),
            month.to_string(),
            g.key.to_string(),
            g.name_zh.to_string(),
            g.name.to_string(),
            amount(g.numerator),
            amount(g.denominator),
            g.value.map_or(String::new(), |v| v.to_string()),
            g.target.to_string(),
            verdict.to_string(),
        ];
        o.push_str(&cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        o.push_str("\r\n");
    };
    for k in &r.unit.kpis {
        line("summary", &r.unit, "", &k.figure, k.verdict.en());
    }
    for m in &r.trend {
        for g in &m.figures {
            line("trend", &r.unit, &m.month, g, "");
        }
    }
    for u in &r.below {
        for k in &u.kpis {
            line("below", u, "", &k.figure, k.verdict.en());
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskgate_app::report::{Period, judge};

    fn report(name: &str) -> Report {
        let figure = Figure {
            key: "targeting_rate",
            name_zh: "布控率",
            name: "targeting rate",
            formula: "controlled declarations ÷ declarations",
            numerator: 40.0,
            denominator: 1000.0,
            value: Some(0.04),
            target: "≈4%",
            unit: "rate",
        };
        let unit = UnitKpis {
            code: "2200".into(),
            name: name.into(),
            level: "district".into(),
            declarations: 1000,
            additional_duty_cny: 12.5,
            kpis: vec![Kpi { verdict: judge(&figure), figure }],
        };
        Report {
            period: Period::parse("2026-Q1").unwrap(),
            generated_at: "2026-04-01T09:00:00+08:00".into(),
            below: vec![],
            trend: vec![],
            rules: None,
            models: None,
            unit,
        }
    }

    #[test]
    fn the_html_escapes_what_it_shows_and_fetches_nothing() {
        let html = html(&report("<script>alert(1)</script>=\"x\""));
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;=&quot;x&quot;"));
        assert!(html.contains("data-kpi=\"targeting_rate\"") && html.contains("达标"));
        assert!(
            html.contains("实际完成查验的报关单（系统布控、关员改判、人工布控）÷ 报关单"),
            "the Chinese formula from the console's dictionary"
        );
        assert!(!html.contains("http") && !html.contains("src="), "self-contained");
    }

    #[test]
    fn csv_keeps_a_formula_looking_text_as_text() {
        let csv = csv(&report("=HYPERLINK(\"x\")"));
        assert!(csv.starts_with('\u{feff}'));
        assert!(csv.contains(",\"'=HYPERLINK(\"\"x\"\")\","), "{csv}");
        assert!(csv.contains("summary,2200,"));
    }

    #[test]
    fn a_table_sheet_gets_a_legal_name_and_file_names_stay_ascii() {
        let cols = vec![Column { label: "布控率".into(), kind: Some("percent".into()) }];
        let bytes = table_xlsx("a/b:c*d?[e]", &cols, &[vec![serde_json::json!(0.04)], vec![serde_json::Value::Null]]);
        assert!(bytes.unwrap().starts_with(b"PK"));
        let mut r = report("上海海关");
        r.period = Period::parse("2026-01-01..2026-03-31").unwrap();
        assert_eq!(file_name(&r, "xlsx"), "riskgate-kpi-2200-2026-01-01_to_2026-03-31.xlsx");
    }
}
