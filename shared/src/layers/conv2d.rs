//! `Conv2D`: square kernel, stride, valid/same padding, optional fused ReLU.

use core::marker::PhantomData;

use crate::blob::{Activation, LayerDesc, LayerKind, Shape};
use crate::padding::PaddingKind;

/// A 2-D convolution from `H × W × CI` to `OH × OW × CO` with a `K × K` kernel and stride `S`.
///
/// `P` is [`crate::padding::Valid`] or [`crate::padding::Same`]; `OH`/`OW` must equal
/// `P::PADDING.out_dim(H, K, S)` / `out_dim(W, K, S)` (checked at compile time by [`Conv2d::new`]).
#[derive(Clone, Copy, Debug)]
pub struct Conv2d<
    P,
    const H: usize,
    const W: usize,
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
> {
    relu: bool,
    _padding: PhantomData<P>,
}

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
    /// Rows of padding above the input.
    pub const PAD_TOP: usize = P::PADDING.pad_before(H, K, S);
    /// Columns of padding left of the input.
    pub const PAD_LEFT: usize = P::PADDING.pad_before(W, K, S);
    /// The window geometry the kernels take.
    pub const WINDOW: crate::window::Window2d =
        crate::window::Window2d::new(P::PADDING, H, W, CI, K, S);
    /// Number of kernel weights, `K * K * CI * CO`.
    pub const KERNEL_LEN: usize = K * K * CI * CO;

    /// A convolution layer, with a fused ReLU when `relu`. Fails to compile when the type's
    /// shapes are inconsistent.
    ///
    /// ```
    /// use shared::layers::Conv2d;
    /// use shared::padding::{Same, Valid};
    /// // 5×5 input, 3×3 kernel: valid → 3×3, same → 5×5, valid stride 2 → 2×2.
    /// let _ = Conv2d::<Valid, 5, 5, 1, 8, 3, 1, 3, 3>::new(true);
    /// let _ = Conv2d::<Same, 5, 5, 1, 8, 3, 1, 5, 5>::new(true);
    /// let _ = Conv2d::<Valid, 5, 5, 1, 8, 3, 2, 2, 2>::new(true);
    /// ```
    ///
    /// ```compile_fail
    /// use shared::layers::Conv2d;
    /// use shared::padding::Valid;
    /// // A valid 3×3 convolution of 5×5 gives 3×3, not 4×4.
    /// let _ = Conv2d::<Valid, 5, 5, 1, 8, 3, 1, 4, 4>::new(true);
    /// ```
    pub const fn new(relu: bool) -> Self {
        const {
            assert!(K > 0 && S > 0 && H > 0 && W > 0 && CI > 0 && CO > 0);
            assert!(OH > 0 && OW > 0, "the kernel does not fit the input");
            assert!(
                OH == P::PADDING.out_dim(H, K, S),
                "OH does not match H, K, S, padding"
            );
            assert!(
                OW == P::PADDING.out_dim(W, K, S),
                "OW does not match W, K, S, padding"
            );
        }
        Self {
            relu,
            _padding: PhantomData,
        }
    }

    /// Whether a ReLU is fused.
    pub const fn relu(&self) -> bool {
        self.relu
    }

    /// The layer as a blob architecture entry.
    pub const fn desc(&self) -> LayerDesc {
        LayerDesc {
            kind: LayerKind::Conv2d {
                kernel: K as u32,
                stride: S as u32,
                padding: P::PADDING,
                filters: CO as u32,
                activation: if self.relu {
                    Activation::Relu
                } else {
                    Activation::None
                },
            },
            input: Shape::new(H as u32, W as u32, CI as u32),
            output: Shape::new(OH as u32, OW as u32, CO as u32),
        }
    }
}
