//! int8 forward pass of [`Conv2d`] (direct, im2col-free).

use crate::int8::dot::{dot_offset, dot_offset_x4};
use crate::int8::params::ConvI8Weights;
use crate::layers::pool::clip;
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
    /// input (HWC) and in the OHWI kernel, so one [`dot_offset`] call covers it.
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
        let x = input.data();
        let out = output.data_mut();
        let kernel = weights.kernel();
        let rq = weights.requant();
        let offset = rq.input_offset();
        for oy in 0..OH {
            let (y0, y1) = clip(oy * S, K, Self::PAD_TOP, H);
            for ox in 0..OW {
                let (x0, x1) = clip(ox * S, K, Self::PAD_LEFT, W);
                let kx0 = x0 + Self::PAD_LEFT - ox * S;
                let span = (x1 - x0) * CI;
                let o = &mut out[(oy * OW + ox) * CO..(oy * OW + ox + 1) * CO];
                // Four output channels at a time, then the remainder one by one.
                let blocked = CO - CO % 4;
                for co in (0..blocked).step_by(4) {
                    let mut acc = [
                        rq.bias(co),
                        rq.bias(co + 1),
                        rq.bias(co + 2),
                        rq.bias(co + 3),
                    ];
                    let filter =
                        |j: usize| &kernel[(co + j) * K * K * CI..(co + j + 1) * K * K * CI];
                    let wc = [filter(0), filter(1), filter(2), filter(3)];
                    for iy in y0..y1 {
                        let ky = iy + Self::PAD_TOP - oy * S;
                        let xs = &x[(iy * W + x0) * CI..][..span];
                        let start = (ky * K + kx0) * CI;
                        let d = dot_offset_x4(xs, wc.map(|w| &w[start..start + span]), offset);
                        for (a, d) in acc.iter_mut().zip(d) {
                            *a = a.wrapping_add(d);
                        }
                    }
                    for (j, a) in acc.into_iter().enumerate() {
                        o[co + j] = rq.apply(co + j, a);
                    }
                }
                for (co, ov) in o.iter_mut().enumerate().skip(blocked) {
                    let wc = &kernel[co * K * K * CI..(co + 1) * K * K * CI];
                    let mut acc = rq.bias(co);
                    for iy in y0..y1 {
                        let ky = iy + Self::PAD_TOP - oy * S;
                        let xs = &x[(iy * W + x0) * CI..][..span];
                        let ws = &wc[(ky * K + kx0) * CI..][..span];
                        acc = acc.wrapping_add(dot_offset(xs, ws, offset));
                    }
                    *ov = rq.apply(co, acc);
                }
            }
        }
    }
}
