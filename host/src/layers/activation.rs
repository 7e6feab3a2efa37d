//! Activation functions of `Conv2D` and `Dense`.

use serde::{Deserialize, Serialize};

/// A layer's activation, as Keras's `activation=` argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// None (identity); Keras's `None` / `"linear"`.
    #[default]
    #[serde(alias = "none")]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// Row-wise softmax; only on the last layer, where training fuses it into the loss.
    Softmax,
    /// Logistic sigmoid; only on the last layer, where training fuses it into the loss.
    Sigmoid,
}

impl Activation {
    /// True for the output activations that training fuses into the loss.
    pub fn is_output_only(self) -> bool {
        matches!(self, Activation::Softmax | Activation::Sigmoid)
    }
}
