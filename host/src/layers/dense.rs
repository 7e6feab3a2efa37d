//! `Dense`: fully connected layer with an `[in, out]` kernel.

use kernels::DenseGeom;
use serde::{Deserialize, Serialize};

use super::{checked_volume, Activation, ParamSpec, Shape, MAX_VALUES};

/// Keras `Dense(units, activation=None)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dense {
    /// Output features.
    pub units: usize,
    /// Activation.
    #[serde(default)]
    pub activation: Activation,
    /// Whether the layer has a bias.
    #[serde(default = "yes")]
    pub use_bias: bool,
}

fn yes() -> bool {
    true
}

impl Dense {
    /// `units` outputs, no activation, with bias.
    pub fn new(units: usize) -> Self {
        Self {
            units,
            activation: Activation::Linear,
            use_bias: true,
        }
    }

    /// Sets the activation.
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    /// Turns the bias on or off.
    pub fn use_bias(mut self, b: bool) -> Self {
        self.use_bias = b;
        self
    }

    /// Geometry for a batch of `batch` inputs.
    pub fn geom(&self, input: Shape, batch: usize) -> DenseGeom {
        DenseGeom {
            batch,
            inputs: input.len(),
            outputs: self.units,
        }
    }

    /// Output shape, or why the input does not fit.
    pub fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        match input {
            Shape::Flat(n) if self.units > 0 => match checked_volume(&[n, self.units]) {
                Some(_) => Ok(Shape::Flat(self.units)),
                None => Err(format!(
                    "a kernel of shape [{n}, {}] has more than {MAX_VALUES} values",
                    self.units
                )),
            },
            Shape::Flat(_) => Err("units must be positive".into()),
            Shape::Image { .. } => Err(format!(
                "Dense needs a flat input, got {input}; add a Flatten layer before it"
            )),
        }
    }

    /// Kernel `[in, units]` and bias `[units]`.
    pub fn params(&self, input: Shape) -> Vec<ParamSpec> {
        let n = input.len();
        let mut v = vec![ParamSpec::kernel(vec![n, self.units], n, self.units)];
        if self.use_bias {
            v.push(ParamSpec::bias(self.units));
        }
        v
    }
}
