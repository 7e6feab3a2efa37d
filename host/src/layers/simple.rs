//! The parameter-free reshaping and scaling layers: `Flatten`, `Rescaling`, `Dropout`.

use serde::{Deserialize, Serialize};

use super::Shape;

/// Keras `Flatten()`: an image becomes a flat vector (NHWC order, so no data moves).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flatten;

impl Flatten {
    /// The output shape (always valid).
    pub fn output_shape(&self, input: Shape) -> Shape {
        Shape::Flat(input.len())
    }
}

/// Keras `Rescaling(scale, offset=0.0)`: `x * scale + offset`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rescaling {
    /// Multiplier.
    pub scale: f32,
    /// Added after scaling.
    #[serde(default)]
    pub offset: f32,
}

impl Rescaling {
    /// `x * scale + offset`.
    pub fn new(scale: f32, offset: f32) -> Self {
        Self { scale, offset }
    }
}

/// Keras `Dropout(rate)`: in training, zeroes each value with probability `rate` and scales
/// the rest by `1 / (1 - rate)`; identity at inference.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    /// Fraction of values dropped, in `[0, 1)`.
    pub rate: f32,
}

impl Dropout {
    /// Drops a fraction `rate` of the values.
    pub fn new(rate: f32) -> Self {
        Self { rate }
    }

    /// Checks the rate.
    pub fn validate(&self) -> Result<(), String> {
        if (0.0..1.0).contains(&self.rate) {
            Ok(())
        } else {
            Err(format!("dropout rate {} is not in [0, 1)", self.rate))
        }
    }
}
