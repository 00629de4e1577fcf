//! Reading JSON Lines with line numbers, so every bad record is reported as
//! `FILE line N: field: expected …, got …` and the good ones are kept.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

/// One line of input: its number and parsed JSON, or the error text.
pub struct Line {
    pub number: usize,
    pub value: Result<serde_json::Value, String>,
}

/// Reads all non-empty lines of a JSONL file. A line that is not UTF-8 or
/// not JSON (a key repeated in an object included) is an error of that
/// line, like any bad record: the others are read.
pub fn read(path: &Path) -> Result<Vec<Line>> {
    let mut out = Vec::new();
    for_lines(path, |number, text| {
        let value = text.and_then(|t| riskgate_core::json::parse(&t).map_err(|e| e.to_string()));
        out.push(Line { number, value });
        Ok(())
    })?;
    Ok(out)
}

/// Each non-empty line of a file with its number (from 1): its text, or,
/// if it is not UTF-8, why (naming the byte by its offset in the line and
/// in the file), so one bad line is reported and rejected like a bad
/// record instead of stopping the file half-way. Lines end at `\n`; a
/// `\r` before it is dropped (as `BufRead::lines` does).
pub fn for_lines(path: &Path, mut f: impl FnMut(usize, Result<String, String>) -> Result<()>) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    for line in riskgate_core::json::Lines::new(BufReader::with_capacity(1 << 20, file)) {
        let (number, text) =
            line.map_err(|(n, e)| anyhow::Error::new(e).context(format!("{} line {n}: cannot read", path.display())))?;
        f(number, text)?;
    }
    Ok(())
}

/// Streams lines in chunks, so a million-line file need not sit in memory.
pub fn for_chunks(
    path: &Path,
    chunk: usize,
    mut f: impl FnMut(Vec<(usize, Result<String, String>)>) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(chunk);
    for_lines(path, |number, text| {
        buf.push((number, text));
        if buf.len() >= chunk {
            f(std::mem::replace(&mut buf, Vec::with_capacity(chunk)))?;
        }
        Ok(())
    })?;
    if !buf.is_empty() {
        f(buf)?;
    }
    Ok(())
}

pub struct Writer {
    out: BufWriter<File>,
}

impl Writer {
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Writer { out: BufWriter::with_capacity(1 << 20, f) })
    }

    pub fn write<T: serde::Serialize>(&mut self, v: &T) -> Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    /// Writes an already serialised JSON object as one line.
    pub fn write_raw(&mut self, json: &str) -> Result<()> {
        self.out.write_all(json.as_bytes())?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// Reports a bad record of a file: `FILE line N: message`.
pub fn report(file: &Path, line: usize, msg: &dyn std::fmt::Display) {
    eprintln!("{} line {line}: {msg}", file.display());
}
