//! Host-memory tensors of the CPU backend.

/// A CPU tensor: a flat `f32` buffer (shape travels in the op geometry).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuTensor(pub Vec<f32>);

/// A CPU index buffer: a flat `u32` buffer (labels, arg-max positions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuIndex(pub Vec<u32>);

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
    pub fn into_vec(self) -> Vec<f32> {
        self.0
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
    pub fn into_vec(self) -> Vec<u32> {
        self.0
    }
}

impl From<Vec<u32>> for CpuIndex {
    fn from(v: Vec<u32>) -> Self {
        CpuIndex(v)
    }
}
