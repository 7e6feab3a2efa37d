//! Training ops for tinyconv: one API ([`Backend`]) with a native CPU implementation
//! ([`cpu::CpuBackend`]) and CubeCL implementations for GPUs (features `wgpu`, `cuda`).
//!
//! Layouts follow Keras: activations are NHWC (channels last), convolution kernels are HWIO
//! (`[kh, kw, in_c, out_c]`), dense kernels are `[in, out]`, biases `[out]`.

mod backend;
pub mod cpu;
pub mod dropout;
mod geometry;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod gpu;

pub use backend::{Backend, LossOutput};
pub use cpu::{CpuBackend, CpuIndex, CpuTensor};
pub use dropout::{dropout_keep, dropout_scale};
pub use geometry::{Conv2dGeom, DenseGeom, ImageGeom, Padding, Pool2dGeom};
