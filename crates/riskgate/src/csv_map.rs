//! Declarations from a legacy CSV export through a TOML column mapping:
//! rows to DATA.md declaration JSON, one declaration per run of rows with
//! the same `group_by` value. A bad row rejects its declaration, naming the
//! CSV line and the field or column; the others go on. The mapping is
//! checked whole before any row is read.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

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
    pub header: BTreeMap<String, Source>,
    pub item: BTreeMap<String, Source>,
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
}

fn default_delimiter() -> char {
    ','
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum Source {
    Column(String),
    Spec(Box<Spec>),
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
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

/// Widest `pad`: HS codes are at most 10 digits, trade modes 4, ids 64.
pub const MAX_PAD: usize = 64;

const NUMERIC: &[&str] = &["line", "quantity", "net_weight_kg", "value", "duty_rate"];

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mapping: Mapping = toml::from_str(&text).with_context(|| format!("{}: invalid mapping", path.display()))?;
        mapping.check().map_err(|e| anyhow::anyhow!("{}: invalid mapping: {e}", path.display()))?;
        Ok(mapping)
    }

    /// What would make rows map wrongly or not at all, named by the
    /// mapping's own key (`header."trader.id"`, `item.value.scale`): a
    /// delimiter that is not one ASCII byte, a field path with an empty
    /// part or mapped both as a value and as an object, a source with
    /// neither `column` nor `value`, a `pad` over 64, a `scale` that is
    /// not a finite number.
    pub fn check(&self) -> Result<(), String> {
        let d = self.delimiter;
        if !d.is_ascii() || matches!(d, '"' | '\n' | '\r') {
            return Err(format!("delimiter: expected one ASCII character other than a quote or a line end, got {d:?}"));
        }
        for (section, targets) in [("header", &self.header), ("item", &self.item)] {
            for (target, src) in targets {
                let at = format!("{section}.{target:?}");
                if target.split('.').any(|p| p.trim().is_empty()) {
                    return Err(format!("{at}: expected a field path such as \"trader.id\", with no empty part"));
                }
                if section == "header" && target.split('.').next() == Some("items") {
                    return Err(format!("{at}: items come from the [item] section"));
                }
                if let Some(inner) = targets.keys().find(|t| t.starts_with(&format!("{target}."))) {
                    return Err(format!("{at}: mapped as a value, but {inner:?} maps a field inside it"));
                }
                let Source::Spec(spec) = src else { continue };
                if spec.column.is_none() && spec.value.is_none() {
                    return Err(format!("{at}: expected `column` or `value`"));
                }
                if let Some(p) = spec.pad
                    && p > MAX_PAD
                {
                    return Err(format!("{at}.pad: expected at most {MAX_PAD}, got {p}"));
                }
                if let Some(x) = spec.scale
                    && !x.is_finite()
                {
                    return Err(format!("{at}.scale: expected a finite number, got {x}"));
                }
            }
        }
        Ok(())
    }
}

/// The value of field `target` for one row, `None` if empty; an error
/// names the field.
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
    if let Some(w) = spec.pad.map(|w| w.min(MAX_PAD))
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
            .map_err(|_| format!("{target}: expected a date in format {fmt:?}, got {}", shown(&s)))?;
        let time = spec.time.as_deref().unwrap_or("00:00:00");
        let offset = spec.offset.as_deref().unwrap_or("+08:00");
        s = format!("{date}T{time}{offset}");
    }
    if NUMERIC.contains(&target.rsplit('.').next().unwrap_or(target)) {
        let x: f64 = s.parse().map_err(|_| format!("{target}: expected a number, got {}", shown(&s)))?;
        let x = x * spec.scale.unwrap_or(1.0);
        // "NaN", "inf" and "1e999" parse as numbers JSON cannot hold.
        if !x.is_finite() {
            return Err(format!("{target}: expected a finite number, got {}", shown(&s)));
        }
        return Ok(Some(serde_json::json!(x)));
    }
    Ok(Some(Value::String(s)))
}

/// A cell in a message: quoted, escaped, at most 40 characters.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(40).collect();
    if cut.len() < s.len() { format!("{cut:?}…") } else { format!("{cut:?}") }
}

/// Sets `v` at the dotted `path` (`trader.id`) of `obj`. [`Mapping::check`]
/// has made sure no part of a path is mapped as a value.
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

/// Declaration JSON values with the line they came from, or the error.
pub type Lines = Vec<(usize, Result<Value, String>)>;
/// The declaration being built: its group key, first line, and JSON or error.
type Group = (Vec<u8>, usize, Result<Map<String, Value>, String>);

/// Line numbers of CSV records. The csv crate's own (`Position::line`)
/// counts from where the previous record ended, so after a CRLF or a blank
/// line it names the line before; this sees the bytes the reader reads and
/// skips the line ends before a record. Only the bytes not yet passed are
/// kept (about one buffer of the reader).
struct LineCounter {
    seen: Rc<RefCell<VecDeque<u8>>>,
    /// Offset of `seen[0]` in the input, and the line it is on.
    at: u64,
    line: usize,
}

struct Tee<R> {
    inner: R,
    seen: Rc<RefCell<VecDeque<u8>>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.borrow_mut().extend(&buf[..n]);
        Ok(n)
    }
}

impl LineCounter {
    fn wrap<R: Read>(inner: R) -> (Tee<R>, LineCounter) {
        let seen = Rc::new(RefCell::new(VecDeque::new()));
        (Tee { inner, seen: seen.clone() }, LineCounter { seen, at: 0, line: 1 })
    }

    /// The line and byte offset where the record at offset `byte` (as the
    /// csv reader gives it) starts: past any line ends.
    fn start_of(&mut self, byte: u64) -> (usize, u64) {
        let mut seen = self.seen.borrow_mut();
        let k = (byte.saturating_sub(self.at) as usize).min(seen.len());
        self.line += seen.range(..k).filter(|b| **b == b'\n').count();
        seen.drain(..k);
        self.at += k as u64;
        let (mut line, mut at) = (self.line, self.at);
        for b in seen.iter() {
            match b {
                b'\n' => line += 1,
                b'\r' => {}
                _ => break,
            }
            at += 1;
        }
        (line, at)
    }
}

/// Reads a CSV file through a (checked) mapping into declaration JSON
/// values, each with the CSV line of its first row.
pub fn csv_declarations(mapping: &Mapping, file: &Path) -> Result<(Lines, bool)> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let lines = read(mapping, std::io::BufReader::new(f)).map_err(|e| anyhow::anyhow!("{}: {e:#}", file.display()))?;
    Ok((lines, mapping.historical))
}

/// Rows of `input` through `mapping`. An error of the file as a whole (no
/// header, the `group_by` column missing, unreadable input) stops here;
/// a bad row, a row that is not UTF-8 included, rejects its declaration
/// naming the CSV line (`(CSV line N) …` for a row after the first of its
/// declaration) and the field or column.
pub fn read(mapping: &Mapping, input: impl Read) -> Result<Lines> {
    mapping.check().map_err(|e| anyhow::anyhow!("invalid mapping: {e}"))?;
    let (input, mut lines) = LineCounter::wrap(input);
    let mut rdr = csv::ReaderBuilder::new().delimiter(mapping.delimiter as u8).flexible(true).from_reader(input);
    let names = rdr.byte_headers().context("line 1: cannot read the CSV header")?.clone();
    let names = csv::StringRecord::from_byte_record(names).map_err(|e| {
        anyhow::anyhow!(
            "line 1: the header is not UTF-8 text (column {}); the file must be UTF-8",
            e.utf8_error().field() + 1
        )
    })?;
    let headers: HashMap<String, usize> = names.iter().enumerate().map(|(i, h)| (h.trim().to_string(), i)).collect();
    let Some(&group_col) = headers.get(&mapping.group_by) else {
        bail!("group_by column {:?} is not in the file", mapping.group_by);
    };
    let column = |i: usize| names.get(i).map_or_else(|| format!("column {}", i + 1), |n| format!("column {n:?}"));
    let mut out: Lines = Vec::new();
    let mut current: Option<Group> = None;
    let mut line_no = 1;
    for rec in rdr.byte_records() {
        let rec = rec.with_context(|| format!("after line {line_no}: cannot read CSV"))?;
        // The line the row starts on (a quoted cell may span lines).
        let (line, start) = lines.start_of(rec.position().map_or(0, |p| p.byte()));
        line_no = line;
        let key = rec.get(group_col).unwrap_or(b"").to_vec();
        let row = csv::StringRecord::from_byte_record(rec).map_err(|e| {
            let u = e.utf8_error();
            format!(
                "not UTF-8 text: {} has a bad byte at offset {} of the cell (the row starts at offset {start} of the file); the file must be UTF-8",
                column(u.field()),
                u.valid_up_to()
            )
        });
        let same = current.as_ref().is_some_and(|(k, _, _)| *k == key);
        if !same {
            if let Some((_, l, obj)) = current.take() {
                out.push((l, obj.map(Value::Object)));
            }
            let header = row.as_ref().map_err(Clone::clone).and_then(|row| {
                let mut header = Map::new();
                for (target, src) in &mapping.header {
                    if let Some(v) = resolve(src, row, &headers, target)? {
                        set_path(&mut header, target, v);
                    }
                }
                header.insert("items".into(), Value::Array(Vec::new()));
                Ok(header)
            });
            current = Some((key, line, header));
        }
        let (_, _, obj) = current.as_mut().expect("set above");
        let Ok(h) = obj else { continue };
        let n = h.get("items").and_then(Value::as_array).map_or(0, Vec::len);
        let item = row.and_then(|row| {
            let mut item = Map::new();
            item.insert("line".into(), serde_json::json!(n + 1));
            for (target, src) in &mapping.item {
                if let Some(v) = resolve(src, &row, &headers, &format!("items[{n}].{target}"))? {
                    set_path(&mut item, target, v);
                }
            }
            Ok(item)
        });
        match item {
            Err(e) => *obj = Err(format!("(CSV line {line}) {e}")),
            Ok(item) => {
                if let Some(Value::Array(items)) = h.get_mut("items") {
                    items.push(Value::Object(item));
                }
            }
        }
    }
    if let Some((_, l, obj)) = current.take() {
        out.push((l, obj.map(Value::Object)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
