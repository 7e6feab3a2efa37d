//! Device buffers of the CubeCL backends.

use cubecl::prelude::*;
use cubecl::server::Handle;

/// A flat `f32` buffer on a CubeCL device.
#[derive(Clone, Debug)]
pub struct GpuTensor {
    pub(crate) handle: Handle,
    pub(crate) len: usize,
}

/// A flat `u32` buffer on a CubeCL device (labels, arg-max indices).
#[derive(Clone, Debug)]
pub struct GpuIndex {
    pub(crate) handle: Handle,
    pub(crate) len: usize,
}

impl GpuTensor {
    /// Number of `f32` elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl GpuIndex {
    /// Number of `u32` elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A kernel argument viewing `len` elements of `handle`.
///
/// Every buffer of this module is allocated with room for at least `max(len, 1)` elements of 4
/// bytes (see [`alloc_bytes`]), so the length given to the kernel never exceeds the allocation.
pub(crate) fn array_arg<R: Runtime>(handle: &Handle, len: usize) -> ArrayArg<R> {
    // SAFETY: callers pass the `len` the buffer was allocated for (GpuTensor/GpuIndex keep it
    // next to the handle, and scratch buffers are allocated with `alloc_bytes(len)`), so the
    // kernel's view never extends past the allocation.
    unsafe { ArrayArg::from_raw_parts(handle.clone(), len) }
}

/// Bytes to allocate for `len` 4-byte elements (never 0: empty buffers get one element).
pub(crate) fn alloc_bytes(len: usize) -> usize {
    len.max(1) * 4
}
