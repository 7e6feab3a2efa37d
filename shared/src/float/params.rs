//! Length-checked weight sets for the f32 layers.

use crate::weights::WeightStore;

/// A weight tensor's length differs from what the layer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{tensor}: expected {expected} {unit}, found {found}")]
pub struct WeightLenError {
    /// Which tensor (`"kernel"`, `"bias"`, …).
    pub tensor: &'static str,
    /// Length the layer needs.
    pub expected: usize,
    /// Length supplied.
    pub found: usize,
    /// Unit of `expected` and `found`: `"values"` or `"bytes"`.
    pub unit: &'static str,
}

pub(crate) fn check_len(
    tensor: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), WeightLenError> {
    if expected == found {
        Ok(())
    } else {
        Err(WeightLenError {
            tensor,
            expected,
            found,
            unit: "values",
        })
    }
}

/// Kernel (Keras HWIO, `[K][K][CI][CO]`) and bias (`[CO]`) of a convolution.
#[derive(Clone, Copy, Debug)]
pub struct ConvWeights<S, const K: usize, const CI: usize, const CO: usize> {
    kernel: S,
    bias: S,
}

impl<S: WeightStore, const K: usize, const CI: usize, const CO: usize> ConvWeights<S, K, CI, CO> {
    /// Checks the lengths: `K * K * CI * CO` kernel values and `CO` biases.
    pub fn new(kernel: S, bias: S) -> Result<Self, WeightLenError> {
        check_len("kernel", K * K * CI * CO, kernel.len())?;
        check_len("bias", CO, bias.len())?;
        Ok(Self { kernel, bias })
    }

    /// The kernel, HWIO.
    pub fn kernel(&self) -> S {
        self.kernel
    }

    /// The biases.
    pub fn bias(&self) -> S {
        self.bias
    }
}

/// Kernel (Keras `[IN][OUT]`) and bias (`[OUT]`) of a dense layer.
#[derive(Clone, Copy, Debug)]
pub struct DenseWeights<S, const IN: usize, const OUT: usize> {
    kernel: S,
    bias: S,
}

impl<S: WeightStore, const IN: usize, const OUT: usize> DenseWeights<S, IN, OUT> {
    /// Checks the lengths: `IN * OUT` kernel values and `OUT` biases.
    pub fn new(kernel: S, bias: S) -> Result<Self, WeightLenError> {
        check_len("kernel", IN * OUT, kernel.len())?;
        check_len("bias", OUT, bias.len())?;
        Ok(Self { kernel, bias })
    }

    /// The kernel, `[IN][OUT]`.
    pub fn kernel(&self) -> S {
        self.kernel
    }

    /// The biases.
    pub fn bias(&self) -> S {
        self.bias
    }
}
