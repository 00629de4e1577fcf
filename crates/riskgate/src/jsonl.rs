//! Reading JSON Lines with line numbers, so every bad record is reported as
//! `FILE line N: field: expected …, got …` and the good ones are kept.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

/// One line of input: its number and parsed JSON, or the error text.
pub struct Line {
    pub number: usize,
    pub value: Result<serde_json::Value, String>,
}

/// Reads all non-empty lines of a JSONL file.
pub fn read(path: &Path) -> Result<Vec<Line>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::with_capacity(1 << 20, f).lines().enumerate() {
        let line = line.with_context(|| format!("{} line {}: cannot read", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| format!("not valid JSON: {e}"));
        out.push(Line { number: i + 1, value });
    }
    Ok(out)
}

/// Streams lines in chunks, so a million-line file need not sit in memory.
pub fn for_chunks(path: &Path, chunk: usize, mut f: impl FnMut(Vec<(usize, String)>) -> Result<()>) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = Vec::with_capacity(chunk);
    for (i, line) in BufReader::with_capacity(1 << 20, file).lines().enumerate() {
        let line = line.with_context(|| format!("{} line {}: cannot read", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        buf.push((i + 1, line));
        if buf.len() >= chunk {
            f(std::mem::take(&mut buf))?;
        }
    }
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
