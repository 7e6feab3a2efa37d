//! Activation shapes between layers (the batch dimension is left out, as Keras's `None`).

use serde::{Deserialize, Serialize};

/// Shape of one example's activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// An NHWC image: height, width, channels.
    Image {
        /// Height.
        h: usize,
        /// Width.
        w: usize,
        /// Channels.
        c: usize,
    },
    /// A flat feature vector.
    Flat(usize),
}

impl Shape {
    /// An image shape.
    pub fn image(h: usize, w: usize, c: usize) -> Self {
        Shape::Image { h, w, c }
    }

    /// Values per example.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Image { h, w, c } => h * w * c,
            Shape::Flat(n) => n,
        }
    }

    /// True when an example has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dimensions without the batch axis.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Image { h, w, c } => vec![h, w, c],
            Shape::Flat(n) => vec![n],
        }
    }
}

impl std::fmt::Display for Shape {
    /// Keras's notation, with the batch axis as `None`: `(None, 26, 26, 32)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Shape::Image { h, w, c } => write!(f, "(None, {h}, {w}, {c})"),
            Shape::Flat(n) => write!(f, "(None, {n})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_notation() {
        assert_eq!(Shape::image(26, 26, 32).to_string(), "(None, 26, 26, 32)");
        assert_eq!(Shape::Flat(1152).to_string(), "(None, 1152)");
        assert_eq!(Shape::image(3, 3, 128).len(), 1152);
    }
}
