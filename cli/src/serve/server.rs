//! The server's life: load the first version, listen, poll for new versions, and on SIGTERM
//! (or Ctrl-C) stop accepting, finish the requests in flight and exit.

use crate::serve::batcher::BatchingOptions;
use crate::serve::metrics::Metrics;
use crate::serve::routes::{App, router};
use crate::serve::versions::{ModelSource, Versions, log};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use kiln::Device;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Everything `kiln serve` is told.
pub struct ServeOptions {
    pub name: String,
    pub source: ModelSource,
    pub device: Device,
    pub address: SocketAddr,
    pub batching: BatchingOptions,
    /// How often the base path is looked at for new versions.
    pub poll: Duration,
    pub max_body: usize,
    pub max_in_flight: usize,
    /// The longest a request may take, from its first byte to its answer.
    pub request_timeout: Duration,
    /// The longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long SIGTERM waits for requests in flight.
    pub drain_timeout: Duration,
}

/// Serves until SIGTERM or Ctrl-C.
pub fn run(options: ServeOptions) -> Result<(), String> {
    let metrics = Arc::new(Metrics::new());
    let versions = Arc::new(Versions::new(
        options.name.clone(),
        options.source.clone(),
        options.device.clone(),
        options.batching,
        metrics.clone(),
    ));
    versions.poll();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = match options.source {
        ModelSource::Base(_) => {
            let (versions, stop, every) = (versions.clone(), stop.clone(), options.poll);
            Some(
                std::thread::Builder::new()
                    .name("kiln-version-watcher".into())
                    .spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(every);
                            versions.poll();
                        }
                    })
                    .map_err(|e| format!("cannot start the version watcher: {e}"))?,
            )
        }
        ModelSource::File(_) => None,
    };
    let app = Arc::new(App {
        versions,
        metrics,
        max_body: options.max_body,
        in_flight: Semaphore::new(options.max_in_flight),
        max_in_flight: options.max_in_flight,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let served = runtime.block_on(serve(app, &options));
    stop.store(true, Ordering::Relaxed);
    drop(watcher);
    served
}

async fn serve(app: Arc<App>, options: &ServeOptions) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(options.address)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.address))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the address listened on: {e}"))?;
    log(&format!(
        "serving `{name}` on http://{address}/v1/models/{name}",
        name = app.versions.name
    ));
    let routes = router(app.clone(), options.request_timeout);
    let graceful = GracefulShutdown::new();
    let mut stopping = pin!(stop_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // out of file descriptors, say: wait rather than spin
                        log(&format!("accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(options.header_timeout)
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(routes.clone()));
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // a client that hangs up or sends garbage ends only its own connection
                    let _ = connection.await;
                });
            }
            () = &mut stopping => break,
        }
    }
    drop(listener);
    log("stopping: no new connections; finishing the requests in flight");
    tokio::select! {
        () = graceful.shutdown() => log("every request answered; exiting"),
        () = tokio::time::sleep(options.drain_timeout) => log(&format!(
            "requests still open after {} s (--drain-timeout-secs); exiting",
            options.drain_timeout.as_secs()
        )),
    }
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
