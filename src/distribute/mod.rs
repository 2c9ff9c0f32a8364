//! Training one model on several replicas: devices in one process
//! ([`MirroredStrategy`]) or, with the `mpi` feature, processes over MPI
//! (`MultiWorkerMirroredStrategy`, synchronous; `ParameterServerStrategy`, asynchronous).
//!
//! A strategy goes to [`FitOptions::strategy`](crate::FitOptions::strategy); the loop of
//! `fit` stays the same and the strategy runs each step.

mod flat;
mod mirrored;
#[cfg(feature = "mpi")]
mod mpi;
mod replicas;
mod strategy;

pub use mirrored::MirroredStrategy;
#[cfg(feature = "mpi")]
pub use mpi::{MultiWorkerMirroredStrategy, ParameterServerStrategy};
pub(crate) use replicas::{Local, Replicas};
pub use strategy::{CommStats, Strategy};
