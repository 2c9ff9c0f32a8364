//! `Strategy`: how `fit` spreads its steps over replicas.

use crate::distribute::replicas::Replicas;

/// A way to train one model on several replicas, given to
/// [`FitOptions::strategy`](crate::FitOptions::strategy), as Keras' `tf.distribute`
/// strategies. The loop of `fit` stays the same; a strategy decides which part of each batch
/// this process reads and how a step's gradients become an update.
///
/// kiln's strategies: [`MirroredStrategy`](crate::distribute::MirroredStrategy) (several
/// devices in one process) and, with the `mpi` feature, `MultiWorkerMirroredStrategy`
/// (synchronous, one process per worker) and `ParameterServerStrategy` (asynchronous).
pub trait Strategy: Replicas {
    /// This process' index among the processes (0, the chief, in one process).
    fn rank(&self) -> usize {
        0
    }

    /// The number of processes training together (1 in one process).
    fn processes(&self) -> usize {
        1
    }

    /// The replicas computing gradients: devices, synchronous workers, or a parameter
    /// server's workers (the processes but the server).
    fn workers(&self) -> usize {
        self.replicas()
    }

    /// What this process' messages between processes cost so far (`None` in one process).
    fn comm_stats(&self) -> Option<CommStats> {
        None
    }
}

/// What a strategy's messages between processes cost on one process: for the synchronous
/// workers, the all-reduces (waiting for the slowest worker included); for a parameter
/// server's processes, the messages received.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CommStats {
    /// Reductions (or messages received).
    pub calls: u64,
    /// Bytes of this process' buffers (or of the messages received), summed over the calls.
    pub bytes: u64,
    /// Seconds spent in them.
    pub seconds: f64,
}
