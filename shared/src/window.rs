//! The geometry of a sliding window over an HWC tensor — what a convolution and a pooling
//! layer share: input size, window, stride, padding before, output size. The const-generic
//! layers build it from their type parameters at compile time; the blob interpreter builds it
//! from a blob's layer descriptions at run time. The loops of both take it, so there is one
//! implementation of each kernel.

use crate::padding::Padding;

/// A `k × k` window with stride `stride` over an `h × w × c` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window2d {
    /// Input rows.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Window side.
    pub k: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Rows of padding above the input.
    pub pad_top: usize,
    /// Columns of padding left of the input.
    pub pad_left: usize,
    /// Output rows.
    pub oh: usize,
    /// Output columns.
    pub ow: usize,
}

impl Window2d {
    /// The window of `padding` (Keras/TF rule) over `h × w × c`.
    pub const fn new(
        padding: Padding,
        h: usize,
        w: usize,
        c: usize,
        k: usize,
        stride: usize,
    ) -> Self {
        Self {
            h,
            w,
            c,
            k,
            stride,
            pad_top: padding.pad_before(h, k, stride),
            pad_left: padding.pad_before(w, k, stride),
            oh: padding.out_dim(h, k, stride),
            ow: padding.out_dim(w, k, stride),
        }
    }

    /// In-bounds input rows `[y0, y1)` of output row `oy`.
    #[inline(always)]
    pub fn rows(&self, oy: usize) -> (usize, usize) {
        clip(oy * self.stride, self.k, self.pad_top, self.h)
    }

    /// In-bounds input columns `[x0, x1)` of output column `ox`.
    #[inline(always)]
    pub fn cols(&self, ox: usize) -> (usize, usize) {
        clip(ox * self.stride, self.k, self.pad_left, self.w)
    }
}

/// Max pooling: per channel, the largest element of the in-bounds part of each window,
/// starting from `lowest`.
#[inline(always)]
pub fn max_pool<T: Copy + PartialOrd>(g: &Window2d, x: &[T], out: &mut [T], lowest: T) {
    let c = g.c;
    for oy in 0..g.oh {
        let (y0, y1) = g.rows(oy);
        for ox in 0..g.ow {
            let (x0, x1) = g.cols(ox);
            let o = &mut out[(oy * g.ow + ox) * c..(oy * g.ow + ox + 1) * c];
            o.fill(lowest);
            for iy in y0..y1 {
                for ix in x0..x1 {
                    let xs = &x[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c];
                    for (m, &v) in o.iter_mut().zip(xs) {
                        if v > *m {
                            *m = v;
                        }
                    }
                }
            }
        }
    }
}

/// Clips the padded window starting at `start` (padded coordinates) of length `k` to the
/// input `[0, len)`, given `pad` elements of padding before; returns input coordinates.
#[inline(always)]
pub(crate) fn clip(start: usize, k: usize, pad: usize, len: usize) -> (usize, usize) {
    let lo = start.saturating_sub(pad);
    let hi = (start + k).saturating_sub(pad).min(len);
    (lo, hi.max(lo))
}
