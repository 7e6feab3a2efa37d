//! f32 forward pass of [`Conv2d`].

use crate::float::params::ConvWeights;
use crate::layers::Conv2d;
use crate::padding::PaddingKind;
use crate::tensor::{TensorMut, TensorRef};
use crate::weights::WeightStore;

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
    /// `out = act(bias + Σ input ⋆ kernel)`; padded positions contribute 0.
    ///
    /// Direct convolution: per output pixel, the `CO` accumulators are updated with one
    /// contiguous kernel row (HWIO, `CO` values) per input value.
    pub fn forward<Ws: WeightStore>(
        &self,
        weights: &ConvWeights<Ws, K, CI, CO>,
        input: TensorRef<'_, f32, H, W, CI>,
        mut output: TensorMut<'_, f32, OH, OW, CO>,
    ) {
        let x = input.data();
        let out = output.data_mut();
        let kernel = weights.kernel();
        let bias = weights.bias();
        let mut acc = [0f32; CO];
        for oy in 0..OH {
            let (y0, y1) = crate::layers::pool::clip(oy * S, K, Self::PAD_TOP, H);
            for ox in 0..OW {
                let (x0, x1) = crate::layers::pool::clip(ox * S, K, Self::PAD_LEFT, W);
                for (co, a) in acc.iter_mut().enumerate() {
                    *a = bias.get(co);
                }
                for iy in y0..y1 {
                    let ky = iy + Self::PAD_TOP - oy * S;
                    for ix in x0..x1 {
                        let kx = ix + Self::PAD_LEFT - ox * S;
                        let xs = &x[(iy * W + ix) * CI..(iy * W + ix + 1) * CI];
                        let wbase = (ky * K + kx) * CI * CO;
                        for (ci, &xv) in xs.iter().enumerate() {
                            kernel.axpy(wbase + ci * CO, xv, &mut acc);
                        }
                    }
                }
                if self.relu() {
                    for a in acc.iter_mut() {
                        *a = a.max(0.0);
                    }
                }
                out[(oy * OW + ox) * CO..(oy * OW + ox + 1) * CO].copy_from_slice(&acc);
            }
        }
    }
}
