//! Losses, chosen from the model's output activation and fused with it.

use kernels::{Backend, LossOutput};

use crate::layers::{Activation, Shape};
use crate::model::Model;

/// The loss a model trains with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Softmax output: sparse categorical crossentropy over `classes` (labels are class
    /// indices).
    SparseCategoricalCrossentropy {
        /// Number of classes.
        classes: usize,
    },
    /// Sigmoid `Dense(1)` output: binary crossentropy (labels are 0 or 1).
    BinaryCrossentropy,
}

impl Loss {
    /// The loss for `model`'s output activation: softmax → sparse categorical crossentropy,
    /// sigmoid → binary crossentropy. Other outputs are not trainable here.
    pub fn for_model(model: &Model) -> Result<Self, String> {
        match (model.output_activation(), model.output_shape()) {
            (Activation::Softmax, Shape::Flat(classes)) => {
                Ok(Loss::SparseCategoricalCrossentropy { classes })
            }
            (Activation::Sigmoid, Shape::Flat(1)) => Ok(Loss::BinaryCrossentropy),
            (a, s) => Err(format!(
                "training needs a final Dense layer with softmax or sigmoid (Dense(1)) \
                 activation; the model ends with {a:?} and output {s}"
            )),
        }
    }

    /// Checks that every label suits the loss; the error names the first bad one.
    pub fn check_labels(&self, labels: &[u32]) -> Result<(), String> {
        let limit = match *self {
            Loss::SparseCategoricalCrossentropy { classes } => classes as u32,
            Loss::BinaryCrossentropy => 2,
        };
        match labels.iter().enumerate().find(|(_, &l)| l >= limit) {
            Some((i, l)) => Err(format!(
                "label {l} at index {i} is out of range for {self:?} (must be < {limit})"
            )),
            None => Ok(()),
        }
    }

    /// Fused loss on `batch` rows of logits.
    pub fn compute<B: Backend>(
        &self,
        b: &B,
        logits: &B::Tensor,
        labels: &[u32],
        batch: usize,
    ) -> LossOutput<B::Tensor> {
        match *self {
            Loss::SparseCategoricalCrossentropy { classes } => {
                let idx = b.index_from_slice(labels);
                b.softmax_cross_entropy(logits, &idx, batch, classes)
            }
            Loss::BinaryCrossentropy => {
                let t: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
                let t = b.from_slice(&t);
                b.sigmoid_binary_cross_entropy(logits, &t, batch)
            }
        }
    }
}
