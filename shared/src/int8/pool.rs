//! int8 forward passes of [`MaxPool2d`] and [`AvgPool2d`] (same scale and zero point in and
//! out, as TFLite requires).

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
    /// Per channel, the maximum int8 code over the in-bounds part of each window (max commutes
    /// with the monotonic dequantization, so no rescaling is needed).
    pub fn forward_i8(
        &self,
        input: TensorRef<'_, i8, H, W, C>,
        mut output: TensorMut<'_, i8, OH, OW, C>,
    ) {
        Self::max_windows(input.data(), output.data_mut(), i8::MIN);
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
    /// TFLite's int8 average pooling: per channel the sum of the in-bounds codes divided by
    /// their count, rounded half away from zero (`(sum ± count / 2) / count`), clamped to int8.
    pub fn forward_i8(
        &self,
        input: TensorRef<'_, i8, H, W, C>,
        mut output: TensorMut<'_, i8, OH, OW, C>,
    ) {
        let x = input.data();
        let out = output.data_mut();
        let mut acc = [0i32; C];
        for oy in 0..OH {
            for ox in 0..OW {
                let (y0, y1, x0, x1) = Self::window(oy, ox);
                acc.fill(0);
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let xs = &x[(iy * W + ix) * C..(iy * W + ix + 1) * C];
                        for (a, &v) in acc.iter_mut().zip(xs) {
                            *a += v as i32;
                        }
                    }
                }
                // At least one element: a same-padded window always overlaps the input.
                let count = (((y1 - y0) * (x1 - x0)) as i32).max(1);
                let o = &mut out[(oy * OW + ox) * C..(oy * OW + ox + 1) * C];
                for (ov, &a) in o.iter_mut().zip(&acc) {
                    let avg = if a > 0 {
                        (a + count / 2) / count
                    } else {
                        (a - count / 2) / count
                    };
                    *ov = avg.clamp(-128, 127) as i8;
                }
            }
        }
    }
}
