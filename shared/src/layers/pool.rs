//! `MaxPooling2D` and `AveragePooling2D`: square window and stride independent of each other
//! (overlapping pooling works), valid or same padding.

use core::marker::PhantomData;

use crate::blob::{LayerDesc, LayerKind, Shape};
use crate::padding::PaddingKind;

macro_rules! pool_layer {
    ($(#[$doc:meta])* $name:ident, $kind:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name<
            P,
            const H: usize,
            const W: usize,
            const C: usize,
            const POOL: usize,
            const S: usize,
            const OH: usize,
            const OW: usize,
        > {
            _padding: PhantomData<P>,
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
            > $name<P, H, W, C, POOL, S, OH, OW>
        {
            /// Rows of padding above the input.
            pub const PAD_TOP: usize = P::PADDING.pad_before(H, POOL, S);
            /// Columns of padding left of the input.
            pub const PAD_LEFT: usize = P::PADDING.pad_before(W, POOL, S);

            /// The layer. Fails to compile when the type's shapes are inconsistent.
            pub const fn new() -> Self {
                const {
                    assert!(POOL > 0 && S > 0 && H > 0 && W > 0 && C > 0);
                    assert!(OH > 0 && OW > 0, "the window does not fit the input");
                    assert!(OH == P::PADDING.out_dim(H, POOL, S), "OH does not match");
                    assert!(OW == P::PADDING.out_dim(W, POOL, S), "OW does not match");
                }
                Self { _padding: PhantomData }
            }

            /// The layer as a blob architecture entry.
            pub const fn desc(&self) -> LayerDesc {
                LayerDesc {
                    kind: LayerKind::$kind {
                        pool: POOL as u32,
                        stride: S as u32,
                        padding: P::PADDING,
                    },
                    input: Shape::new(H as u32, W as u32, C as u32),
                    output: Shape::new(OH as u32, OW as u32, C as u32),
                }
            }

            /// In-bounds window rows `[y0, y1)` (input coordinates) of output row `oy`, and
            /// likewise for columns with `ox`.
            #[inline(always)]
            pub(crate) fn window(oy: usize, ox: usize) -> (usize, usize, usize, usize) {
                let (y0, y1) = crate::layers::pool::clip(oy * S, POOL, Self::PAD_TOP, H);
                let (x0, x1) = crate::layers::pool::clip(ox * S, POOL, Self::PAD_LEFT, W);
                (y0, y1, x0, x1)
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
            > Default for $name<P, H, W, C, POOL, S, OH, OW>
        {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

pool_layer!(
    /// Max pooling from `H × W × C` to `OH × OW × C`, window `POOL × POOL`, stride `S`.
    /// Padded positions are ignored (never the maximum), as in TensorFlow.
    MaxPool2d,
    MaxPool2d
);

pool_layer!(
    /// Average pooling from `H × W × C` to `OH × OW × C`, window `POOL × POOL`, stride `S`.
    /// Divides by the number of in-bounds elements of each window, as in TensorFlow.
    AvgPool2d,
    AvgPool2d
);

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
    /// The max-pooling loop of every numeric path: per channel, the largest element of the
    /// in-bounds part of each window, starting from `lowest`. `x` is `H × W × C`, `out`
    /// `OH × OW × C` (the tensor views guarantee both lengths).
    #[inline(always)]
    pub(crate) fn max_windows<T: Copy + PartialOrd>(x: &[T], out: &mut [T], lowest: T) {
        for oy in 0..OH {
            for ox in 0..OW {
                let (y0, y1, x0, x1) = Self::window(oy, ox);
                let o = &mut out[(oy * OW + ox) * C..(oy * OW + ox + 1) * C];
                o.fill(lowest);
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let xs = &x[(iy * W + ix) * C..(iy * W + ix + 1) * C];
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
}

/// Clips the padded window starting at `start` (padded coordinates) of length `k` to the
/// input `[0, len)`, given `pad` elements of padding before; returns input coordinates.
#[inline(always)]
pub(crate) fn clip(start: usize, k: usize, pad: usize, len: usize) -> (usize, usize) {
    let lo = start.saturating_sub(pad);
    let hi = (start + k).saturating_sub(pad).min(len);
    (lo, hi.max(lo))
}
