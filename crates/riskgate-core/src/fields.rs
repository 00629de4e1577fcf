//! Field-by-field reading of JSON objects with error paths, so a bad record
//! is reported as `items[0].hs_code: expected 6 to 10 digits, got "85A7"`
//! rather than as a serde position.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::{Map, Value};

use crate::error::ValidationError;

/// Bounds on amounts at the edge (CNY or the declared currency): a
/// quadrillion is far above any real declaration, payment or duty even in
/// currencies of small units (IDR, VND), and keeps every running total the
/// engine keeps finite (a total of a billion such amounts is 1e24). Over
/// it, a record is refused, naming the field.
pub const MAX_AMOUNT: f64 = 1e15;
/// Bound on an item's quantity (statutory units).
pub const MAX_QUANTITY: f64 = 1e12;
/// Least quantity, and least non-zero net weight in kilograms (a
/// milligram): the engine divides by both (unit value, kg per unit, value
/// per kg), and a tiny positive number like 5e-324 made those infinite.
pub const MIN_QUANTITY: f64 = 1e-6;
pub const MIN_WEIGHT_KG: f64 = 1e-6;
/// Bound on an item's net weight in kilograms (ten million tonnes).
pub const MAX_WEIGHT_KG: f64 = 1e10;

/// How deep a value kept in `attributes` may nest (arrays and objects in
/// one another; a scalar is 0 deep).
pub const MAX_ATTRIBUTE_DEPTH: usize = 32;

/// Whether `v` nests deeper than `limit` (recursing at most `limit` levels).
fn depth_over(v: &Value, limit: usize) -> bool {
    match v {
        Value::Array(_) | Value::Object(_) if limit == 0 => true,
        Value::Array(a) => a.iter().any(|x| depth_over(x, limit - 1)),
        Value::Object(m) => m.values().any(|x| depth_over(x, limit - 1)),
        _ => false,
    }
}

/// Reads one JSON object, remembering which keys were consumed so the rest
/// can be kept in `attributes` instead of being silently dropped.
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
    used: Vec<&'static str>,
}

pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut s = s.clone();
            if s.chars().count() > 40 {
                s = s.chars().take(40).collect::<String>() + "…";
            }
            format!("{s:?}")
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl<'a> Obj<'a> {
    pub fn new(v: &'a Value, path: &str) -> Result<Self, ValidationError> {
        match v {
            Value::Object(map) => Ok(Obj { map, path: path.to_string(), used: Vec::new() }),
            other => Err(ValidationError::new(
                if path.is_empty() { "(record)" } else { path },
                "a JSON object",
                describe(other),
            )),
        }
    }

    pub fn path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
    }

    fn err(&self, key: &str, expected: &str, got: String) -> ValidationError {
        ValidationError::new(&self.path(key), expected, got)
    }

    /// The raw value, if present and not null.
    pub fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.push(key);
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn req(&mut self, key: &'static str, expected: &str) -> Result<&'a Value, ValidationError> {
        self.get(key).ok_or_else(|| self.err(key, expected, "nothing (field missing)".into()))
    }

    pub fn req_str(&mut self, key: &'static str) -> Result<&'a str, ValidationError> {
        let v = self.req(key, "a non-empty string")?;
        match v.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(self.err(key, "a non-empty string", describe(v))),
        }
    }

    pub fn opt_str(&mut self, key: &'static str) -> Result<Option<&'a str>, ValidationError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.err(key, "a string", describe(v))),
        }
    }

    /// A string matching `check`; `expected` describes the accepted form.
    pub fn req_str_with(
        &mut self,
        key: &'static str,
        expected: &str,
        check: impl Fn(&str) -> bool,
    ) -> Result<&'a str, ValidationError> {
        let v = self.req(key, expected)?;
        match v.as_str() {
            Some(s) if check(s) => Ok(s),
            _ => Err(self.err(key, expected, describe(v))),
        }
    }

    pub fn opt_str_with(
        &mut self,
        key: &'static str,
        expected: &str,
        check: impl Fn(&str) -> bool,
    ) -> Result<Option<&'a str>, ValidationError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                Some(s) if check(s) => Ok(Some(s)),
                _ => Err(self.err(key, expected, describe(v))),
            },
        }
    }

    /// One of a closed set of words.
    pub fn req_enum<T: Copy>(&mut self, key: &'static str, options: &[(&str, T)]) -> Result<T, ValidationError> {
        let expected = one_of(options);
        let v = self.req(key, &expected)?;
        v.as_str()
            .and_then(|s| options.iter().find(|(n, _)| *n == s).map(|(_, t)| *t))
            .ok_or_else(|| self.err(key, &expected, describe(v)))
    }

    pub fn req_num(
        &mut self,
        key: &'static str,
        expected: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<f64, ValidationError> {
        let v = self.req(key, expected)?;
        match v.as_f64() {
            Some(x) if x.is_finite() && ok(x) => Ok(x),
            _ => Err(self.err(key, expected, describe(v))),
        }
    }

    pub fn opt_num(
        &mut self,
        key: &'static str,
        expected: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<Option<f64>, ValidationError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && ok(x) => Ok(Some(x)),
                _ => Err(self.err(key, expected, describe(v))),
            },
        }
    }

    pub fn req_bool(&mut self, key: &'static str) -> Result<bool, ValidationError> {
        let v = self.req(key, "true or false")?;
        v.as_bool().ok_or_else(|| self.err(key, "true or false", describe(v)))
    }

    pub fn opt_bool(&mut self, key: &'static str) -> Result<Option<bool>, ValidationError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| self.err(key, "true or false", describe(v))),
        }
    }

    pub fn req_time(&mut self, key: &'static str) -> Result<DateTime<FixedOffset>, ValidationError> {
        const EXPECTED: &str = "an RFC 3339 time with offset, e.g. \"2026-03-01T09:12:00+08:00\"";
        let v = self.req(key, EXPECTED)?;
        v.as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .ok_or_else(|| self.err(key, EXPECTED, describe(v)))
    }

    pub fn opt_time(&mut self, key: &'static str) -> Result<Option<DateTime<FixedOffset>>, ValidationError> {
        if self.map.get(key).is_none_or(Value::is_null) {
            self.used.push(key);
            return Ok(None);
        }
        self.req_time(key).map(Some)
    }

    /// A time, accepting a full RFC 3339 time or a bare `YYYY-MM-DD`
    /// (taken as midnight China time), for records kept by the day.
    pub fn req_time_or_date(&mut self, key: &'static str) -> Result<DateTime<FixedOffset>, ValidationError> {
        const EXPECTED: &str = "an RFC 3339 time with offset or a date \"YYYY-MM-DD\"";
        let v = self.req(key, EXPECTED)?;
        v.as_str()
            .and_then(|s| {
                DateTime::parse_from_rfc3339(s).ok().or_else(|| {
                    let d = date(s)?;
                    let tz = FixedOffset::east_opt(8 * 3600)?;
                    d.and_hms_opt(0, 0, 0)?.and_local_timezone(tz).single()
                })
            })
            .ok_or_else(|| self.err(key, EXPECTED, describe(v)))
    }

    /// A date, accepting either `YYYY-MM-DD` or a full RFC 3339 time.
    pub fn opt_date(&mut self, key: &'static str) -> Result<Option<NaiveDate>, ValidationError> {
        const EXPECTED: &str = "a date \"YYYY-MM-DD\" or an RFC 3339 time";
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(|s| date(s).or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|t| t.date_naive())))
                .map(Some)
                .ok_or_else(|| self.err(key, EXPECTED, describe(v))),
        }
    }

    pub fn req_array(&mut self, key: &'static str, expected: &str) -> Result<&'a Vec<Value>, ValidationError> {
        let v = self.req(key, expected)?;
        v.as_array().ok_or_else(|| self.err(key, expected, describe(v)))
    }

    pub fn opt_array(&mut self, key: &'static str, expected: &str) -> Result<Option<&'a Vec<Value>>, ValidationError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_array().map(Some).ok_or_else(|| self.err(key, expected, describe(v))),
        }
    }

    /// Keys not consumed, merged with an explicit `attributes` object.
    /// Each value kept nests at most [`MAX_ATTRIBUTE_DEPTH`] deep: the
    /// record is stored with its attributes one or more levels further in
    /// than they came, and must read back within serde_json's limit of 128.
    pub fn rest(&mut self) -> Result<Map<String, Value>, ValidationError> {
        let mut out = match self.get("attributes") {
            None => Map::new(),
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    self.shallow(&self.path("attributes"), k, v)?;
                }
                m.clone()
            }
            Some(v) => return Err(self.err("attributes", "an object", describe(v))),
        };
        for (k, v) in self.map {
            if !self.used.iter().any(|u| u == k) {
                self.shallow(&self.path, k, v)?;
                out.insert(k.clone(), v.clone());
            }
        }
        Ok(out)
    }

    /// Refuses an attribute `key` (under `path`) nested deeper than [`MAX_ATTRIBUTE_DEPTH`].
    fn shallow(&self, path: &str, key: &str, v: &Value) -> Result<(), ValidationError> {
        if depth_over(v, MAX_ATTRIBUTE_DEPTH) {
            let mut at = path.to_string();
            crate::json::push_key(&mut at, key);
            return Err(ValidationError::new(
                &at,
                &format!("a value nested at most {MAX_ATTRIBUTE_DEPTH} deep"),
                "one nested deeper",
            ));
        }
        Ok(())
    }

    /// Rejects keys that were not consumed (for records without `attributes`).
    pub fn deny_rest(&self) -> Result<(), ValidationError> {
        for k in self.map.keys() {
            if !self.used.iter().any(|u| u == k) {
                let mut path = self.path.clone();
                crate::json::push_key(&mut path, k);
                return Err(ValidationError::new(&path, "no such field in this record kind", "an unknown field"));
            }
        }
        Ok(())
    }
}

/// A bare date written `YYYY-MM-DD`, four digits of year as RFC 3339 has
/// them: chrono's `%Y` also takes `+12345` or `5`, and a time made from
/// such a date would serialise to a text no RFC 3339 parser reads back.
fn date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    shape.then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()).flatten()
}

pub fn one_of<T>(options: &[(&str, T)]) -> String {
    let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    format!("one of {}", names.join(", "))
}

pub fn is_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

pub fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' || b == b'/')
}
