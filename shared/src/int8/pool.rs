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
        crate::int8::kernels::avg_pool(&Self::WINDOW, input.data(), output.data_mut());
    }
}
