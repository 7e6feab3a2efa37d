//! The book's models, built with [`Sequential`].

use crate::layers::Activation::{Relu, Softmax};
use crate::layers::{Conv2D, Dense, Flatten, MaxPooling2D, Shape};
use crate::sequential::Sequential;

/// The MNIST convnet of chapter 8 (104,202 parameters): three 3×3 ReLU convolutions (32, 64,
/// 128 filters) with 2×2 max pooling after the first two, then `Dense(10, softmax)`.
/// Inputs are 28×28×1 pixels already scaled to `[0, 1]`.
pub fn mnist_convnet() -> Sequential {
    Sequential::new(Shape::image(28, 28, 1))
        .add(Conv2D::new(32, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(128, 3).activation(Relu))
        .add(Flatten)
        .add(Dense::new(10).activation(Softmax))
}

/// The cats-vs-dogs convnet of chapter 8 trained from scratch (991,041 parameters at
/// 180×180×3): `Rescaling(1/255)`, five 3×3 ReLU convolutions (32, 64, 128, 256, 256
/// filters) with 2×2 max pooling between them, then `Dense(1, sigmoid)`; the square,
/// dropout-free case of [`crate::vision::cats_vs_dogs`].
pub fn cats_vs_dogs_convnet(side: usize) -> Sequential {
    crate::vision::model::cats_vs_dogs(side, side, None)
}
