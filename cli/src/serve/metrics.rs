//! What `GET /monitoring/prometheus/metrics` reports: requests by route and status code, their
//! latency, the size of each forward pass's batch, and the model versions loaded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub batch_size: Histogram,
    pub versions_loaded: Family<ModelLabels, Gauge>,
    pub version_served: Family<ModelLabels, Gauge>,
    pub load_failures: Family<ModelLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms to 3.3 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kiln");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "HTTP requests answered, by route and status code",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            latency.clone(),
        );
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "batch_size",
            "Samples in each forward pass, after server-side batching",
            batch_size.clone(),
        );
        let versions_loaded = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "model_versions_loaded",
            "Model versions loaded and serving",
            versions_loaded.clone(),
        );
        let version_served = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "model_version_served",
            "The version number answering requests without a version",
            version_served.clone(),
        );
        let load_failures = Family::<ModelLabels, Counter>::default();
        registry.register(
            "model_load_failures",
            "Model versions that failed to load",
            load_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            batch_size,
            versions_loaded,
            version_served,
            load_failures,
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            // `fmt::Write` for `String` only grows the string: it has no error to return
            .expect("writing to a String does not fail");
        text
    }
}
