//! `riskgate bench http`: an open-loop load generator for `POST
//! /api/v1/declarations` at a fixed rate (what wrk cannot do). Each
//! connection sends on a fixed schedule over keep-alive HTTP/1.1; latency
//! is measured from the *scheduled* send time, so a stalled server shows
//! up in the figures instead of slowing the generator down (no coordinated
//! omission). Declarations come from a JSONL file, each sent once under a
//! fresh id.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

#[derive(Debug, clap::Args)]
pub struct HttpBench {
    /// Server address, e.g. 127.0.0.1:8080.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// API token with the declarations:write scope.
    #[arg(long, env = "RISKGATE_TOKEN")]
    pub token: String,
    /// Declarations to send (JSONL); their ids are replaced by unique ones.
    #[arg(long)]
    pub declarations: PathBuf,
    /// Requests per second, in total.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Prefix of the generated ids (use a new one per run).
    #[arg(long, default_value = "HTTPBENCH")]
    pub prefix: String,
}

struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> Result<Conn> {
        let s = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
        s.set_nodelay(true)?;
        Ok(Conn { stream: BufReader::new(s) })
    }

    /// Sends one request and reads the response; returns the status.
    fn post(&mut self, addr: &str, token: &str, body: &str) -> Result<u16> {
        let req = format!(
            "POST /api/v1/declarations HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.stream.read_line(&mut line)?;
        let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).context("bad status line")?;
        let mut len = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse()?;
            }
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf)?;
        Ok(status)
    }
}

pub fn run(b: &HttpBench) -> Result<()> {
    let text = std::fs::read_to_string(&b.declarations)
        .with_context(|| format!("cannot read {}", b.declarations.display()))?;
    let mut bodies: Vec<serde_json::Value> = Vec::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        bodies.push(serde_json::from_str(l)?);
    }
    anyhow::ensure!(!bodies.is_empty(), "{}: no declarations", b.declarations.display());
    let total = (b.rate * b.seconds) as usize;
    let interval = Duration::from_secs_f64(b.connections as f64 / b.rate as f64);
    let start = Instant::now() + Duration::from_millis(200);
    let mut handles = Vec::new();
    for c in 0..b.connections {
        let (addr, token, prefix) = (b.addr.clone(), b.token.clone(), b.prefix.clone());
        let mine: Vec<String> = (0..total)
            .filter(|i| i % b.connections == c)
            .map(|i| {
                let mut d = bodies[i % bodies.len()].clone();
                d["id"] = serde_json::Value::String(format!("{prefix}-{i:09}"));
                d.to_string()
            })
            .collect();
        // Connections start staggered over one interval.
        let offset = interval.mul_f64(c as f64 / b.connections as f64);
        handles.push(std::thread::spawn(move || -> Result<(Vec<f64>, usize)> {
            let mut conn = Conn::open(&addr)?;
            let mut lat = Vec::with_capacity(mine.len());
            let mut errors = 0usize;
            for (k, body) in mine.iter().enumerate() {
                let due = start + offset + interval.mul_f64(k as f64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                match conn.post(&addr, &token, body) {
                    Ok(200) => {}
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = Conn::open(&addr)?;
                    }
                }
                lat.push(due.elapsed().as_secs_f64());
            }
            Ok((lat, errors))
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().map_err(|_| anyhow::anyhow!("a connection thread panicked"))??;
        lat.extend(l);
        errors += e;
    }
    let wall = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] * 1000.0;
    println!(
        "{} requests at a target of {}/s over {} connections: achieved {:.0}/s, errors {errors}",
        lat.len(),
        b.rate,
        b.connections,
        lat.len() as f64 / wall
    );
    println!(
        "latency from scheduled send (ms): p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        lat.last().copied().unwrap_or(0.0) * 1000.0
    );
    Ok(())
}
