//! Layers as Keras users know them: configuration, shape inference and parameters.
//!
//! A layer here is pure configuration (serialisable as in a Keras model config); the weights
//! live in [`crate::model::Model`] and the device-side execution in [`crate::network`].

mod activation;
mod conv2d;
mod dense;
pub(crate) mod padding;
mod pooling;
mod preprocess;
mod shape;
mod simple;

pub use activation::Activation;
pub use conv2d::Conv2D;
pub use dense::Dense;
pub use kernels::Padding;
pub use pooling::{AveragePooling2D, MaxPooling2D, Pool2D};
pub use preprocess::{Preprocess, PreprocessMode, CAFFE_BGR_MEAN};
pub use shape::{checked_volume, Shape, MAX_VALUES, MAX_WINDOW};
pub use simple::{Dropout, Flatten, Rescaling};

use serde::{Deserialize, Serialize};

/// The kind and configuration of a layer, tagged with Keras's class name when serialised
/// (`{"class_name": "Conv2D", "config": {...}}`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class_name", content = "config")]
pub enum LayerKind {
    /// 2-D convolution.
    Conv2D(Conv2D),
    /// Max pooling.
    MaxPooling2D(MaxPooling2D),
    /// Average pooling.
    AveragePooling2D(AveragePooling2D),
    /// Flatten.
    Flatten(Flatten),
    /// Fully connected.
    Dense(Dense),
    /// Affine rescaling of the input.
    Rescaling(Rescaling),
    /// Dropout.
    Dropout(Dropout),
    /// A pretrained base's input normalisation (`preprocess_input`).
    Preprocess(Preprocess),
}

impl LayerKind {
    /// Keras's class name, shown in the summary (`Conv2D`).
    pub fn class_name(&self) -> &'static str {
        match self {
            LayerKind::Conv2D(_) => "Conv2D",
            LayerKind::MaxPooling2D(_) => "MaxPooling2D",
            LayerKind::AveragePooling2D(_) => "AveragePooling2D",
            LayerKind::Flatten(_) => "Flatten",
            LayerKind::Dense(_) => "Dense",
            LayerKind::Rescaling(_) => "Rescaling",
            LayerKind::Dropout(_) => "Dropout",
            LayerKind::Preprocess(_) => "Preprocess",
        }
    }

    /// Keras's automatic name prefix (`conv2d`, then `conv2d_1`, ...).
    pub fn base_name(&self) -> &'static str {
        match self {
            LayerKind::Conv2D(_) => "conv2d",
            LayerKind::MaxPooling2D(_) => "max_pooling2d",
            LayerKind::AveragePooling2D(_) => "average_pooling2d",
            LayerKind::Flatten(_) => "flatten",
            LayerKind::Dense(_) => "dense",
            LayerKind::Rescaling(_) => "rescaling",
            LayerKind::Dropout(_) => "dropout",
            LayerKind::Preprocess(_) => "preprocess_input",
        }
    }

    /// The activation, for the layers that have one.
    pub fn activation(&self) -> Option<Activation> {
        match self {
            LayerKind::Conv2D(c) => Some(c.activation),
            LayerKind::Dense(d) => Some(d.activation),
            _ => None,
        }
    }

    /// Output shape for `input`, or why the input does not fit.
    pub fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        match self {
            LayerKind::Conv2D(c) => c.output_shape(input),
            LayerKind::MaxPooling2D(p) => p.0.output_shape(input),
            LayerKind::AveragePooling2D(p) => p.0.output_shape(input),
            LayerKind::Flatten(f) => Ok(f.output_shape(input)),
            LayerKind::Dense(d) => d.output_shape(input),
            LayerKind::Rescaling(_) => Ok(input),
            LayerKind::Dropout(d) => d.validate().map(|()| input),
            LayerKind::Preprocess(p) => p.output_shape(input),
        }
    }

    /// The layer's parameters for `input` (empty for parameter-free layers).
    pub fn params(&self, input: Shape) -> Vec<ParamSpec> {
        match self {
            LayerKind::Conv2D(c) => c.params(input),
            LayerKind::Dense(d) => d.params(input),
            _ => Vec::new(),
        }
    }
}

macro_rules! into_kind {
    ($($t:ident),*) => {$(
        impl From<$t> for LayerKind {
            fn from(l: $t) -> Self {
                LayerKind::$t(l)
            }
        }
    )*};
}
into_kind!(
    Conv2D,
    MaxPooling2D,
    AveragePooling2D,
    Flatten,
    Dense,
    Rescaling,
    Dropout,
    Preprocess
);

/// A named layer in a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Unique name (Keras style: `conv2d`, `conv2d_1`, `dense`, ...); also the prefix of its
    /// weights' names on disk.
    pub name: String,
    /// Whether training updates the layer's weights (`layer.trainable` in Keras).
    #[serde(default = "yes")]
    pub trainable: bool,
    /// Kind and configuration.
    #[serde(flatten)]
    pub kind: LayerKind,
}

fn yes() -> bool {
    true
}

/// How a parameter is initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Keras's default kernel initialiser: uniform in `±sqrt(6 / (fan_in + fan_out))`.
    GlorotUniform {
        /// Inputs feeding one output (`kh * kw * in` for a convolution).
        fan_in: usize,
        /// Outputs fed by one input (`kh * kw * filters` for a convolution).
        fan_out: usize,
    },
    /// Zeros (Keras's default bias initialiser).
    Zeros,
}

/// Name, shape and initialiser of one parameter tensor of a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// `kernel` or `bias`.
    pub name: &'static str,
    /// Keras layout: HWIO for convolution kernels, `[in, out]` for dense kernels.
    pub shape: Vec<usize>,
    /// Initialiser.
    pub init: Init,
}

impl ParamSpec {
    /// A Glorot-uniform kernel.
    pub fn kernel(shape: Vec<usize>, fan_in: usize, fan_out: usize) -> Self {
        Self {
            name: "kernel",
            shape,
            init: Init::GlorotUniform { fan_in, fan_out },
        }
    }

    /// A zero bias of `n` values.
    pub fn bias(n: usize) -> Self {
        Self {
            name: "bias",
            shape: vec![n],
            init: Init::Zeros,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the tensor has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
