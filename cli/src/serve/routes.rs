//! TensorFlow Serving's REST API on axum: model status, metadata and `:predict` under
//! `/v1/models/`, Prometheus metrics, and a health route. Every error is
//! `{"error": "..."}` with TensorFlow Serving's status codes.

use crate::serve::batcher::Refused;
use crate::serve::metrics::{Metrics, RequestLabels, RouteLabels};
use crate::serve::versions::{Loaded, Versions};
use crate::tf_json::{self, TensorSpec};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Bodies up to this size are parsed on the async thread that read them.
const INLINE_PARSE: usize = 64 << 10;

/// What every handler shares.
pub struct App {
    pub versions: Arc<Versions>,
    pub metrics: Arc<Metrics>,
    /// The largest request body read, in bytes.
    pub max_body: usize,
    /// Requests being read, parsed or computed at once; beyond it, 429.
    pub in_flight: Semaphore,
    pub max_in_flight: usize,
}

/// The routes, with the request timeout, the body limit and the metrics around them.
pub fn router(app: Arc<App>, timeout: Duration) -> Router {
    Router::new()
        .route("/v1/models/{*rest}", get(models).post(models))
        .route("/monitoring/prometheus/metrics", get(metrics))
        .route("/healthz", get(health))
        .fallback(not_found)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(app.max_body))
        // outermost: it sees (and counts) the limit's and the timeout's answers too
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// An error answer: `{"error": message}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Counts and times every answer; gives the body limit's and the timeout's bare answers
/// TensorFlow Serving's JSON error body.
async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let route = route_of(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let response = match response.status() {
        s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT)
            if !is_json(&response) =>
        {
            let message = if s == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "the request body is over the limit of {} bytes (--max-body-bytes)",
                    app.max_body
                )
            } else {
                "the request was not received and answered in time (--request-timeout-secs)"
                    .to_string()
            };
            error(s, message)
        }
        _ => response,
    };
    app.metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            code: response.status().as_u16().to_string(),
        })
        .inc();
    app.metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"))
}

fn route_of(path: &str) -> &'static str {
    if path.starts_with("/v1/models/") {
        if path.ends_with(":predict") {
            "predict"
        } else if path.ends_with("/metadata") {
            "metadata"
        } else {
            "status"
        }
    } else if path == "/monitoring/prometheus/metrics" {
        "metrics"
    } else if path == "/healthz" {
        "health"
    } else {
        "other"
    }
}

async fn not_found(request: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no route {} {}: the API is GET /v1/models/NAME[/versions/N][/metadata] and \
             POST /v1/models/NAME[/versions/N]:predict",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

async fn health(State(app): State<Arc<App>>) -> Response {
    match app.versions.served() {
        Some(loaded) => axum::Json(json!({
            "status": "ok",
            "model": app.versions.name,
            "version": loaded.version.to_string(),
        }))
        .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no version of `{}` is loaded yet", app.versions.name),
        ),
    }
}

/// What a `/v1/models/...` path asks for.
#[derive(Debug, PartialEq)]
struct Target<'a> {
    name: &'a str,
    version: Option<u64>,
    kind: Kind,
}

#[derive(Debug, PartialEq)]
enum Kind {
    Status,
    Metadata,
    Predict,
}

fn parse_path(rest: &str) -> Result<Target<'_>, (StatusCode, String)> {
    let bad = |why: String| (StatusCode::NOT_FOUND, why);
    let (path, verb) = match rest.rsplit_once(':') {
        Some((path, verb)) => (path, Some(verb)),
        None => (rest, None),
    };
    let mut parts: Vec<&str> = path.split('/').collect();
    let kind = match verb {
        Some("predict") => Kind::Predict,
        Some(other @ ("classify" | "regress")) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!(
                    "kiln serves :predict; :{other} needs a classification or regression signature"
                ),
            ));
        }
        Some(other) => {
            return Err(bad(format!(
                "unknown method :{other}; kiln serves :predict"
            )));
        }
        None if parts.last() == Some(&"metadata") => {
            parts.pop();
            Kind::Metadata
        }
        None => Kind::Status,
    };
    let (name, version) = match parts[..] {
        [name] => (name, None),
        [name, "versions", v] => match v.parse::<u64>() {
            Ok(v) => (name, Some(v)),
            Err(_) => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("version `{v}` is not a number"),
                ));
            }
        },
        [_, "labels", label] => {
            return Err(bad(format!(
                "version label `{label}` is unknown: kiln serves versions by number"
            )));
        }
        _ => return Err(bad(format!("no route /v1/models/{rest}"))),
    };
    if name.is_empty() {
        return Err(bad("the model name is empty".into()));
    }
    Ok(Target {
        name,
        version,
        kind,
    })
}

async fn models(
    State(app): State<Arc<App>>,
    Path(rest): Path<String>,
    method: Method,
    request: Request,
) -> Response {
    let target = match parse_path(&rest) {
        Ok(t) => t,
        Err((status, message)) => return error(status, message),
    };
    let expected = if target.kind == Kind::Predict {
        Method::POST
    } else {
        Method::GET
    };
    if method != expected {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed here; use {expected}"),
        );
    }
    if target.name != app.versions.name {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "Servable not found for request: {}: this server serves `{}`",
                requested(&target),
                app.versions.name
            ),
        );
    }
    match target.kind {
        Kind::Status => status(&app, target.version),
        Kind::Metadata => match loaded(&app, &target) {
            Ok(l) => axum::Json(metadata(&app.versions.name, &l)).into_response(),
            Err(e) => *e,
        },
        Kind::Predict => {
            let Ok(_permit) = app.in_flight.try_acquire() else {
                return error(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{} requests are in flight (--max-in-flight); retry later",
                        app.max_in_flight
                    ),
                );
            };
            match loaded(&app, &target) {
                Ok(l) => predict(l, request.into_body()).await,
                Err(e) => *e,
            }
        }
    }
}

fn requested(target: &Target) -> String {
    match target.version {
        Some(v) => format!("Specific({}, {v})", target.name),
        None => format!("Latest({})", target.name),
    }
}

/// The version a request names, or its 404.
fn loaded(app: &App, target: &Target) -> Result<Arc<Loaded>, Box<Response>> {
    let found = match target.version {
        Some(v) => app.versions.version(v),
        None => app.versions.served(),
    };
    found.ok_or_else(|| {
        let served = app
            .versions
            .served()
            .map_or("none".to_string(), |l| l.version.to_string());
        Box::new(error(
            StatusCode::NOT_FOUND,
            format!(
                "Servable not found for request: {} (the version loaded: {served})",
                requested(target)
            ),
        ))
    })
}

fn status(app: &App, version: Option<u64>) -> Response {
    let statuses = app.versions.statuses(version);
    if statuses.is_empty() {
        let what = match version {
            Some(v) => format!("version {v} of `{}`", app.versions.name),
            None => format!("any version of `{}`", app.versions.name),
        };
        return error(StatusCode::NOT_FOUND, format!("Could not find {what}"));
    }
    let list: Vec<Value> = statuses
        .iter()
        .map(|s| {
            json!({
                "version": s.version.to_string(),
                "state": s.state,
                "status": {
                    "error_code": if s.error.is_some() { "INVALID_ARGUMENT" } else { "OK" },
                    "error_message": s.error.clone().unwrap_or_default(),
                },
            })
        })
        .collect();
    axum::Json(json!({ "model_version_status": list })).into_response()
}

/// TensorFlow Serving's GetModelMetadata answer: the `serving_default` signature.
fn metadata(name: &str, loaded: &Loaded) -> Value {
    let sig = &loaded.signature;
    let tensors = |specs: &[TensorSpec], text: bool| -> Value {
        let map: serde_json::Map<String, Value> = specs
            .iter()
            .enumerate()
            .map(|(k, spec)| {
                let (dtype, dims): (&str, &[usize]) = if text && k == 0 {
                    ("DT_STRING", &[])
                } else {
                    ("DT_FLOAT", &spec.shape)
                };
                let mut dim = vec![json!({"size": "-1", "name": ""})];
                dim.extend(
                    dims.iter()
                        .map(|d| json!({"size": d.to_string(), "name": ""})),
                );
                (
                    spec.name.clone(),
                    json!({
                        "dtype": dtype,
                        "tensor_shape": {"dim": dim, "unknown_rank": false},
                        "name": format!("serving_default_{}:0", spec.name),
                    }),
                )
            })
            .collect();
        Value::Object(map)
    };
    json!({
        "model_spec": {
            "name": name,
            "signature_name": "",
            "version": loaded.version.to_string(),
        },
        "metadata": {"signature_def": {"signature_def": {"serving_default": {
            "inputs": tensors(&sig.inputs, sig.text.is_some()),
            "outputs": tensors(&sig.outputs, false),
            "method_name": "tensorflow/serving/predict",
        }}}},
    })
}

async fn predict(loaded: Arc<Loaded>, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            // the body limit's error, or the client went away mid-body
            let over = error_chain(&e).contains("length limit exceeded");
            return if over {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is over the limit (--max-body-bytes)",
                )
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("the request body could not be read: {e}"),
                )
            };
        }
    };
    // parsing a large body is CPU work: off the async threads (a small one is quicker here)
    let parsed = if bytes.len() <= INLINE_PARSE {
        Ok(tf_json::parse_request(&bytes, &loaded.signature))
    } else {
        let parse_for = loaded.clone();
        tokio::task::spawn_blocking(move || tf_json::parse_request(&bytes, &parse_for.signature))
            .await
    };
    let (format, batch) = match parsed {
        Ok(Ok(p)) => p,
        Ok(Err(message)) => return error(StatusCode::BAD_REQUEST, message),
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("parsing failed: {e}"),
            );
        }
    };
    let answer = match loaded.batcher.submit(batch) {
        Ok(answer) => answer,
        Err(Refused::Full(capacity)) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "overloaded: {capacity} requests wait for the model (--max-enqueued); retry later"
                ),
            );
        }
        Err(Refused::Gone) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the model version is unloading; retry",
            );
        }
    };
    match answer.await {
        Ok(Ok(outputs)) => {
            let body = tf_json::answer(format, &outputs, &loaded.signature);
            json_bytes(StatusCode::OK, body)
        }
        Ok(Err(message)) => error(StatusCode::INTERNAL_SERVER_ERROR, message),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the model's thread stopped",
        ),
    }
}

/// An error and its sources, as one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_tensorflow_serving_names_them() {
        let t = parse_path("mnist").unwrap();
        assert_eq!((t.name, t.version, t.kind), ("mnist", None, Kind::Status));
        let t = parse_path("mnist/versions/12").unwrap();
        assert_eq!(
            (t.name, t.version, t.kind),
            ("mnist", Some(12), Kind::Status)
        );
        let t = parse_path("mnist/metadata").unwrap();
        assert_eq!((t.version, t.kind), (None, Kind::Metadata));
        let t = parse_path("mnist/versions/3/metadata").unwrap();
        assert_eq!((t.version, t.kind), (Some(3), Kind::Metadata));
        let t = parse_path("mnist:predict").unwrap();
        assert_eq!((t.name, t.version, t.kind), ("mnist", None, Kind::Predict));
        let t = parse_path("mnist/versions/2:predict").unwrap();
        assert_eq!((t.version, t.kind), (Some(2), Kind::Predict));
        assert_eq!(
            parse_path("mnist/versions/x").unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_path("mnist:classify").unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_path("mnist:explain").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            parse_path("mnist/labels/stable").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            parse_path("a/b/c/d/e").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn routes_for_the_metrics() {
        assert_eq!(route_of("/v1/models/m:predict"), "predict");
        assert_eq!(route_of("/v1/models/m/versions/1/metadata"), "metadata");
        assert_eq!(route_of("/v1/models/m"), "status");
        assert_eq!(route_of("/healthz"), "health");
        assert_eq!(route_of("/x"), "other");
    }
}
