//! Host-memory tensors of the CPU backend.

use super::recycle;

/// A CPU tensor: a flat `f32` buffer (shape travels in the op geometry). Dropping a large one
/// hands its buffer to the backend's recycler for reuse by later ops.
#[derive(Debug, Default, PartialEq)]
pub struct CpuTensor(pub Vec<f32>);

/// A CPU index buffer: a flat `u32` buffer (labels, arg-max positions).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CpuIndex(pub Vec<u32>);

impl Clone for CpuTensor {
    fn clone(&self) -> Self {
        CpuTensor(recycle::copy_of(&self.0))
    }
}

impl Clone for CpuIndex {
    fn clone(&self) -> Self {
        let mut v = recycle::U32.take_empty(self.0.len());
        v.extend_from_slice(&self.0);
        CpuIndex(v)
    }
}

impl Drop for CpuTensor {
    fn drop(&mut self) {
        recycle::F32.give(std::mem::take(&mut self.0));
    }
}

impl Drop for CpuIndex {
    fn drop(&mut self) {
        recycle::U32.give(std::mem::take(&mut self.0));
    }
}

impl CpuTensor {
    /// The elements.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }
    /// The elements, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.0
    }
    /// Unwraps the buffer.
    pub fn into_vec(mut self) -> Vec<f32> {
        std::mem::take(&mut self.0)
    }
}

impl From<Vec<f32>> for CpuTensor {
    fn from(v: Vec<f32>) -> Self {
        CpuTensor(v)
    }
}

impl CpuIndex {
    /// The indices.
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }
    /// Unwraps the buffer.
    pub fn into_vec(mut self) -> Vec<u32> {
        std::mem::take(&mut self.0)
    }
}

impl From<Vec<u32>> for CpuIndex {
    fn from(v: Vec<u32>) -> Self {
        CpuIndex(v)
    }
}
