//! Typed errors of blob encoding, decoding and architecture checks.

use crate::blob::{LayerDesc, Shape, WeightFormat};
use crate::int8::QuantLayerError;

/// Why a blob could not be encoded, decoded or bound to a compiled network.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BlobError {
    /// Fewer bytes than the fixed header or the declared payload.
    #[error("blob truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes the header says the blob has.
        needed: usize,
        /// Bytes supplied.
        available: usize,
    },
    /// The blob does not start with the magic bytes.
    #[error("not a tinyconv blob (bad magic {found:?})")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// The blob has another format version.
    #[error(
        "blob format version {found} is not supported (this build reads versions 1 to {supported})"
    )]
    UnsupportedVersion {
        /// Version in the blob.
        found: u16,
        /// Version this crate reads.
        supported: u16,
    },
    /// The payload checksum does not match.
    #[error("blob checksum mismatch: header says {expected:#010x}, payload has {computed:#010x}")]
    Checksum {
        /// CRC in the header.
        expected: u32,
        /// CRC of the payload.
        computed: u32,
    },
    /// Bytes after the payload.
    #[error("{extra} unexpected bytes after the blob payload")]
    TrailingBytes {
        /// Number of extra bytes.
        extra: usize,
    },
    /// The payload is not a valid encoding of the blob types (see `blob::wire`).
    #[error("blob payload malformed at payload byte {offset}: {what}")]
    Malformed {
        /// Offset of the bad value from the start of the payload.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// Postcard could not serialize a blob item (encoding only).
    #[error("blob encoding failed: {0}")]
    Postcard(postcard::Error),
    /// More layers than [`crate::blob::MAX_LAYERS`].
    #[error("blob declares {found} layers, at most {max} are supported")]
    TooManyLayers {
        /// Declared layer count.
        found: u32,
        /// Maximum.
        max: usize,
    },
    /// The blob stores another weight format than the network view expects.
    #[error("blob stores {found:?} weights, this network needs {expected:?}")]
    WrongFormat {
        /// Format the network needs.
        expected: WeightFormat,
        /// Format in the blob.
        found: WeightFormat,
    },
    /// The network input shape differs from the compiled network's.
    #[error("blob input shape {found:?} differs from the network's {expected:?}")]
    InputShape {
        /// Compiled input shape.
        expected: Shape,
        /// Blob input shape.
        found: Shape,
    },
    /// The number of layers differs from the compiled network's.
    #[error("blob has {found} layers, the network has {expected}")]
    LayerCount {
        /// Compiled layer count.
        expected: usize,
        /// Blob layer count.
        found: usize,
    },
    /// A layer's description differs from the compiled network's.
    #[error("layer {layer}: blob describes {found:?}, the network has {expected:?}")]
    Architecture {
        /// Layer index.
        layer: usize,
        /// Compiled description.
        expected: LayerDesc,
        /// Blob description.
        found: LayerDesc,
    },
    /// A layer's weights have the wrong size, or its quantization parameters are invalid.
    #[error("layer {layer}: {source}")]
    Layer {
        /// Layer index.
        layer: usize,
        /// What is wrong.
        source: QuantLayerError,
    },
    /// A weight array's byte length is not a whole number of values.
    #[error(
        "layer {layer}: {tensor} has {bytes} bytes, not a whole number of {value_size}-byte values"
    )]
    ByteLength {
        /// Layer index.
        layer: usize,
        /// Which array.
        tensor: &'static str,
        /// Its length in bytes.
        bytes: usize,
        /// Bytes per value.
        value_size: usize,
    },
    /// Quantization parameters are missing where required or present where not allowed, or an
    /// activation scale is not positive and finite.
    #[error("{}: {what}", Where(*layer))]
    Quant {
        /// Layer index (`None`: the network input).
        layer: Option<usize>,
        /// What is wrong.
        what: &'static str,
    },
    /// The output buffer is too small for the encoded blob.
    #[error("output buffer of {available} bytes is too small, the blob needs {needed}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The payload would exceed 4 GiB (the header's u32 length).
    #[error("blob payload too large")]
    TooLarge,
}

/// "layer 3" or "the network input", in messages.
struct Where(Option<usize>);

impl core::fmt::Display for Where {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(layer) => write!(f, "layer {layer}"),
            None => f.write_str("the network input"),
        }
    }
}

impl BlobError {
    /// What is wrong, in a few words without the numbers (for logs without `core::fmt`, such
    /// as a device's defmt log; the `Display` message has the details).
    pub fn summary(&self) -> &'static str {
        match self {
            BlobError::Truncated { .. } => "blob truncated",
            BlobError::BadMagic { .. } => "not a tinyconv blob (bad magic)",
            BlobError::UnsupportedVersion { .. } => "unsupported blob format version",
            BlobError::Checksum { .. } => "blob checksum mismatch",
            BlobError::TrailingBytes { .. } => "unexpected bytes after the blob payload",
            BlobError::Malformed { .. } => "blob payload malformed",
            BlobError::Postcard(_) => "blob encoding failed",
            BlobError::TooManyLayers { .. } => "too many layers",
            BlobError::WrongFormat { .. } => "wrong weight format",
            BlobError::InputShape { .. } => "input shape differs from the network's",
            BlobError::LayerCount { .. } => "layer count differs from the network's",
            BlobError::Architecture { .. } => "layer differs from the network's",
            BlobError::Layer { source, .. } => match source {
                QuantLayerError::Length(_) => "weight array of the wrong length",
                QuantLayerError::Shift { .. } => "requantization shift out of range",
                QuantLayerError::Multiplier { .. } => "negative requantization multiplier",
                QuantLayerError::ZeroPoint(_) => "zero point out of range",
            },
            BlobError::ByteLength { .. } => "weight array not a whole number of values",
            BlobError::Quant { what, .. } => what,
            BlobError::BufferTooSmall { .. } => "output buffer too small",
            BlobError::TooLarge => "blob payload too large",
        }
    }

    /// The layer at fault, if the error is about one.
    pub fn layer(&self) -> Option<usize> {
        match self {
            BlobError::Architecture { layer, .. }
            | BlobError::Layer { layer, .. }
            | BlobError::ByteLength { layer, .. } => Some(*layer),
            BlobError::Quant { layer, .. } => *layer,
            _ => None,
        }
    }
}
