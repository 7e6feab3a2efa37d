//! Activation shapes between layers (the batch dimension is left out, as Keras's `None`).

use serde::{Deserialize, Serialize};

/// The most values that one example's activations, or one parameter tensor, may hold
/// (2³² − 1: 16 GiB of `f32`). Architectures come from users' files, so every size derived
/// from one is checked against this with checked arithmetic when a model is built, which
/// keeps the sizes that follow (a batch of examples, a layer's geometry) far from overflow.
pub const MAX_VALUES: usize = u32::MAX as usize;

/// The longest kernel, pooling window or stride along one axis.
pub const MAX_WINDOW: usize = 1 << 16;

/// The product of `dims` when every factor and the product are at most [`MAX_VALUES`]
/// (never overflows).
pub fn checked_volume(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d)
            .filter(|&v| d <= MAX_VALUES && v <= MAX_VALUES)
    })
}

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

    /// Values per example, when every dimension and their product are at most
    /// [`MAX_VALUES`].
    pub fn checked_len(&self) -> Option<usize> {
        checked_volume(&self.dims())
    }

    /// Values per example (of a shape that [`Shape::checked_len`] accepts, as every shape of
    /// a built model does).
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

    #[test]
    fn checked_len_refuses_overflow_and_oversized_dimensions() {
        assert_eq!(Shape::image(180, 180, 3).checked_len(), Some(97_200));
        assert_eq!(Shape::image(1 << 32, 1 << 32, 2).checked_len(), None);
        assert_eq!(Shape::image(usize::MAX, usize::MAX, 2).checked_len(), None);
        // A zero does not hide a huge dimension.
        assert_eq!(Shape::image(0, usize::MAX, 1).checked_len(), None);
        assert_eq!(Shape::Flat(MAX_VALUES).checked_len(), Some(MAX_VALUES));
        assert_eq!(Shape::Flat(MAX_VALUES + 1).checked_len(), None);
        assert_eq!(checked_volume(&[1 << 16, 1 << 16, 2]), None);
    }
}
