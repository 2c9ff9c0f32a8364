//! The `TensorBoard` callback and the event files it writes.

mod callback;
mod events;
mod keras_graph;
mod proto;

pub use callback::{TensorBoard, UpdateFreq};
