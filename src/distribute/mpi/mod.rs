//! Training across processes over MPI (the `mpi` feature): synchronous workers and an
//! asynchronous parameter server.

mod grads;
mod parameter_server;
mod workers;
mod world;

pub(crate) use grads::GradLayout;
pub use parameter_server::ParameterServerStrategy;
pub use workers::MultiWorkerMirroredStrategy;
pub(crate) use world::World;
