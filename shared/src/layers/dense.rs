//! `Dense`: fully connected, optional fused ReLU (softmax is applied outside the layer).

use crate::blob::{Activation, LayerDesc, LayerKind, Shape};

/// A fully connected layer from `IN` to `OUT` values. Input and output are `1 × 1 × n`
/// tensors (the output of [`crate::layers::Flatten`]).
#[derive(Clone, Copy, Debug)]
pub struct Dense<const IN: usize, const OUT: usize> {
    activation: Activation,
}

impl<const IN: usize, const OUT: usize> Dense<IN, OUT> {
    /// Number of kernel weights, `IN * OUT`.
    pub const KERNEL_LEN: usize = IN * OUT;

    /// A dense layer. `activation` is fused for [`Activation::Relu`]; [`Activation::Softmax`]
    /// is recorded in the architecture and applied by the caller (see
    /// [`crate::float::softmax`]).
    pub const fn new(activation: Activation) -> Self {
        const { assert!(IN > 0 && OUT > 0) };
        Self { activation }
    }

    /// The fused activation.
    pub const fn activation(&self) -> Activation {
        self.activation
    }

    /// The layer as a blob architecture entry.
    pub const fn desc(&self) -> LayerDesc {
        LayerDesc {
            kind: LayerKind::Dense {
                units: OUT as u32,
                activation: self.activation,
            },
            input: Shape::new(1, 1, IN as u32),
            output: Shape::new(1, 1, OUT as u32),
        }
    }
}
