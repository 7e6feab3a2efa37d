//! The int8 path (TFLite / TFLite Micro scheme, see [`crate::quant`]): integer-only forward
//! passes of the layers. No float arithmetic happens inside these kernels.
//!
//! Layouts: conv kernels OHWI `[CO][K][K][CI]` (so the inner loop runs over contiguous input
//! channels), dense kernels `[OUT][IN]`; both are i8 bytes (two's complement). The host
//! reorders Keras weights with [`crate::layout`].

pub mod activation;
pub mod conv2d;
pub mod dense;
pub mod dot;
pub mod interpreter;
pub mod kernels;
pub mod params;
pub mod pool;

pub use crate::float::argmax;
pub use activation::softmax_dequantized;
pub use params::{ChannelRequant, ConvI8Weights, DenseI8Weights, QuantLayerError, Requant};
