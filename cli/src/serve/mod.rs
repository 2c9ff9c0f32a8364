//! `kiln serve`: TensorFlow Serving's REST API over a kiln model, with versions polled from a
//! folder, server-side batching and Prometheus metrics.

mod batcher;
mod metrics;
mod routes;
mod server;
mod versions;

pub use batcher::BatchingOptions;
pub use server::{ServeOptions, run};
pub use versions::ModelSource;
