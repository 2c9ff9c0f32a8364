//! The MPI job this process belongs to: started once, finished when dropped.

use crate::error::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use std::time::{Duration, Instant};

/// This process' MPI environment and its communicator with every process of the job.
pub(crate) struct World {
    // dropped after `comm`: finalizes MPI
    comm: SimpleCommunicator,
    _universe: Universe,
    /// Time spent in reductions and their payload, for [`crate::distribute::CommStats`].
    pub(crate) stats: crate::distribute::CommStats,
}

impl World {
    /// Starts MPI in this process (once per process: MPI cannot start again once finished).
    pub(crate) fn start(what: &str) -> Result<Self> {
        let universe = mpi::initialize().ok_or_else(|| {
            Error::config(
                what,
                "MPI is already started in this process; make one strategy and keep it for \
                 the whole run",
            )
        })?;
        let comm = universe.world();
        Ok(World {
            comm,
            _universe: universe,
            stats: crate::distribute::CommStats::default(),
        })
    }

    pub(crate) fn rank(&self) -> usize {
        self.comm.rank() as usize
    }

    pub(crate) fn size(&self) -> usize {
        self.comm.size() as usize
    }

    pub(crate) fn comm(&self) -> &SimpleCommunicator {
        &self.comm
    }

    /// Rank 0's `values` on every process (same length everywhere).
    pub(crate) fn broadcast<T: mpi::datatype::Equivalence>(&self, values: &mut [T]) {
        self.comm.process_at_rank(0).broadcast_into(values);
    }

    /// Rank 0's bytes on every process, of any length.
    pub(crate) fn broadcast_bytes(&self, bytes: &mut Vec<u8>) {
        let mut len = [bytes.len() as u64];
        self.broadcast(&mut len);
        bytes.resize(len[0] as usize, 0);
        if !bytes.is_empty() {
            self.broadcast(&mut bytes[..]);
        }
    }

    /// The element-wise sum over every process of `send`, into `receive`, timed.
    pub(crate) fn sum(&mut self, send: &[f32], receive: &mut [f32]) {
        let start = Instant::now();
        self.comm
            .all_reduce_into(send, receive, SystemOperation::sum());
        self.stats.add(start.elapsed(), std::mem::size_of_val(send));
    }

    /// The smallest and largest of `value` over every process.
    pub(crate) fn min_max(&self, value: u64) -> (u64, u64) {
        let (mut min, mut max) = (0u64, 0u64);
        self.comm
            .all_reduce_into(&value, &mut min, SystemOperation::min());
        self.comm
            .all_reduce_into(&value, &mut max, SystemOperation::max());
        (min, max)
    }

    /// Ends the whole job: the other processes may be waiting for this one.
    pub(crate) fn abort(&self, error: &Error) -> ! {
        eprintln!(
            "kiln: worker rank {} of {} failed, ending the job: {error}",
            self.rank(),
            self.size()
        );
        self.comm.abort(1)
    }
}

impl crate::distribute::CommStats {
    fn add(&mut self, took: Duration, bytes: usize) {
        self.calls += 1;
        self.bytes += bytes as u64;
        self.seconds += took.as_secs_f64();
    }
}
