//! `riskgate import`: every DATA.md record kind from JSON Lines, and
//! declarations from CSV through a column-mapping file. Bad records are
//! reported by line and field; good ones are kept; the summary says what
//! happened and the exit code says whether anything was rejected.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use riskgate_app::App;
use riskgate_app::imports::{self, Kind, RecordError};
pub use riskgate_app::screening::Summary;
use riskgate_core::{Declaration, ValidationError};
use serde_json::{Map, Value};

use crate::jsonl;
use crate::screen::{ScreenOptions, screen_values};

pub use crate::jsonl::report;

/// Parses every line with `parse`; reports bad ones; returns the good ones.
fn parse_all<T>(
    file: &Path,
    parse: impl Fn(&Value) -> Result<T, ValidationError>,
    summary: &mut Summary,
) -> Result<Vec<(usize, T)>> {
    let mut out = Vec::new();
    for l in jsonl::read(file)? {
        match l.value {
            Err(e) => {
                report(file, l.number, &e);
                summary.rejected += 1;
            }
            Ok(v) => match parse(&v) {
                Ok(t) => out.push((l.number, t)),
                Err(e) => {
                    report(file, l.number, &e);
                    summary.rejected += 1;
                }
            },
        }
    }
    Ok(out)
}

/// Reports the records a check refused.
fn report_errors(file: &Path, errors: &[RecordError], summary: &mut Summary) {
    for e in errors {
        report(file, e.index, &e.error);
    }
    summary.rejected += errors.len();
}

fn source(file: &Path) -> String {
    file.display().to_string()
}

/// Adds what a commit did to what parsing found.
fn merge(mut s: Summary, done: Summary) -> Summary {
    s.accepted += done.accepted;
    s.duplicates += done.duplicates;
    s
}

/// Records of one kind: bad lines and records refused by the kind's check
/// are reported by line, the rest committed.
pub fn records<T>(app: &mut App, file: &Path, kind: Kind<T>) -> Result<Summary> {
    let mut s = Summary::default();
    let rows = parse_all(file, kind.parse, &mut s)?;
    let errors = (kind.check)(app.store.as_ref(), &rows)?;
    report_errors(file, &errors, &mut s);
    let done = (kind.commit)(app, &imports::good(rows, &errors), &source(file))?;
    Ok(merge(s, done))
}

/// Past declarations: stored without screening, folded into the context.
pub fn import_historical(app: &mut App, file: &Path) -> Result<Summary> {
    let mut s = Summary::default();
    let offices: HashSet<String> = app.store.offices()?.into_iter().map(|o| o.code).collect();
    let bar = crate::progress::bar(0, "history");
    jsonl::for_chunks(file, 5_000, |chunk| {
        let mut good = Vec::with_capacity(chunk.len());
        for (line, text) in chunk {
            let parsed = text
                .and_then(|t| riskgate_app::screening::parse_declaration(&t))
                .and_then(|d| imports::check_office(&offices, &d).map(|_| d));
            match parsed {
                Ok(d) => good.push(d),
                Err(e) => {
                    report(file, line, &e);
                    s.rejected += 1;
                }
            }
        }
        let done = imports::commit_historical(app, &good)?;
        s.accepted += done.accepted;
        s.duplicates += done.duplicates;
        bar.inc(good.len() as u64);
        Ok(())
    })?;
    bar.finish_and_clear();
    app.checkpoint()?;
    Ok(s)
}

/// Live declarations: screened on import, decisions stored.
pub fn import_declarations(app: &mut App, file: &Path, opts: &ScreenOptions) -> Result<Summary> {
    screen_values(app, file, None, opts)
}

/// `import overrides FILE`: overrides as officers made them, one JSON
/// object a line: {"declaration_id", "officer", "at", "to", "reason"}
/// ("from" is informative; the store knows the lane before). Each is its
/// own transaction with its action-log entry; bad lines are reported by
/// line and field and the others applied.
pub fn import_overrides(app: &mut App, file: &Path) -> Result<Summary> {
    let mut s = Summary::default();
    for line in jsonl::read(file)? {
        let parsed = line.value.map_err(|e| e.to_string()).and_then(|v| {
            let text = |k: &str| -> std::result::Result<String, String> {
                v.get(k).and_then(serde_json::Value::as_str).map(str::to_string).ok_or_else(|| {
                    format!("{k}: expected a string, got {}", v.get(k).map_or("nothing".into(), |x| x.to_string()))
                })
            };
            let to = text("to")?;
            let channel = riskgate_core::Channel::parse(&to)
                .ok_or_else(|| format!("to: expected green, yellow or red, got {to:?}"))?;
            let at = text("at")?;
            let at = chrono::DateTime::parse_from_rfc3339(&at)
                .map_err(|_| format!("at: expected an RFC 3339 time, got {at:?}"))?;
            Ok(riskgate_store::Override {
                declaration_id: text("declaration_id")?,
                channel,
                officer: text("officer")?,
                reason: text("reason")?,
                at,
                entered_by: Some(app.user.clone()),
            })
        });
        match parsed {
            Err(e) => {
                report(file, line.number, &e);
                s.rejected += 1;
            }
            Ok(o) => match riskgate_app::overrides::apply(app, &o) {
                Ok(_) => s.accepted += 1,
                Err(e) => match riskgate_app::classify(&e) {
                    Some(refusal) => {
                        report(file, line.number, &refusal);
                        s.rejected += 1;
                    }
                    None => return Err(e),
                },
            },
        }
    }
    Ok(s)
}

// ---------------------------------------------------------------- CSV ----

/// A column-mapping file (TOML) for declarations exported by legacy systems.
///
/// ```toml
/// historical = true          # store without screening (default false)
/// group_by = "Declaration ID" # consecutive rows with this value form one declaration
/// [header]                    # DATA.md declaration field -> source
/// id = "Declaration ID"
/// declared_at = { column = "Date", format = "%Y-%m-%d", time = "09:00:00", offset = "+09:00" }
/// direction = { value = "import" }
/// transport_mode = { column = "Mode of Transport", map = { "10" = "sea", "40" = "air" }, default = "other" }
/// "trader.id" = "Importer ID"
/// [item]
/// hs_code = { column = "HS6 Code", pad = 6 }
/// duty_rate = { column = "Tax Rate", scale = 0.01 }
/// ```
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    pub historical: bool,
    pub group_by: String,
    pub header: std::collections::BTreeMap<String, Source>,
    pub item: std::collections::BTreeMap<String, Source>,
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
}

fn default_delimiter() -> char {
    ','
}

#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum Source {
    Column(String),
    Spec(Box<Spec>),
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub column: Option<String>,
    pub value: Option<String>,
    #[serde(default)]
    pub map: HashMap<String, String>,
    pub default: Option<String>,
    pub format: Option<String>,
    pub time: Option<String>,
    pub offset: Option<String>,
    pub scale: Option<f64>,
    pub pad: Option<usize>,
    pub prefix: Option<String>,
}

const NUMERIC: &[&str] = &["line", "quantity", "net_weight_kg", "value", "duty_rate"];

fn resolve(
    src: &Source,
    row: &csv::StringRecord,
    headers: &HashMap<String, usize>,
    target: &str,
) -> Result<Option<Value>, String> {
    let spec_owned;
    let spec = match src {
        Source::Column(c) => {
            spec_owned = Spec { column: Some(c.clone()), ..Spec::default() };
            &spec_owned
        }
        Source::Spec(s) => s,
    };
    let mut raw: Option<String> = match (&spec.value, &spec.column) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(c)) => {
            let i = headers.get(c).ok_or_else(|| format!("{target}: the mapped column {c:?} is not in the file"))?;
            row.get(*i).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
        }
        (None, None) => return Err(format!("{target}: mapping needs `column` or `value`")),
    };
    if let Some(r) = &raw
        && let Some(m) = spec.map.get(r)
    {
        raw = Some(m.clone());
    } else if raw.is_some() && !spec.map.is_empty() {
        raw = spec.default.clone().or(raw);
    }
    if raw.is_none() {
        raw = spec.default.clone();
    }
    let Some(mut s) = raw else { return Ok(None) };
    if let Some(w) = spec.pad
        && s.len() < w
        && s.bytes().all(|b| b.is_ascii_digit())
    {
        s = format!("{s:0>w$}");
    }
    if let Some(p) = &spec.prefix {
        s = format!("{p}{s}");
    }
    if let Some(fmt) = &spec.format {
        let date = chrono::NaiveDate::parse_from_str(&s, fmt)
            .map_err(|_| format!("{target}: expected a date in format {fmt:?}, got {s:?}"))?;
        let time = spec.time.as_deref().unwrap_or("00:00:00");
        let offset = spec.offset.as_deref().unwrap_or("+08:00");
        s = format!("{date}T{time}{offset}");
    }
    if NUMERIC.contains(&target.rsplit('.').next().unwrap_or(target)) {
        let x: f64 = s.parse().map_err(|_| format!("{target}: expected a number, got {s:?}"))?;
        let x = x * spec.scale.unwrap_or(1.0);
        return Ok(Some(serde_json::json!(x)));
    }
    Ok(Some(Value::String(s)))
}

fn set_path(obj: &mut Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            obj.insert(path.to_string(), v);
        }
        Some((head, rest)) => {
            let e = obj.entry(head.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = e {
                set_path(m, rest, v);
            }
        }
    }
}

/// Reads a CSV through a mapping into declaration JSON values, each with the
/// CSV line of its first row; mapping errors name the line and field.
/// Declaration JSON values with the line they came from, or the error.
pub type Lines = Vec<(usize, Result<Value, String>)>;
type Group = (String, usize, Result<Map<String, Value>, String>);

pub fn csv_declarations(mapping: &Mapping, file: &Path) -> Result<(Lines, bool)> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter as u8)
        .flexible(true)
        .from_path(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    let headers: HashMap<String, usize> =
        rdr.headers()?.iter().enumerate().map(|(i, h)| (h.trim().to_string(), i)).collect();
    let Some(&group_col) = headers.get(&mapping.group_by) else {
        bail!("{}: group_by column {:?} is not in the file", file.display(), mapping.group_by);
    };
    let mut out: Lines = Vec::new();
    let mut current: Option<Group> = None;
    let mut line_no = 1usize;
    for rec in rdr.records() {
        line_no += 1;
        let row = rec.with_context(|| format!("{} line {line_no}: cannot read CSV", file.display()))?;
        let key = row.get(group_col).unwrap_or("").to_string();
        let same = current.as_ref().is_some_and(|(k, _, _)| *k == key);
        if !same {
            if let Some((_, l, obj)) = current.take() {
                out.push((l, obj.map(Value::Object)));
            }
            let mut header = Map::new();
            let mut err = None;
            for (target, src) in &mapping.header {
                match resolve(src, &row, &headers, target) {
                    Ok(Some(v)) => set_path(&mut header, target, v),
                    Ok(None) => {}
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            header.insert("items".into(), Value::Array(Vec::new()));
            current = Some((key, line_no, err.map_or(Ok(header), Err)));
        }
        let (_, _, obj) = current.as_mut().expect("set above");
        if let Ok(h) = obj {
            let mut item = Map::new();
            let n = h.get("items").and_then(Value::as_array).map_or(0, Vec::len);
            item.insert("line".into(), serde_json::json!(n + 1));
            let mut failed = None;
            for (target, src) in &mapping.item {
                match resolve(src, &row, &headers, &format!("items[{n}].{target}")) {
                    Ok(Some(v)) => set_path(&mut item, target, v),
                    Ok(None) => {}
                    Err(e) => {
                        failed = Some(format!("(CSV line {line_no}) {e}"));
                        break;
                    }
                }
            }
            match failed {
                Some(e) => *obj = Err(e),
                None => {
                    if let Some(Value::Array(items)) = h.get_mut("items") {
                        items.push(Value::Object(item));
                    }
                }
            }
        }
    }
    if let Some((_, l, obj)) = current.take() {
        out.push((l, obj.map(Value::Object)));
    }
    Ok((out, mapping.historical))
}

pub fn import_csv(app: &mut App, mapping_file: &Path, file: &Path, opts: &ScreenOptions) -> Result<Summary> {
    let text =
        std::fs::read_to_string(mapping_file).with_context(|| format!("cannot read {}", mapping_file.display()))?;
    let mapping: Mapping =
        toml::from_str(&text).with_context(|| format!("{}: invalid mapping", mapping_file.display()))?;
    let (values, historical) = csv_declarations(&mapping, file)?;
    if historical {
        let mut s = Summary::default();
        let offices: HashSet<String> = app.store.offices()?.into_iter().map(|o| o.code).collect();
        let mut good = Vec::new();
        for (line, v) in values {
            match v.and_then(|v| Declaration::from_json(&v).map_err(|e| e.to_string())).and_then(|d| {
                imports::check_office(&offices, &d)?;
                Ok(d)
            }) {
                Ok(d) => good.push(d),
                Err(e) => {
                    report(file, line, &e);
                    s.rejected += 1;
                }
            }
        }
        for chunk in good.chunks(5_000) {
            s = merge(s, imports::commit_historical(app, chunk)?);
        }
        app.checkpoint()?;
        Ok(s)
    } else {
        screen_values(app, file, Some(values), opts)
    }
}
