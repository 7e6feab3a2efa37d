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
            /// The window geometry the kernels take.
            pub const WINDOW: crate::window::Window2d =
                crate::window::Window2d::new(P::PADDING, H, W, C, POOL, S);

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
        crate::window::max_pool(&Self::WINDOW, x, out, lowest);
    }
}

pub(crate) use crate::window::clip;
