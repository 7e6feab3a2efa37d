//! CubeCL implementations of [`Backend`](crate::Backend), generic over the CubeCL runtime:
//! [`GpuBackend<WgpuRuntime>`](GpuBackend) (feature `wgpu`: Vulkan, Metal, DX12, and Mesa's
//! lavapipe on machines without a GPU) and `GpuBackend<CudaRuntime>` (feature `cuda`).
//!
//! Convolutions run as `im2col` + a register-tiled GEMM (`col2im` for the input gradient), dense
//! layers as the same GEMM with strided (transposed) operands. On devices whose plane
//! (subgroup) size is fixed, a GEMM that shares loaded values across the plane with
//! `plane_broadcast` is used once a self-test on the device has matched the portable kernel.
//! Losses are reduced on the device; the host reads back two numbers per loss call.

mod backend_impl;
mod conv;
mod device;
mod elementwise;
mod error;
mod gemm;
mod launch;
mod loss;
mod pool;
mod resample;
mod runner;
mod tensor;

#[cfg(feature = "cuda")]
pub use device::{cuda_available, cuda_backend};
#[cfg(feature = "wgpu")]
pub use device::{wgpu_backend, wgpu_hardware_adapter_available};
pub use error::GpuError;
pub use runner::GpuBackend;
pub use tensor::{GpuIndex, GpuTensor};
