//! Prometheus metrics (request counts and latencies by route, bytes stored, blobs deduplicated)
//! and the tracing subscriber. Shared by the HTTP layer and the services.

use std::borrow::Cow;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Methods are `Cow`, borrowed for the standard ones: labels are made for every request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: Cow<'static, str>,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: Cow<'static, str>,
    pub route: String,
}

/// A request method as a label value, without allocating for the standard methods.
pub fn method_label(method: &axum::http::Method) -> Cow<'static, str> {
    const STANDARD: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    match STANDARD.iter().find(|m| **m == method.as_str()) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(method.as_str().to_owned()),
    }
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub bytes_stored: Gauge,
    pub blobs_stored: Gauge,
    pub blobs_deduplicated: Counter,
    pub audit_events: Counter,
    /// Objects the last fixity check found bad (0 when all is well): the alert to raise.
    pub fixity_bad_objects: Gauge,
    pub fixity_runs: Counter,
    pub fixity_last_run: Gauge,
    /// Text-extraction jobs queued: one per distinct blob, however often it is uploaded.
    pub extraction_jobs: Counter,
    /// Engine processes run (tesseract, pdftotext, pdftoppm) for extraction.
    pub extraction_engine_runs: Counter,
    /// Pages whose text was read.
    pub extraction_pages: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("henji");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 100 µs to about 26 s.
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        let bytes_stored = Gauge::default();
        let blobs_stored = Gauge::default();
        let blobs_deduplicated = Counter::default();
        let audit_events = Counter::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("blob_bytes_stored", "Bytes of distinct blobs in the object store", bytes_stored.clone());
        registry.register("blobs_stored", "Distinct blobs in the object store", blobs_stored.clone());
        registry.register("blobs_deduplicated", "Uploads whose bytes were already stored", blobs_deduplicated.clone());
        registry.register("audit_events", "Audit events appended since start", audit_events.clone());
        let (fixity_bad_objects, fixity_runs, fixity_last_run) = (Gauge::default(), Counter::default(), Gauge::default());
        registry.register("fixity_bad_objects", "Objects the last fixity check found missing or damaged", fixity_bad_objects.clone());
        registry.register("fixity_runs", "Fixity checks run since start", fixity_runs.clone());
        registry.register("fixity_last_run_timestamp_seconds", "When the last fixity check finished (Unix time)", fixity_last_run.clone());
        let (extraction_jobs, extraction_engine_runs, extraction_pages) = (Counter::default(), Counter::default(), Counter::default());
        registry.register("extraction_jobs", "Text-extraction jobs queued since start (one per distinct file)", extraction_jobs.clone());
        registry.register("extraction_engine_runs", "Engine processes run to extract text since start", extraction_engine_runs.clone());
        registry.register("extraction_pages", "Pages whose text was extracted since start", extraction_pages.clone());
        Self { registry, requests, latency, bytes_stored, blobs_stored, blobs_deduplicated, audit_events, fixity_bad_objects, fixity_runs, fixity_last_run, extraction_jobs, extraction_engine_runs, extraction_pages }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Logs go to standard error; `RUST_LOG` chooses the level (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).with_target(false).try_init();
}
