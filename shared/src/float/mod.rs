//! The f32 path: forward passes of the layers with f32 activations and f32 or f16 weights
//! (any [`crate::weights::WeightStore`]), plus ReLU, softmax and argmax.

pub mod activation;
pub mod conv2d;
pub mod dense;
pub mod interpreter;
pub mod kernels;
pub mod params;
pub mod pool;

pub use activation::{argmax, relu, softmax};
pub use params::{ConvWeights, DenseWeights, WeightLenError};
