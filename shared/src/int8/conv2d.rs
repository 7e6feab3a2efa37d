//! int8 forward pass of [`Conv2d`] (direct, im2col-free).

use crate::int8::params::ConvI8Weights;
use crate::layers::Conv2d;
use crate::padding::PaddingKind;
use crate::tensor::{TensorMut, TensorRef};

impl<
        P: PaddingKind,
        const H: usize,
        const W: usize,
        const CI: usize,
        const CO: usize,
        const K: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > Conv2d<P, H, W, CI, CO, K, S, OH, OW>
{
    /// TFLite's int8 convolution: per output channel `c`,
    /// `acc = bias[c] + Σ (x - input_zp) * w[c]`, then
    /// `out = clamp(MultiplyByQuantizedMultiplier(acc, m[c], shift[c]) + output_zp)`.
    /// Padded positions contribute nothing (as if padded with the input zero point).
    ///
    /// For each kernel row the in-bounds input span `[x0, x1) × CI` is contiguous both in the
    /// input (HWC) and in the OHWI kernel, so one [`crate::int8::dot::dot_offset`] call covers it.
    /// The ReLU is fused through the requantization's clamp (set when the weights were built).
    pub fn forward_i8(
        &self,
        weights: &ConvI8Weights<'_, K, CI, CO>,
        input: TensorRef<'_, i8, H, W, CI>,
        output: TensorMut<'_, i8, OH, OW, CO>,
    ) {
        #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
        {
            let mut output = output;
            crate::arm_dsp::conv2d::<H, W, CI, CO, K, S, OH, OW>(
                weights,
                Self::PAD_TOP,
                Self::PAD_LEFT,
                input.data(),
                output.data_mut(),
            );
        }
        #[cfg(not(all(target_arch = "arm", feature = "arm-dsp")))]
        self.forward_i8_portable(weights, input, output);
    }

    /// The portable body of [`Conv2d::forward_i8`].
    #[cfg_attr(all(target_arch = "arm", feature = "arm-dsp"), allow(dead_code))]
    fn forward_i8_portable(
        &self,
        weights: &ConvI8Weights<'_, K, CI, CO>,
        input: TensorRef<'_, i8, H, W, CI>,
        mut output: TensorMut<'_, i8, OH, OW, CO>,
    ) {
        let rq: &crate::int8::ChannelRequant<'_> = weights.requant();
        crate::int8::kernels::conv2d(
            &Self::WINDOW,
            CO,
            weights.kernel(),
            rq,
            input.data(),
            output.data_mut(),
        );
    }
}
