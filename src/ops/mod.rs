//! kiln's own differentiable tensor operations, for layers where Burn's own are slow on a
//! backend. Each is a Burn backend extension with a forward and a backward pass, usable on any
//! device kiln supports and tracked by autodiff like Burn's operations.

mod batch_norm;
mod batch_norm_autodiff;
#[cfg(feature = "flex")]
mod batch_norm_flex;
mod conv2d;
mod conv2d_autodiff;
#[cfg(feature = "flex")]
mod conv2d_flex;
#[cfg(feature = "flex")]
mod conv2d_pool_flex;
#[cfg(feature = "flex")]
mod conv2d_thin;
mod dense;
mod dense_autodiff;
#[cfg(feature = "flex")]
mod dense_flex;
mod dropout;
#[cfg(feature = "flex")]
mod flex_buffers;
#[cfg(feature = "flex")]
mod flex_contiguous;
#[cfg(feature = "flex")]
mod flex_gemm;
#[cfg(feature = "flex")]
mod flex_kept;
pub(crate) mod image_warp;
mod max_pool2d;
mod max_pool2d_autodiff;
#[cfg(feature = "flex")]
mod max_pool2d_flex;
#[cfg(feature = "flex")]
mod packed;
mod recurrent;
mod recurrent_host;
mod row_times;
mod simd;

pub use conv2d::{conv2d_nhwc, conv2d_nhwc_relu};
pub use dense::{dense, dense_relu};
pub use dropout::dropout;
pub use max_pool2d::max_pool2d_nhwc;
// the unchecked forms, for kiln's layers, which check shapes when a model is built
pub(crate) use batch_norm::normalize;
pub(crate) use conv2d::{convolve, convolve_max_pool};
pub(crate) use dense::project;
pub(crate) use max_pool2d::pool as max_pool2d;
pub(crate) use recurrent::{Act, Scan, ScanCell, recurrent_scan};
pub(crate) use simd::{Isa, Kernel, widest};
