//! VGG16's convolutional base, like
//! `keras.applications.vgg16.VGG16(weights=..., include_top=False, input_shape=(h, w, 3))`:
//! five blocks of 'same' 3×3 ReLU convolutions (2, 2, 3, 3, 3 of them; 64, 128, 256, 512,
//! 512 filters), each closed by a 2×2 max pool, with Keras's layer names `block1_conv1` …
//! `block5_conv3`, `block1_pool` … `block5_pool`. At 180×180 the output is (5, 5, 512) and
//! the base has 14,714,688 parameters.
//!
//! [`conv_base`] puts Keras's `preprocess_input` (caffe mode: RGB → BGR, minus the ImageNet
//! means) in front as a [`Preprocess`] layer, so the model takes RGB pixels in 0..255 and a
//! saved model preprocesses its inputs itself. [`load_imagenet_weights`] fills the 13
//! convolutions from a safetensors file with Keras's names and layouts
//! (`block1_conv1.kernel` HWIO, `block1_conv1.bias`), such as
//! `<data dir>/pretrained/vgg16-imagenet-notop.safetensors`.

use std::path::{Path, PathBuf};

use crate::layers::Activation::Relu;
use crate::layers::{Conv2D, Layer, LayerKind, MaxPooling2D, Padding, Preprocess, Shape};
use crate::model::Model;
use crate::sequential::Sequential;
use crate::weights::{load_by_name, WeightsError, WeightsFile};

/// Convolutions per block.
pub const CONVS_PER_BLOCK: [usize; 5] = [2, 2, 3, 3, 3];

/// VGG16's filters per block.
pub const WIDTHS: [usize; 5] = [64, 128, 256, 512, 512];

/// Parameters of the base (Keras's `conv_base.count_params()`).
pub const PARAMS: usize = 14_714_688;

/// The smallest input side: five 2×2 poolings need 32 pixels.
pub const MIN_SIDE: usize = 32;

/// Where the ImageNet weights live in a data directory.
pub fn weights_path(data_dir: &Path) -> PathBuf {
    data_dir
        .join("pretrained")
        .join("vgg16-imagenet-notop.safetensors")
}

/// Name of the `i`-th convolution (0-based) of block `b` (0-based): `block1_conv1`.
pub fn conv_name(block: usize, conv: usize) -> String {
    format!("block{}_conv{}", block + 1, conv + 1)
}

/// Names of the base's convolutions, first to last (13 for VGG16).
pub fn conv_names() -> Vec<String> {
    CONVS_PER_BLOCK
        .iter()
        .enumerate()
        .flat_map(|(b, &n)| (0..n).map(move |c| conv_name(b, c)))
        .collect()
}

/// Appends the base's 18 layers (13 convolutions, 5 poolings) to `s`, with `widths` filters
/// per block (VGG16's [`WIDTHS`]; smaller for tests).
pub fn add_base_layers(mut s: Sequential, widths: [usize; 5]) -> Sequential {
    for (b, (&convs, &filters)) in CONVS_PER_BLOCK.iter().zip(&widths).enumerate() {
        for c in 0..convs {
            s = s.add_named(
                conv_name(b, c),
                Conv2D::new(filters, 3)
                    .padding(Padding::Same)
                    .activation(Relu),
            );
        }
        s = s.add_named(format!("block{}_pool", b + 1), MaxPooling2D::new(2));
    }
    s
}

/// `preprocess_input` followed by the base, for `height`×`width` RGB inputs in 0..255.
pub fn conv_base(height: usize, width: usize, widths: [usize; 5]) -> Sequential {
    let s = Sequential::new(Shape::image(height, width, 3)).add(Preprocess::caffe());
    add_base_layers(s, widths)
}

/// True for the layers that belong to a VGG base (its preprocessing, convolutions and
/// poolings), by Keras's names.
pub fn is_base_layer(layer: &Layer) -> bool {
    matches!(layer.kind, LayerKind::Preprocess(_))
        || (layer.name.starts_with("block")
            && (layer.name.contains("_conv") || layer.name.ends_with("_pool")))
}

/// Loads the base's convolutions of `model` (built by [`conv_base`], possibly with more layers
/// after it) from the weights file at `path`, by name. Returns the values loaded.
pub fn load_imagenet_weights(model: &mut Model, path: &Path) -> Result<usize, WeightsError> {
    let file = WeightsFile::open(path)?;
    load_base_weights(model, &file)
}

/// [`load_imagenet_weights`] from an opened file.
pub fn load_base_weights(model: &mut Model, file: &WeightsFile) -> Result<usize, WeightsError> {
    let names = conv_names();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    load_by_name(model, file, &refs)
}

/// Freezes (`trainable = false`) every base layer of `model` except the convolutions of the
/// last `unfrozen_convs` (Keras's fine-tuning: `for layer in conv_base.layers[:-4]:
/// layer.trainable = False` leaves `block5_conv1..3` and `block5_pool` trainable, i.e. 3).
/// Layers after the base keep their setting.
pub fn freeze_base(model: &mut Model, unfrozen_convs: usize) {
    let names = conv_names();
    let keep = &names[names.len() - unfrozen_convs.min(names.len())..];
    let base: Vec<(String, bool)> = model
        .layers()
        .iter()
        .filter(|l| is_base_layer(l))
        .map(|l| (l.name.clone(), keep.contains(&l.name)))
        .collect();
    for (name, trainable) in base {
        model
            .set_trainable(&name, trainable)
            .expect("the layer was just listed");
    }
}
