//! Models: the Sequential builder, the built and compiled `Model`, its summary.

mod input;
mod model;
mod sequential;
mod summary;

pub use input::Input;
pub use model::Model;
pub use sequential::Sequential;
pub use summary::{Summary, SummaryRow};
