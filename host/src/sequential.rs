//! The `Sequential` builder: a Keras-style stack of layers with automatic names.

use crate::layers::{Layer, LayerKind, Shape};
use crate::model::{Model, ModelError};

/// Builds a [`Model`] layer by layer, like `keras.Sequential`:
///
/// ```
/// use host::layers::{Activation::*, Conv2D, Dense, Flatten, MaxPooling2D, Shape};
/// use host::sequential::Sequential;
/// let model = Sequential::new(Shape::image(28, 28, 1))
///     .add(Conv2D::new(32, 3).activation(Relu))
///     .add(MaxPooling2D::new(2))
///     .add(Flatten)
///     .add(Dense::new(10).activation(Softmax))
///     .build(42)
///     .unwrap();
/// assert_eq!(model.layers()[0].name, "conv2d");
/// ```
#[derive(Clone, Debug)]
pub struct Sequential {
    input: Shape,
    layers: Vec<Layer>,
}

impl Sequential {
    /// An empty stack taking inputs of shape `input` (Keras's `Input(shape=...)`).
    pub fn new(input: Shape) -> Self {
        Self {
            input,
            layers: Vec::new(),
        }
    }

    /// Appends a layer named automatically (`conv2d`, `conv2d_1`, ...).
    #[allow(clippy::should_implement_trait)] // Keras's `model.add`, not `+`.
    pub fn add(self, kind: impl Into<LayerKind>) -> Self {
        let kind = kind.into();
        let base = kind.base_name();
        let n = self
            .layers
            .iter()
            .filter(|l| l.kind.base_name() == base)
            .count();
        let name = if n == 0 {
            base.to_string()
        } else {
            format!("{base}_{n}")
        };
        self.add_named(name, kind)
    }

    /// Appends a layer with an explicit name.
    pub fn add_named(mut self, name: impl Into<String>, kind: impl Into<LayerKind>) -> Self {
        self.layers.push(Layer {
            name: name.into(),
            trainable: true,
            kind: kind.into(),
        });
        self
    }

    /// Sets `trainable` on the most recently added layer (`false` freezes it).
    pub fn trainable(mut self, trainable: bool) -> Self {
        if let Some(l) = self.layers.last_mut() {
            l.trainable = trainable;
        }
        self
    }

    /// The layers added so far.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Infers shapes and initialises the weights from `seed`.
    pub fn build(self, seed: u64) -> Result<Model, ModelError> {
        Model::initialized(self.input, self.layers, seed)
    }
}
