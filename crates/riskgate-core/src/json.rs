//! JSON text of a record entering the system, read into a `Value` that
//! refuses a key repeated in one object, at any depth
//! (`{"id":"A","id":"B"}`). serde_json keeps the last of repeated keys, so
//! such a record would be validated on its last value but stored, as
//! received, with both. The check is made while the value is built (the one
//! map look-up per key that building the map needs anyway), not in a second
//! pass, so it costs the screening path nothing measurable.
//!
//! Otherwise the value is exactly `serde_json::from_str::<Value>`'s: the
//! same numbers, the same nesting limit (128), the same syntax errors.

use std::cell::Cell;
use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

use crate::error::ValidationError;

/// Why a JSON text was refused.
#[derive(Debug)]
pub enum JsonError {
    /// Not JSON: syntax, nesting deeper than 128, trailing characters.
    Syntax(serde_json::Error),
    /// A key repeated in one object; `path` names it (`items[0].line`).
    RepeatedKey { path: String, line: usize, column: usize },
}

impl JsonError {
    /// The field path of a repeated key.
    pub fn field(&self) -> Option<&str> {
        match self {
            JsonError::Syntax(_) => None,
            JsonError::RepeatedKey { path, .. } => Some(path),
        }
    }

    /// A repeated key as a field error (`path: expected …, got …`).
    pub fn validation(&self) -> Option<ValidationError> {
        match self {
            JsonError::Syntax(_) => None,
            JsonError::RepeatedKey { path, line, column } => Some(ValidationError::new(
                path,
                "each key at most once per object",
                format!("it repeated at line {line} column {column}"),
            )),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => write!(f, "not valid JSON: {e}"),
            JsonError::RepeatedKey { .. } => write!(f, "{}", self.validation().expect("a repeated key")),
        }
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON text, refusing repeated keys.
pub fn parse(text: &str) -> Result<Value, JsonError> {
    finish(&mut serde_json::Deserializer::from_str(text))
}

/// Parses one JSON text given as bytes (it must be UTF-8), refusing repeated keys.
pub fn parse_slice(bytes: &[u8]) -> Result<Value, JsonError> {
    finish(&mut serde_json::Deserializer::from_slice(bytes))
}

fn finish<'de, R: serde_json::de::Read<'de>>(de: &mut serde_json::Deserializer<R>) -> Result<Value, JsonError> {
    let found = Cell::new(None);
    let result = ValueSeed { path: &Path::Root, found: &found }.deserialize(&mut *de).and_then(|v| {
        de.end()?;
        Ok(v)
    });
    result.map_err(|e| match found.take() {
        Some(path) => JsonError::RepeatedKey { path, line: e.line(), column: e.column() },
        None => JsonError::Syntax(e),
    })
}

/// The non-blank lines of a reader, numbered from 1, each as its text or,
/// if it is not UTF-8, why ([`not_utf8`], naming the byte by its offset in
/// the line and in the file), so one bad line can be reported and rejected
/// like a bad record instead of stopping the file half-way. Lines end at
/// `\n`; a `\r` before it is dropped (as `BufRead::lines` does). An I/O
/// error ends the iteration with the number of the line being read.
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    number: usize,
    offset: u64,
}

impl<R: std::io::BufRead> Lines<R> {
    pub fn new(reader: R) -> Self {
        Lines { reader, number: 0, offset: 0 }
    }
}

impl<R: std::io::BufRead> Iterator for Lines<R> {
    /// `Err((line, error))` for an I/O error; `Ok((line, text or why not))`.
    type Item = Result<(usize, Result<String, String>), (usize, std::io::Error)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut buf = Vec::new();
            let n = match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => return Some(Err((self.number + 1, e))),
            };
            self.number += 1;
            let start = self.offset;
            self.offset += n as u64;
            if buf.last() == Some(&b'\n') {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            let text = String::from_utf8(buf).map_err(|e| not_utf8(e.as_bytes(), &e.utf8_error(), Some(start)));
            if text.as_ref().is_ok_and(|t| t.trim().is_empty()) {
                continue;
            }
            return Some(Ok((self.number, text)));
        }
    }
}

/// Why a line of input (a file's line, a bus message) is not text, naming
/// the first bad byte by its offset in the line and, given the line's
/// offset `start` in its file, in the file:
/// `not UTF-8 text: byte 0xFF at offset 17 of the line (offset 4242 of the file)`.
pub fn not_utf8(bytes: &[u8], e: &std::str::Utf8Error, start: Option<u64>) -> String {
    let at = e.valid_up_to();
    let what = match (e.error_len(), bytes.get(at)) {
        (Some(_), Some(b)) => format!("byte 0x{b:02X}"),
        _ => "an incomplete character".to_string(),
    };
    match start {
        Some(s) => format!(
            "not UTF-8 text: {what} at offset {at} of the line (offset {} of the file); the file must be UTF-8",
            s + at as u64
        ),
        None => format!("not UTF-8 text: {what} at offset {at}"),
    }
}

/// Where in the value the parser is: a list on the stack, rendered only
/// when a key repeats.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.render(out);
                push_key(out, key);
            }
            Path::Index(parent, i) => {
                parent.render(out);
                let _ = write!(out, "[{i}]");
            }
        }
    }
}

/// Appends `key` to a field path: `.key` (or `key` first) for a plain
/// key, else `["…"]` quoted, with control characters escaped and at most
/// 40 characters shown, so a path is never empty and never carries raw
/// control characters or an unbounded key into a message.
pub fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key.chars().count() <= 64
        && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        let shown: String = key.chars().take(40).collect();
        let more = if shown.len() < key.len() { "…" } else { "" };
        let _ = write!(out, "[{shown:?}{more}]");
    }
}

struct ValueSeed<'a> {
    path: &'a Path<'a>,
    /// Set to the rendered path when a key repeats (a serde error carries only text).
    found: &'a Cell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Number::from_f64(x).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) =
            seq.next_element_seed(ValueSeed { path: &Path::Index(self.path, out.len()), found: self.found })?
        {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            match map.entry(key) {
                Entry::Vacant(slot) => {
                    let v = access
                        .next_value_seed(ValueSeed { path: &Path::Key(self.path, slot.key()), found: self.found })?;
                    slot.insert(v);
                }
                Entry::Occupied(slot) => {
                    let mut path = String::new();
                    Path::Key(self.path, slot.key()).render(&mut path);
                    self.found.set(Some(path));
                    return Err(de::Error::custom("a key repeated in one object"));
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_naming_its_path() {
        expect_test::expect![[r#"
            [
                "id: expected each key at most once per object, got it repeated at line 1 column 14",
                "trader.id: expected each key at most once per object, got it repeated at line 1 column 33",
                "items[1].line: expected each key at most once per object, got it repeated at line 1 column 37",
                "[2].a: expected each key at most once per object, got it repeated at line 1 column 24",
                "id: expected each key at most once per object, got it repeated at line 1 column 19",
                "attributes[\"\"]: expected each key at most once per object, got it repeated at line 1 column 22",
                "x[\"a.b\\n\"]: expected each key at most once per object, got it repeated at line 1 column 23",
            ]
        "#]]
        .assert_debug_eq(&[
            err(r#"{"id":"A","id":"B"}"#),
            err(r#"{"id":"A","trader":{"id":"T","id":"U"}}"#),
            err(r#"{"items":[{"line":1},{"line":2,"line":3}]}"#),
            err(r#"[{}, {"a":1}, {"a":1,"a":1}]"#),
            // The same key written with an escape is the same key.
            err(r#"{"id":"A","\u0069d":"B"}"#),
            err(r#"{"attributes":{"":1,"":2}}"#),
            err(r#"{"x":{"a.b\n":1,"a.b\n":1}}"#),
        ]);
        let e = parse(r#"{"a":{"b":[{"c":1,"c":2}]}}"#).unwrap_err();
        assert_eq!(e.field(), Some("a.b[0].c"));
    }

    #[test]
    fn otherwise_the_value_is_serde_jsons() {
        for text in [
            r#"{"id":"A","n":[1,-2,3.5,1e300,18446744073709551615,-9223372036854775808,0.1],"s":"\u00e9\n","o":{"id":"B"},"z":null,"t":true}"#,
            "[]",
            " 1 ",
            r#"{"a":{"a":{"a":1}}}"#,
        ] {
            assert_eq!(parse(text).unwrap(), serde_json::from_str::<Value>(text).unwrap(), "{text}");
            assert_eq!(parse_slice(text.as_bytes()).unwrap(), serde_json::from_str::<Value>(text).unwrap());
        }
        for text in ["", "{", "{} x", "[1,]", "{\"a\" 1}", &"[".repeat(200), "1e400"] {
            let ours = parse(text).unwrap_err();
            assert!(matches!(ours, JsonError::Syntax(_)), "{text}");
            assert_eq!(
                ours.to_string(),
                format!("not valid JSON: {}", serde_json::from_str::<Value>(text).unwrap_err())
            );
        }
        assert!(parse_slice(b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn lines_are_numbered_blank_ones_skipped_and_bad_ones_named() {
        let input: &[u8] = b"{\"a\":1}\r\n\n  \nab\xFFc\n{\"b\":2}";
        let got: Vec<(usize, Result<String, String>)> = Lines::new(input).map(Result::unwrap).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], (1, Ok("{\"a\":1}".to_string())), "CRLF dropped");
        assert_eq!(got[1].0, 4, "blank lines count but are skipped");
        let why = got[1].1.as_ref().unwrap_err();
        assert!(why.contains("byte 0xFF at offset 2 of the line (offset 15 of the file)"), "{why}");
        assert_eq!(got[2], (5, Ok("{\"b\":2}".to_string())), "a last line without a line end");
    }

    #[test]
    fn bad_utf8_is_named_by_its_offsets() {
        let bytes = b"{\"id\":\"\xff\"}";
        let e = String::from_utf8(bytes.to_vec()).unwrap_err().utf8_error();
        assert_eq!(
            not_utf8(bytes, &e, Some(100)),
            "not UTF-8 text: byte 0xFF at offset 7 of the line (offset 107 of the file); the file must be UTF-8"
        );
        let cut = "{\"name\":\"海".as_bytes();
        let cut = &cut[..cut.len() - 1];
        let e = String::from_utf8(cut.to_vec()).unwrap_err().utf8_error();
        assert_eq!(not_utf8(cut, &e, None), "not UTF-8 text: an incomplete character at offset 9");
    }

    #[test]
    fn field_paths_quote_odd_keys() {
        let key = |prefix: &str, k: &str| {
            let mut s = prefix.to_string();
            push_key(&mut s, k);
            s
        };
        assert_eq!(key("", "hs_code"), "hs_code");
        assert_eq!(key("items[0]", "hs_code"), "items[0].hs_code");
        assert_eq!(key("", ""), "[\"\"]");
        assert_eq!(key("a", "\u{1b}[31m"), "a[\"\\u{1b}[31m\"]");
        assert_eq!(key("", &"k".repeat(100)), format!("[\"{}\"…]", "k".repeat(40)));
    }
}
