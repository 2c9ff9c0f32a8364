//! Models: the Sequential builder, the Functional API (symbolic tensors and the graph they
//! trace), the built and compiled `Model`, its summary.

mod diagram;
mod functional;
mod input;
mod layer_access;
mod model;
mod sequential;
mod summary;
mod symbolic;
mod text;

pub use functional::Functional;
pub use input::Input;
pub use layer_access::LayerRef;
pub use model::Model;
pub use sequential::Sequential;
pub(crate) use summary::memory;
pub use summary::{Summary, SummaryRow};
pub use symbolic::{Apply, SharedLayer, SymbolicInputs, SymbolicTensor};
