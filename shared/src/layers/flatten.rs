//! `Flatten`: `H × W × C` to `1 × 1 × N` in channels-last order (a no-op on the data).

use crate::blob::{LayerDesc, LayerKind, Shape};
use crate::tensor::{TensorMut, TensorRef};

/// Flattens `H × W × C` into `N = H * W * C` values, like Keras's `Flatten` on channels-last
/// data.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flatten<const H: usize, const W: usize, const C: usize, const N: usize>;

impl<const H: usize, const W: usize, const C: usize, const N: usize> Flatten<H, W, C, N> {
    /// The layer. Fails to compile unless `N == H * W * C`.
    ///
    /// ```compile_fail
    /// let _ = shared::layers::Flatten::<3, 3, 128, 1000>::new();
    /// ```
    pub const fn new() -> Self {
        const { assert!(N == H * W * C, "N must be H * W * C") };
        Self
    }

    /// Reinterprets the tensor as a `1 × 1 × N` vector.
    pub fn apply<'a, T>(&self, x: TensorRef<'a, T, H, W, C>) -> TensorRef<'a, T, 1, 1, N> {
        const { assert!(N == H * W * C, "N must be H * W * C") };
        x.reshape()
    }

    /// Reinterprets the tensor as a `1 × 1 × N` vector, mutably.
    pub fn apply_mut<'a, T>(&self, x: TensorMut<'a, T, H, W, C>) -> TensorMut<'a, T, 1, 1, N> {
        const { assert!(N == H * W * C, "N must be H * W * C") };
        x.reshape()
    }

    /// The layer as a blob architecture entry.
    pub const fn desc(&self) -> LayerDesc {
        LayerDesc {
            kind: LayerKind::Flatten,
            input: Shape::new(H as u32, W as u32, C as u32),
            output: Shape::new(1, 1, N as u32),
        }
    }
}
