//! The graph of layers that every model lowers to, and the executor that runs it.

mod fusion;
#[allow(clippy::module_inception)]
mod graph;
mod network;
mod value;

pub use graph::{Graph, InputSpec, Node, Source};
pub use network::{Logits, Network, Output};
pub(crate) use value::map_value;
pub use value::{Layout, Value};
