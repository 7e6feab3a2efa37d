//! Pretrained networks, as `keras.applications` provides them.
//!
//! - [`vgg16`]: the VGG16 convolutional base (ImageNet), its `preprocess_input`, and its
//!   weights loaded by name from a safetensors file.

pub mod vgg16;
