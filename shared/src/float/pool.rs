//! f32 forward passes of [`MaxPool2d`] and [`AvgPool2d`].

use crate::layers::{AvgPool2d, MaxPool2d};
use crate::padding::PaddingKind;
use crate::tensor::{TensorMut, TensorRef};

impl<
        P: PaddingKind,
        const H: usize,
        const W: usize,
        const C: usize,
        const POOL: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > MaxPool2d<P, H, W, C, POOL, S, OH, OW>
{
    /// Per channel, the maximum over the in-bounds part of each window.
    pub fn forward(
        &self,
        input: TensorRef<'_, f32, H, W, C>,
        mut output: TensorMut<'_, f32, OH, OW, C>,
    ) {
        Self::max_windows(input.data(), output.data_mut(), f32::NEG_INFINITY);
    }
}

impl<
        P: PaddingKind,
        const H: usize,
        const W: usize,
        const C: usize,
        const POOL: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > AvgPool2d<P, H, W, C, POOL, S, OH, OW>
{
    /// Per channel, the mean over the in-bounds part of each window.
    pub fn forward(
        &self,
        input: TensorRef<'_, f32, H, W, C>,
        mut output: TensorMut<'_, f32, OH, OW, C>,
    ) {
        let x = input.data();
        let out = output.data_mut();
        for oy in 0..OH {
            for ox in 0..OW {
                let ((y0, y1), (x0, x1)) = (Self::WINDOW.rows(oy), Self::WINDOW.cols(ox));
                let o = &mut out[(oy * OW + ox) * C..(oy * OW + ox + 1) * C];
                o.fill(0.0);
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let xs = &x[(iy * W + ix) * C..(iy * W + ix + 1) * C];
                        for (m, &v) in o.iter_mut().zip(xs) {
                            *m += v;
                        }
                    }
                }
                let count = ((y1 - y0) * (x1 - x0)) as f32;
                for m in o.iter_mut() {
                    *m /= count;
                }
            }
        }
    }
}
