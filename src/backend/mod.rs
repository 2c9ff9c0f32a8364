//! Backends: the one module of kiln that names Burn's backends. [`Device`] picks where a model
//! lives and trains; the allocator module tunes the process for training on the CPU.

mod allocator;
mod device;
mod helpers;
mod memory;
mod pool;
mod quiet;
mod subnormals;

pub use allocator::KEEP_MALLOC_ENV;
pub(crate) use allocator::keep_freed_buffers;
pub use device::*;
pub(crate) use helpers::{Shared, each_chunk, for_each_part, map_items};
pub(crate) use memory::physical_memory;
pub(crate) use pool::on_pool;
pub(crate) use subnormals::FlushSubnormals;
