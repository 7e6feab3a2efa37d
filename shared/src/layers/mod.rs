//! The layer types. Shapes, windows, strides and padding are type parameters; a layer type
//! whose output shape does not follow from its input shape fails to compile (the check runs
//! when the layer is constructed with `new`).
//!
//! Each layer has an f32 `forward` (in [`crate::float`]) and an int8 `forward_i8`
//! (in [`crate::int8`]).

pub mod conv2d;
pub mod dense;
pub mod flatten;
pub mod pool;
pub mod relu;

pub use conv2d::Conv2d;
pub use dense::Dense;
pub use flatten::Flatten;
pub use pool::{AvgPool2d, MaxPool2d};
pub use relu::Relu;
