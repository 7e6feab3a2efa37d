//! The mission's MNIST network as concrete types:
//!
//! ```text
//! 28×28×1 → Conv2D(32, 3, relu) → MaxPool(2) → Conv2D(64, 3, relu) → MaxPool(2)
//!         → Conv2D(128, 3, relu) → Flatten → Dense(10, softmax)        (104,202 parameters)
//! ```
//!
//! [`MnistInt8`], [`MnistF32`] and [`MnistF16`] bind a blob to this architecture (checking
//! every layer description and weight length) and run it with a caller-provided
//! [`MnistScratch`] ping-pong arena, so nothing large lives on the stack.

mod arch;
mod bind;
mod float;
mod int8;
mod observer;
mod scratch;

pub use arch::{
    Conv1, Conv2, Conv3, Flat, Head, MnistNet, Pool1, Pool2, MNIST_ARCH, MNIST_CLASSES,
    MNIST_INPUT, MNIST_NET, MNIST_PARAMS, MNIST_PIXELS,
};
pub use float::{MnistF16, MnistF32, MnistFloat, PredictionF32};
pub use int8::{MnistInt8, PredictionI8};
pub use observer::LayerOutput;
pub use scratch::{
    MnistScratch, MnistScratchF32, MnistScratchI8, ARENA_A, ARENA_B, MNIST_F16_RAM_BYTES,
    MNIST_F32_RAM_BYTES, MNIST_F32_SCRATCH_BYTES, MNIST_INT8_RAM_BYTES, MNIST_INT8_SCRATCH_BYTES,
};
