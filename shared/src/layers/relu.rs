//! A standalone `ReLU` layer (the MNIST network fuses its ReLUs into the convolutions).

use crate::blob::{LayerDesc, LayerKind, Shape};
use crate::tensor::TensorMut;

/// `ReLU()` on an `H × W × C` tensor, in place.
#[derive(Clone, Copy, Debug, Default)]
pub struct Relu<const H: usize, const W: usize, const C: usize>;

impl<const H: usize, const W: usize, const C: usize> Relu<H, W, C> {
    /// The layer.
    pub const fn new() -> Self {
        Self
    }

    /// `x = max(x, 0)` in place.
    pub fn forward(&self, mut x: TensorMut<'_, f32, H, W, C>) {
        crate::float::relu(x.data_mut());
    }

    /// int8 ReLU in place: codes below the zero point (real values below 0) become the zero
    /// point; the scale and zero point are unchanged.
    pub fn forward_i8(&self, mut x: TensorMut<'_, i8, H, W, C>, zero_point: i8) {
        for v in x.data_mut() {
            *v = (*v).max(zero_point);
        }
    }

    /// The layer as a blob architecture entry.
    pub const fn desc(&self) -> LayerDesc {
        let s = Shape::new(H as u32, W as u32, C as u32);
        LayerDesc {
            kind: LayerKind::Relu,
            input: s,
            output: s,
        }
    }
}
