//! The model blob: a versioned, checksummed postcard encoding of an architecture, its weights
//! and (int8) quantization parameters.
//!
//! Byte layout:
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 4 | [`MAGIC`] `b"TCNV"` |
//! | 4 | 2 | [`FORMAT_VERSION`], u16 LE |
//! | 6 | 4 | payload length `n`, u32 LE |
//! | 10 | 4 | CRC-32/ISO-HDLC (zlib's) of the payload, u32 LE |
//! | 14 | n | payload: postcard [`BlobHeader`], then `layer_count` postcard [`LayerRecord`]s (read by `wire`, without serde) |
//!
//! # What each layer record holds
//!
//! Every record carries its [`LayerDesc`] (kind, input and output shapes). Weightless layers
//! (pooling, flatten, relu) have empty `weights` and `bias`.
//!
//! * [`WeightFormat::F32`] / [`WeightFormat::F16`]: `weights` is the Keras kernel (conv HWIO
//!   `[kh][kw][in][out]`, dense `[in][out]`) and `bias` the Keras bias, as little-endian f32 or
//!   binary16; `quant` is `None` and so is the header's `input_quant`.
//! * [`WeightFormat::Int8`]: `weights` is the int8 kernel, symmetric per output channel (codes
//!   in `-127..=127`), reordered to conv OHWI `[out][kh][kw][in]` with
//!   [`crate::layout::hwio_to_ohwi`] or dense `[out][in]` with [`crate::layout::io_to_oi`];
//!   `bias` is i32 LE, quantized with scale `input_scale * weight_scale[c]`
//!   ([`crate::quant::quantize_bias`]); `quant` is `Some` for every layer: the output
//!   activation's scale and zero point ([`crate::quant::choose_quant_params`] of the calibrated
//!   range), and for weighted layers the per-channel `weight_scales` (f32 LE),
//!   `multipliers` (i32 LE) and `shifts` (one i8 each) from
//!   [`crate::quant::quantize_multiplier`]`(`[`crate::quant::real_multiplier`]`(in, w[c], out))`.
//!   Pooling and flatten layers repeat their input's quantization. The header's `input_quant`
//!   is the input activation's, of the real input the header's [`PixelScaling`] gives (`pixel /
//!   255`, i.e. `choose_quant_params(0.0, 1.0)`, unless a Keras `Rescaling` was folded in).
//!   A final layer with [`Activation::Softmax`] or [`Activation::Sigmoid`] produces int8 logits.
//!
//! Version 2 added the header's `pixels` field; version-1 blobs still decode (as
//! [`PixelScaling::Unit`]).
//!
//! Decoding ([`Blob::decode`]) borrows every weight array from the input bytes (on the device
//! they stay in flash); encoding ([`encode_into`]) writes into a caller buffer sized with
//! [`encoded_len`]. Neither allocates.

mod decode;
mod encode;
mod error;
mod format;
mod wire;

pub(crate) mod check;

pub use crate::quant::PixelScaling;
pub use decode::{Blob, LayerIter};
pub use encode::{encode_into, encoded_len, BlobSpec};
pub use error::BlobError;
pub use format::{
    Activation, BlobHeader, LayerDesc, LayerKind, LayerQuant, LayerRecord, Shape, WeightFormat,
    FORMAT_VERSION, FORMAT_VERSION_1, HEADER_LEN, MAGIC, MAX_LAYERS,
};

/// The CRC used for the payload checksum (CRC-32/ISO-HDLC, as zlib and PNG).
///
/// On 32-bit ARM (the device) it is computed bit by bit: the table would take 1 KiB of flash,
/// and the device checks the blob only once, at boot (the bitwise loop's time there is not
/// measured); elsewhere with the table.
#[cfg(target_arch = "arm")]
pub const CRC: crc::Crc<u32, crc::NoTable> = crc::Crc::<u32, crc::NoTable>::new(&CRC_ALGORITHM);
/// The CRC used for the payload checksum (CRC-32/ISO-HDLC, as zlib and PNG).
#[cfg(not(target_arch = "arm"))]
pub const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&CRC_ALGORITHM);

/// CRC-32/ISO-HDLC.
const CRC_ALGORITHM: crc::Algorithm<u32> = crc::CRC_32_ISO_HDLC;
