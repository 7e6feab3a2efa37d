//! The book's cats-vs-dogs convnet (chapter 8), trained from scratch.
//!
//! ```python
//! inputs = keras.Input(shape=(180, 180, 3))
//! x = data_augmentation(inputs)            # augmented variant only (applied by the trainer)
//! x = layers.Rescaling(1./255)(x)
//! x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(x)
//! x = layers.MaxPooling2D(pool_size=2)(x)
//! ...                                      # 64, 128, 256 filters, each followed by pooling
//! x = layers.Conv2D(filters=256, kernel_size=3, activation="relu")(x)
//! x = layers.Flatten()(x)
//! x = layers.Dropout(0.5)(x)               # augmented variant only
//! outputs = layers.Dense(1, activation="sigmoid")(x)
//! ```
//!
//! The augmentation layers are not part of the model here: they are a training-time input
//! transform ([`super::augment`]), so a saved model is the same network Keras would export for
//! inference (where the augmentation layers are identities).

use crate::layers::Activation::{Relu, Sigmoid};
use crate::layers::{Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Rescaling, Shape};
use crate::sequential::Sequential;

/// The smallest square input the five-convolution stack accepts (the last convolution needs a
/// 3×3 input).
pub const MIN_IMAGE_SIDE: usize = 78;

/// The cats-vs-dogs convnet for `height`×`width` RGB inputs in 0..255, with
/// `Dropout(rate)` before the classifier when `dropout` is given (the book uses 0.5 with
/// augmentation). 991,041 parameters at 180×180.
pub fn cats_vs_dogs(height: usize, width: usize, dropout: Option<f32>) -> Sequential {
    let mut s =
        Sequential::new(Shape::image(height, width, 3)).add(Rescaling::new(1.0 / 255.0, 0.0));
    for (i, filters) in [32, 64, 128, 256, 256].into_iter().enumerate() {
        if i > 0 {
            s = s.add(MaxPooling2D::new(2));
        }
        s = s.add(Conv2D::new(filters, 3).activation(Relu));
    }
    s = s.add(Flatten);
    if let Some(rate) = dropout {
        s = s.add(Dropout::new(rate));
    }
    s.add(Dense::new(1).activation(Sigmoid))
}
