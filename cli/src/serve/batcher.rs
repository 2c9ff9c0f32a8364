//! Server-side batching, as TensorFlow Serving's `--enable_batching`: requests wait in a
//! bounded queue; one thread per loaded model takes the first, gathers more until
//! `max_batch_size` samples or `batch_timeout` has passed, runs them in one forward pass and
//! hands each request its rows. A full queue refuses at once (the caller answers 503), so
//! memory does not grow with the load.

use crate::serve::metrics::Metrics;
use crate::tf_json::Batch;
use kiln::{EvalOptions, Model};
use ndarray::{ArrayD, Axis, Slice};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How requests are merged.
#[derive(Clone, Copy, Debug)]
pub struct BatchingOptions {
    /// Whether requests are merged at all (otherwise each runs alone).
    pub merge: bool,
    /// The most samples one forward pass takes (a larger request runs alone, in passes of
    /// this size).
    pub max_batch_size: usize,
    /// How long the first request of a batch waits for others.
    pub batch_timeout: Duration,
    /// The most requests waiting; beyond it, requests are refused.
    pub max_enqueued: usize,
}

/// The outputs for one request, or why the model failed on them.
pub type Reply = Result<Vec<ArrayD<f32>>, String>;

struct Job {
    batch: Batch,
    reply: oneshot::Sender<Reply>,
}

/// The queue in front of one loaded model. Dropping the last handle lets the thread finish
/// the requests already queued and exit.
pub struct Batcher {
    queue: SyncSender<Job>,
    capacity: usize,
}

/// Why a request was not queued.
#[derive(Debug)]
pub enum Refused {
    /// The queue is full.
    Full(usize),
    /// The model's thread is gone.
    Gone,
}

impl Batcher {
    /// Starts the thread that runs `model`.
    pub fn start(
        model: Model,
        options: BatchingOptions,
        metrics: Arc<Metrics>,
        label: String,
    ) -> std::io::Result<Batcher> {
        let capacity = options.max_enqueued.max(1);
        let (queue, jobs) = sync_channel(capacity);
        std::thread::Builder::new()
            .name(format!("kiln-batcher-{label}"))
            .spawn(move || run(model, jobs, options, &metrics))?;
        Ok(Batcher { queue, capacity })
    }

    /// Queues a request; the receiver gets its outputs.
    pub fn submit(&self, batch: Batch) -> Result<oneshot::Receiver<Reply>, Refused> {
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Job { batch, reply }) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(Refused::Full(self.capacity)),
            Err(TrySendError::Disconnected(_)) => Err(Refused::Gone),
        }
    }
}

fn run(model: Model, jobs: Receiver<Job>, options: BatchingOptions, metrics: &Metrics) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let mut batch = vec![first];
        let mut rows = batch[0].batch.rows;
        let deadline = Instant::now() + options.batch_timeout;
        while options.merge && rows < options.max_batch_size {
            let left = deadline.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(left) {
                Ok(job) if rows + job.batch.rows > options.max_batch_size => {
                    carried = Some(job);
                    break;
                }
                Ok(job) => {
                    rows += job.batch.rows;
                    batch.push(job);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        metrics.batch_size.observe(rows as f64);
        forward(&model, batch, options.max_batch_size);
    }
}

/// One forward pass over the jobs' samples; each job gets its rows of every output.
fn forward(model: &Model, jobs: Vec<Job>, max_batch_size: usize) {
    let parts: Vec<&Batch> = jobs.iter().map(|j| &j.batch).collect();
    let merged = Batch::concat(&parts);
    let options = EvalOptions::default()
        .batch_size(merged.rows.clamp(1, max_batch_size.max(1)))
        .verbose(0);
    // a panic inside the model must not end this version's thread: its requests get a 500
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        model
            .predict_outputs_with(&merged.arrays, options)
            .map_err(|e| e.to_string())
    }))
    .unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(format!("the model's forward pass panicked: {why}"))
    });
    match result {
        Ok(outputs) => {
            let mut start = 0;
            for job in jobs {
                let end = start + job.batch.rows;
                let rows: Vec<ArrayD<f32>> = outputs
                    .iter()
                    .map(|o| o.slice_axis(Axis(0), Slice::from(start..end)).to_owned())
                    .collect();
                start = end;
                // the client may have gone; its rows are dropped
                let _ = job.reply.send(Ok(rows));
            }
        }
        Err(message) => {
            for job in jobs {
                let _ = job.reply.send(Err(message.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln::Value;
    use kiln::layers::Lambda;
    use kiln::prelude::Sequential;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn batch(rows: usize, value: f32) -> Batch {
        Batch {
            rows,
            arrays: vec![ndarray::ArrayD::from_elem(
                ndarray::IxDyn(&[rows, 2]),
                value,
            )],
        }
    }

    /// Set to make `fragile` models panic.
    static PANIC: AtomicBool = AtomicBool::new(false);

    /// A model that gives its input back; a `fragile` one panics while `PANIC` is set.
    fn identity(fragile: bool) -> Model {
        let identity = Lambda::new(move |x: Value| {
            assert!(!(fragile && PANIC.load(Ordering::SeqCst)), "told to panic");
            Ok(x)
        });
        Sequential::new().input([2]).add(identity).build().unwrap()
    }

    #[tokio::test]
    async fn requests_are_merged_and_each_gets_its_rows() {
        let options = BatchingOptions {
            merge: true,
            max_batch_size: 8,
            batch_timeout: Duration::from_millis(200),
            max_enqueued: 8,
        };
        let metrics = Arc::new(Metrics::new());
        let batcher =
            Batcher::start(identity(false), options, metrics.clone(), "t".into()).unwrap();
        let answers: Vec<_> = (1..=3)
            .map(|k| batcher.submit(batch(k, k as f32)).unwrap())
            .collect();
        for (k, answer) in (1..=3).zip(answers) {
            let outputs = answer.await.unwrap().unwrap();
            assert_eq!(outputs[0].shape(), &[k, 2]);
            assert!(outputs[0].iter().all(|v| *v == k as f32));
        }
        // one forward pass of 6 samples
        assert!(
            metrics.encode().contains("kiln_batch_size_sum 6.0"),
            "{}",
            metrics.encode()
        );
    }

    #[tokio::test]
    async fn a_panicking_model_fails_its_requests_and_keeps_serving() {
        let options = BatchingOptions {
            merge: false,
            max_batch_size: 8,
            batch_timeout: Duration::ZERO,
            max_enqueued: 8,
        };
        let batcher = Batcher::start(
            identity(true),
            options,
            Arc::new(Metrics::new()),
            "t".into(),
        )
        .unwrap();
        PANIC.store(true, Ordering::SeqCst);
        let failed = batcher.submit(batch(1, 1.0)).unwrap().await.unwrap();
        PANIC.store(false, Ordering::SeqCst);
        let message = failed.unwrap_err();
        assert!(message.contains("panicked: told to panic"), "{message}");
        let ok = batcher
            .submit(batch(2, 1.5))
            .unwrap()
            .await
            .unwrap()
            .unwrap();
        assert!(ok[0].iter().all(|v| *v == 1.5));
    }

    #[test]
    fn a_full_queue_refuses() {
        let options = BatchingOptions {
            merge: false,
            max_batch_size: 1,
            batch_timeout: Duration::ZERO,
            max_enqueued: 1,
        };
        // a model that takes 100 ms a pass: the queue of one is full after two requests
        let slow = Lambda::new(|x: Value| {
            std::thread::sleep(Duration::from_millis(100));
            Ok(x)
        });
        let model = Sequential::new().input([2]).add(slow).build().unwrap();
        let batcher = Batcher::start(model, options, Arc::new(Metrics::new()), "t".into()).unwrap();
        let submitted: Vec<_> = (0..10).map(|_| batcher.submit(batch(1, 1.0))).collect();
        let refused = submitted
            .iter()
            .filter(|r| matches!(r, Err(Refused::Full(1))))
            .count();
        assert!((8..=9).contains(&refused), "{refused} of 10 refused");
    }
}
