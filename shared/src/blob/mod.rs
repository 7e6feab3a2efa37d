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
//! | 14 | n | payload: postcard [`BlobHeader`], then `layer_count` postcard [`LayerRecord`]s |
//!
//! Decoding ([`Blob::decode`]) borrows every weight array from the input bytes (on the device
//! they stay in flash); encoding ([`encode_into`]) writes into a caller buffer sized with
//! [`encoded_len`]. Neither allocates.

mod decode;
mod encode;
mod error;
mod format;

pub use decode::{Blob, LayerIter};
pub use encode::{encode_into, encoded_len, BlobSpec};
pub use error::BlobError;
pub use format::{
    Activation, BlobHeader, LayerDesc, LayerKind, LayerQuant, LayerRecord, Shape, WeightFormat,
    FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_LAYERS,
};

/// The CRC used for the payload checksum (CRC-32/ISO-HDLC, as zlib and PNG).
pub const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
