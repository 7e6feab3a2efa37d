//! The serialized types of a model blob (postcard, via serde).

use serde::{Deserialize, Serialize};

use crate::padding::Padding;
use crate::quant::{PixelScaling, QuantParams};

/// First four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"TCNV";
/// The blob format version this crate writes. It also reads version 1 ([`FORMAT_VERSION_1`]),
/// whose header has no [`BlobHeader::pixels`] field (its input is always [`PixelScaling::Unit`]).
pub const FORMAT_VERSION: u16 = 2;
/// The first blob format version, still read.
pub const FORMAT_VERSION_1: u16 = 1;
/// Length of the fixed blob header: magic (4), version (u16 LE), payload length (u32 LE),
/// CRC-32/ISO-HDLC of the payload (u32 LE).
pub const HEADER_LEN: usize = 14;
/// Most layers a blob may describe.
pub const MAX_LAYERS: usize = 32;

/// How a blob stores its weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WeightFormat {
    /// Little-endian f32, Keras layouts (conv HWIO `[kh][kw][in][out]`, dense `[in][out]`).
    F32,
    /// Little-endian IEEE binary16, same layouts as [`WeightFormat::F32`].
    F16,
    /// int8 per-channel symmetric weights, int32 biases, requantization parameters; conv kernels
    /// OHWI `[out][kh][kw][in]`, dense kernels `[out][in]` (see [`crate::layout`]).
    Int8,
}

impl WeightFormat {
    /// Bytes per stored weight value (4, 2 or 1; int8 biases are 4-byte i32).
    pub const fn value_size(self) -> usize {
        match self {
            WeightFormat::F32 => 4,
            WeightFormat::F16 => 2,
            WeightFormat::Int8 => 1,
        }
    }
}

/// Activation fused into a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// Softmax over the channels (only at the network's end; int8 blobs keep int8 logits and
    /// apply it in float outside the layers).
    Softmax,
    /// The logistic sigmoid (only at the network's end, as [`Activation::Softmax`]: int8 blobs
    /// keep the int8 logit; a one-unit output means class 1 when the logit is positive).
    Sigmoid,
}

impl Activation {
    /// Whether the activation is only allowed on the last layer and left to the caller in int8
    /// blobs (softmax, sigmoid).
    pub const fn is_output_only(self) -> bool {
        matches!(self, Activation::Softmax | Activation::Sigmoid)
    }
}

/// Height, width and channels of an HWC tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Rows.
    pub h: u32,
    /// Columns.
    pub w: u32,
    /// Channels.
    pub c: u32,
}

impl Shape {
    /// Builds a shape.
    pub const fn new(h: u32, w: u32, c: u32) -> Self {
        Self { h, w, c }
    }

    /// Number of elements.
    pub const fn len(&self) -> usize {
        self.h as usize * self.w as usize * self.c as usize
    }

    /// Whether the shape holds no element.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The kind of a layer and its hyper-parameters (Keras names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayerKind {
    /// `Conv2D(filters, kernel_size=(kernel, kernel), strides=stride, padding, activation)`.
    Conv2d {
        /// Square kernel size.
        kernel: u32,
        /// Stride (both axes).
        stride: u32,
        /// Padding mode.
        padding: Padding,
        /// Output channels.
        filters: u32,
        /// Fused activation.
        activation: Activation,
    },
    /// `MaxPooling2D(pool_size, strides, padding)`.
    MaxPool2d {
        /// Square window size.
        pool: u32,
        /// Stride (both axes).
        stride: u32,
        /// Padding mode.
        padding: Padding,
    },
    /// `AveragePooling2D(pool_size, strides, padding)`; with same padding it divides by the
    /// number of in-bounds elements, as TensorFlow.
    AvgPool2d {
        /// Square window size.
        pool: u32,
        /// Stride (both axes).
        stride: u32,
        /// Padding mode.
        padding: Padding,
    },
    /// `Flatten()` (channels-last order, a no-op on the data).
    Flatten,
    /// `Dense(units, activation)`.
    Dense {
        /// Output units.
        units: u32,
        /// Fused activation.
        activation: Activation,
    },
    /// A standalone `ReLU()`.
    Relu,
}

/// A layer as the architecture describes it: kind plus input and output shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerDesc {
    /// Kind and hyper-parameters.
    pub kind: LayerKind,
    /// Input shape (HWC; a flat vector of `n` is `1 × 1 × n`).
    pub input: Shape,
    /// Output shape.
    pub output: Shape,
}

/// Quantization parameters of one layer of an int8 blob.
///
/// Per-channel arrays are borrowed bytes (the device keeps them in flash). Layers without
/// weights (pooling, flatten) have empty arrays, and their `output` equals their input's
/// parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerQuant<'a> {
    /// Scale and zero point of the layer's output activation.
    pub output: QuantParams,
    /// Per-output-channel weight scales, f32 little-endian (documentation and dequantization;
    /// the device uses `multipliers`/`shifts`).
    pub weight_scales: &'a [u8],
    /// Per-output-channel Q31 multipliers from [`crate::quant::quantize_multiplier`] of
    /// `input_scale * weight_scale[c] / output_scale`, i32 little-endian.
    pub multipliers: &'a [u8],
    /// Per-output-channel shifts (the second result of `quantize_multiplier`), one i8 each, in
    /// `-31..=30`.
    pub shifts: &'a [u8],
}

/// One layer of a blob: its description, its weights and (int8 blobs) its quantization.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord<'a> {
    /// Kind and shapes.
    pub desc: LayerDesc,
    /// Kernel weights in the layout of the blob's [`WeightFormat`]; empty for weightless layers.
    pub weights: &'a [u8],
    /// Biases: f32/f16 little-endian for float blobs, i32 little-endian for int8 blobs.
    pub bias: &'a [u8],
    /// Quantization parameters; `Some` exactly in int8 blobs.
    pub quant: Option<LayerQuant<'a>>,
}

/// The first postcard item of a blob payload.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlobHeader {
    /// How the weights are stored.
    pub format: WeightFormat,
    /// Network input shape.
    pub input: Shape,
    /// Input activation quantization (int8 blobs; of the real input, see `pixels`).
    pub input_quant: Option<QuantParams>,
    /// Number of [`LayerRecord`]s that follow.
    pub layer_count: u32,
    /// How a pixel becomes the real input (absent from version-1 blobs: [`PixelScaling::Unit`]).
    pub pixels: PixelScaling,
}
