//! Where the batches of `fit` and `evaluate` come from: arrays in memory, or a dataset.

use crate::data::{Batch, Batcher, Dataset, HostArray, Items};
use crate::error::{Error, Result};
use crate::graph::Value;
use crate::models::Model;
use crate::training::loops::inputs;
use crate::training::loss::Target;
use burn::tensor::Device;

/// One step's batch (this process' part of it), on the device.
pub struct Step {
    pub(crate) x: Vec<Value>,
    pub(crate) targets: Vec<Target>,
    /// The samples of this part.
    pub(crate) samples: usize,
    /// The samples of the whole batch, over every process.
    pub(crate) global: usize,
}

impl Step {
    /// A step with no samples: a parameter server's turn to apply an update.
    pub(crate) fn empty() -> Self {
        Step {
            x: Vec::new(),
            targets: Vec::new(),
            samples: 0,
            global: 0,
        }
    }
}

/// Part `index` of `parts` of a batch's samples `all`: contiguous, sizes differing by one at
/// most.
pub(crate) fn part<T>(all: &[T], (index, parts): (usize, usize)) -> &[T] {
    let n = all.len();
    &all[index * n / parts..(index + 1) * n / parts]
}

/// The batches of each epoch.
pub(crate) trait Feed {
    /// Batches in an epoch.
    fn steps(&self) -> usize;
    /// Starts epoch `epoch` (the order of its samples).
    fn start(&mut self, epoch: usize);
    /// Passes over an epoch that a resumed run does not train again.
    fn skip(&mut self, epoch: usize);
    /// Part `shard` (`(index, parts)`) of batch `step` of the epoch on `device`, or `None`
    /// after the last.
    fn next(
        &mut self,
        step: usize,
        model: &Model,
        device: &Device,
        shard: (usize, usize),
    ) -> Option<Result<Step>>;
}

/// Samples of arrays in memory, gathered batch by batch in a (shuffled) order.
pub(crate) struct ArrayFeed<'a> {
    x: &'a [HostArray<'a>],
    y: &'a [HostArray<'a>],
    batcher: Batcher,
    buffers: (Vec<f32>, Vec<f32>),
}

impl<'a> ArrayFeed<'a> {
    /// Batches of `batch_size` over `x`, `y` (checked), reshuffled each epoch with `seed`.
    pub(crate) fn new(
        (x, y): (&'a [HostArray<'a>], &'a [HostArray<'a>]),
        batch_size: usize,
        seed: Option<u64>,
    ) -> Self {
        ArrayFeed {
            x,
            y,
            batcher: Batcher::new(x[0].len(), batch_size, seed),
            buffers: (Vec::new(), Vec::new()),
        }
    }
}

impl Feed for ArrayFeed<'_> {
    fn steps(&self) -> usize {
        self.batcher.steps()
    }

    fn start(&mut self, _: usize) {
        self.batcher.shuffle();
    }

    fn skip(&mut self, _: usize) {
        // the shuffles of the epochs a resumed run skips are drawn, so that the epochs after
        // them see the orders they would have seen
        self.batcher.shuffle();
    }

    fn next(
        &mut self,
        step: usize,
        model: &Model,
        device: &Device,
        shard: (usize, usize),
    ) -> Option<Result<Step>> {
        let all = self.batcher.batch(step)?;
        let indices = part(all, shard);
        let (xbuf, ybuf) = &mut self.buffers;
        let step = inputs(self.x, indices, xbuf, device).and_then(|x| {
            let targets = model.compiled().targets(self.y, indices, ybuf, device)?;
            Ok(Step {
                x,
                targets,
                samples: indices.len(),
                global: all.len(),
            })
        });
        Some(step)
    }
}

/// Batches of a dataset, each checked against the model as it arrives.
pub(crate) struct DatasetFeed<'a> {
    data: &'a Dataset<Batch>,
    steps: usize,
    /// With `steps_per_epoch`, epochs continue one pass and start the next when it ends.
    per_epoch: Option<usize>,
    items: Option<Items<Batch>>,
    pass: u64,
    what: &'static str,
    buffers: (Vec<f32>, Vec<f32>),
}

impl<'a> DatasetFeed<'a> {
    /// A feed of `data`: one pass per epoch, or `steps_per_epoch` batches per epoch. `what`
    /// names the call in errors (`fit`, `evaluate`).
    pub(crate) fn new(
        data: &'a Dataset<Batch>,
        steps_per_epoch: Option<usize>,
        what: &'static str,
    ) -> Result<Self> {
        let steps = match (steps_per_epoch, data.len()) {
            (Some(0), _) => {
                return Err(Error::config(
                    format!("{what}: steps_per_epoch"),
                    "0 steps train nothing; give at least 1",
                ));
            }
            (Some(s), _) | (None, Some(s)) => s,
            (None, None) => {
                return Err(Error::config(
                    format!("{what}: steps_per_epoch"),
                    "the dataset's length is unknown; give steps_per_epoch",
                ));
            }
        };
        Ok(DatasetFeed {
            data,
            steps,
            per_epoch: steps_per_epoch,
            items: None,
            pass: 0,
            what,
            buffers: (Vec::new(), Vec::new()),
        })
    }

    /// A feed of one whole pass over `data` each epoch, whose length may be unknown (the
    /// progress bar then counts 0 steps).
    pub(crate) fn whole(data: &'a Dataset<Batch>, what: &'static str) -> Self {
        DatasetFeed {
            data,
            steps: data.len().unwrap_or(0),
            per_epoch: None,
            items: None,
            pass: 0,
            what,
            buffers: (Vec::new(), Vec::new()),
        }
    }

    fn batch(&mut self) -> Option<Result<Batch>> {
        if let Some(batch) = self.items.as_mut()?.next() {
            return Some(batch);
        }
        // the pass ended: with steps_per_epoch the next one starts, as tf.data's repeat
        self.per_epoch?;
        self.pass += 1;
        let mut items = self.data.pass(self.pass);
        let first = items.next();
        self.items = Some(items);
        if first.is_none() {
            return Some(Err(Error::data(format!(
                "{}: the dataset gave no batch in pass {}; a dataset read with steps_per_epoch \
                 must give at least one batch a pass",
                self.what, self.pass
            ))));
        }
        first
    }
}

impl Feed for DatasetFeed<'_> {
    fn steps(&self) -> usize {
        self.steps
    }

    fn start(&mut self, epoch: usize) {
        if self.per_epoch.is_none() || self.items.is_none() {
            self.pass = epoch as u64;
            self.items = Some(self.data.pass(self.pass));
        }
    }

    fn skip(&mut self, _: usize) {
        // each epoch's pass (and its shuffle) follows from the epoch's number alone
    }

    fn next(
        &mut self,
        step: usize,
        model: &Model,
        device: &Device,
        shard: (usize, usize),
    ) -> Option<Result<Step>> {
        if self.per_epoch.is_some_and(|s| step >= s) {
            return None;
        }
        let batch = match self.batch()? {
            Ok(batch) => batch,
            Err(e) => return Some(Err(e)),
        };
        let what = self.what;
        let step = model
            .check_pair(&batch.x, &batch.y, what)
            .map_err(|e| Error::data(format!("{what}: batch {step} of the dataset: {e}")))
            .and_then(|()| {
                let all: Vec<usize> = (0..batch.len()).collect();
                let rows = part(&all, shard);
                let (xbuf, ybuf) = &mut self.buffers;
                Ok(Step {
                    x: inputs(&batch.x, rows, xbuf, device)?,
                    targets: model.compiled().targets(&batch.y, rows, ybuf, device)?,
                    samples: rows.len(),
                    global: batch.len(),
                })
            });
        Some(step)
    }
}
