//! `/metrics` in the Prometheus text format, recorded with the `metrics`
//! crate and rendered by `metrics-exporter-prometheus` (one recorder per
//! server, not the process-wide one, so servers in one test process keep
//! their figures apart): request counts and a latency histogram per route,
//! declarations screened per lane, rule hits, records imported per kind,
//! requests shed under overload. Label values are bounded: routes are the
//! router's patterns, methods a fixed set (`method_label`).

use metrics::{Label, with_local_recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use riskgate_core::{Decision, Reason};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

const REQUESTS: &str = "riskgate_http_requests_total";
const DURATION: &str = "riskgate_http_request_duration_seconds";
const SCREENED: &str = "riskgate_declarations_screened_total";
const RULE_HITS: &str = "riskgate_rule_hits_total";
const IMPORTED: &str = "riskgate_imported_records_total";
const SHED: &str = "riskgate_http_requests_shed_total";

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder =
            PrometheusBuilder::new().set_buckets(&BUCKETS).expect("the latency buckets are not empty").build_recorder();
        let handle = recorder.handle();
        let m = Metrics { recorder, handle };
        m.with(|| {
            metrics::describe_counter!(REQUESTS, "HTTP requests by route, method and status.");
            metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "Request latency by route.");
            metrics::describe_counter!(SCREENED, "Declarations screened by this process, by lane.");
            metrics::describe_counter!(RULE_HITS, "Rule hits in declarations screened by this process.");
            metrics::describe_counter!(IMPORTED, "Records accepted by the import endpoints, by kind.");
            metrics::describe_counter!(SHED, "Requests refused with 503 because too many were in flight.");
            // Every lane is shown from the start, at zero.
            for lane in ["green", "yellow", "red"] {
                metrics::counter!(SCREENED, "channel" => lane).absolute(0);
            }
            metrics::counter!(SHED).absolute(0);
        });
        m
    }
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        with_local_recorder(&self.recorder, f)
    }

    pub fn request(&self, route: &str, method: &'static str, status: u16, secs: f64) {
        let route = route.to_string();
        self.with(|| {
            let labels = vec![
                Label::new("route", route.clone()),
                Label::new("method", method),
                Label::new("status", status.to_string()),
            ];
            metrics::counter!(REQUESTS, labels).increment(1);
            metrics::histogram!(DURATION, "route" => route).record(secs);
        });
    }

    pub fn screened(&self, d: &Decision) {
        self.with(|| {
            metrics::counter!(SCREENED, "channel" => d.channel.as_str()).increment(1);
            for r in &d.reasons {
                if let Reason::Rule { id, .. } = r {
                    metrics::counter!(RULE_HITS, "rule" => id.clone()).increment(1);
                }
            }
        });
    }

    pub fn imported(&self, kind: &str, n: usize) {
        self.with(|| metrics::counter!(IMPORTED, "kind" => kind.to_string()).increment(n as u64));
    }

    pub fn shed(&self) {
        self.with(|| metrics::counter!(SHED).increment(1));
    }

    pub fn text(&self) -> String {
        self.handle.render()
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
