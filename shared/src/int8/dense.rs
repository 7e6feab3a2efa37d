//! int8 forward pass of [`Dense`].

use crate::int8::params::DenseI8Weights;
use crate::layers::Dense;
use crate::tensor::{TensorMut, TensorRef};

impl<const IN: usize, const OUT: usize> Dense<IN, OUT> {
    /// TFLite's int8 fully connected layer with per-channel weights:
    /// `out[o] = clamp(MultiplyByQuantizedMultiplier(bias[o] + Σ (x - input_zp) * w[o], m[o],
    /// shift[o]) + output_zp)`. A fused ReLU is set in the requantization.
    pub fn forward_i8(
        &self,
        weights: &DenseI8Weights<'_, IN, OUT>,
        input: TensorRef<'_, i8, 1, 1, IN>,
        mut output: TensorMut<'_, i8, 1, 1, OUT>,
    ) {
        let rq: &crate::int8::ChannelRequant<'_> = weights.requant();
        crate::int8::kernels::dense(IN, weights.kernel(), rq, input.data(), output.data_mut());
    }
}
