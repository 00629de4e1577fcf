//! `/metrics` in the Prometheus text format, hand-rolled: request counts
//! and a latency histogram per route, declarations screened per lane, rule
//! hits, records imported per kind. Label values are bounded: routes are
//! the router's patterns, methods a fixed set (`method_label`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use riskgate_core::{Decision, Reason};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, &'static str, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    screened: BTreeMap<&'static str, u64>,
    rule_hits: BTreeMap<String, u64>,
    imported: BTreeMap<String, u64>,
}

impl Metrics {
    pub fn request(&self, route: &str, method: &'static str, status: u16, secs: f64) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.requests.entry((route.to_string(), method, status)).or_default() += 1;
        let h = m.latency.entry(route.to_string()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    pub fn screened(&self, d: &Decision) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.screened.entry(d.channel.as_str()).or_default() += 1;
        for r in &d.reasons {
            if let Reason::Rule { id, .. } = r {
                *m.rule_hits.entry(id.clone()).or_default() += 1;
            }
        }
    }

    pub fn imported(&self, kind: &str, n: usize) {
        *self.inner.lock().expect("metrics lock").imported.entry(kind.to_string()).or_default() += n as u64;
    }

    pub fn text(&self) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut s = String::new();
        s.push_str("# HELP riskgate_http_requests_total HTTP requests by route, method and status.\n");
        s.push_str("# TYPE riskgate_http_requests_total counter\n");
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                s,
                "riskgate_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                esc(route)
            );
        }
        s.push_str("# HELP riskgate_http_request_duration_seconds Request latency by route.\n");
        s.push_str("# TYPE riskgate_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            let r = esc(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "riskgate_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ =
                writeln!(s, "riskgate_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(s, "riskgate_http_request_duration_seconds_sum{{route=\"{r}\"}} {}", h.sum);
            let _ = writeln!(s, "riskgate_http_request_duration_seconds_count{{route=\"{r}\"}} {}", h.count);
        }
        s.push_str("# HELP riskgate_declarations_screened_total Declarations screened by this process, by lane.\n");
        s.push_str("# TYPE riskgate_declarations_screened_total counter\n");
        for lane in ["green", "yellow", "red"] {
            let _ = writeln!(
                s,
                "riskgate_declarations_screened_total{{channel=\"{lane}\"}} {}",
                m.screened.get(lane).copied().unwrap_or(0)
            );
        }
        s.push_str("# HELP riskgate_rule_hits_total Rule hits in declarations screened by this process.\n");
        s.push_str("# TYPE riskgate_rule_hits_total counter\n");
        for (rule, n) in &m.rule_hits {
            let _ = writeln!(s, "riskgate_rule_hits_total{{rule=\"{}\"}} {n}", esc(rule));
        }
        s.push_str("# HELP riskgate_imported_records_total Records accepted by the import endpoints, by kind.\n");
        s.push_str("# TYPE riskgate_imported_records_total counter\n");
        for (kind, n) in &m.imported {
            let _ = writeln!(s, "riskgate_imported_records_total{{kind=\"{}\"}} {n}", esc(kind));
        }
        s
    }
}

/// The method as a label: the methods the API answers, anything else
/// `other` (a client cannot add label values by inventing methods).
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
