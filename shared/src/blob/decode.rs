//! Zero-copy blob decoding.

use crate::blob::error::BlobError;
use crate::blob::format::{
    BlobHeader, LayerRecord, WeightFormat, FORMAT_VERSION, FORMAT_VERSION_1, HEADER_LEN, MAGIC,
    MAX_LAYERS,
};
use crate::blob::wire::Reader;
use crate::blob::CRC;
use crate::quant::PixelScaling;

/// A decoded, checksum-verified blob. The layer records borrow from the input bytes.
#[derive(Clone, Copy, Debug)]
pub struct Blob<'a> {
    header: BlobHeader,
    /// The postcard-encoded layer records (already validated once by [`Blob::decode`]).
    records: &'a [u8],
}

impl<'a> Blob<'a> {
    /// Checks magic, version, length and checksum, then decodes and validates the header and
    /// every layer record. Any byte sequence gives either a blob or a typed error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, BlobError> {
        let Some(fixed) = bytes.get(..HEADER_LEN) else {
            return Err(BlobError::Truncated {
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        };
        let magic = [fixed[0], fixed[1], fixed[2], fixed[3]];
        if magic != MAGIC {
            return Err(BlobError::BadMagic { found: magic });
        }
        let version = u16::from_le_bytes([fixed[4], fixed[5]]);
        if version != FORMAT_VERSION && version != FORMAT_VERSION_1 {
            return Err(BlobError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let len = u32::from_le_bytes([fixed[6], fixed[7], fixed[8], fixed[9]]) as usize;
        let expected_crc = u32::from_le_bytes([fixed[10], fixed[11], fixed[12], fixed[13]]);
        let rest = &bytes[HEADER_LEN..];
        let payload = rest.get(..len).ok_or(BlobError::Truncated {
            needed: HEADER_LEN.saturating_add(len),
            available: bytes.len(),
        })?;
        if rest.len() > len {
            return Err(BlobError::TrailingBytes {
                extra: rest.len() - len,
            });
        }
        let computed = CRC.checksum(payload);
        if computed != expected_crc {
            return Err(BlobError::Checksum {
                expected: expected_crc,
                computed,
            });
        }
        let mut reader = Reader::new(payload);
        let header = reader.header(version != FORMAT_VERSION_1)?;
        let records = reader.rest();
        if let PixelScaling::Rescale { scale, offset } = header.pixels {
            if !(scale.is_finite() && offset.is_finite()) || scale == 0.0 {
                return Err(BlobError::Quant {
                    layer: None,
                    what: "pixel rescaling must be finite with a non-zero scale",
                });
            }
        }
        if header.layer_count as usize > MAX_LAYERS {
            return Err(BlobError::TooManyLayers {
                found: header.layer_count,
                max: MAX_LAYERS,
            });
        }
        for layer in 0..header.layer_count as usize {
            let record = reader.record()?;
            let is_int8 = header.format == WeightFormat::Int8;
            if record.quant.is_some() != is_int8 {
                return Err(BlobError::Quant {
                    layer: Some(layer),
                    what: if is_int8 {
                        "int8 blob layer without quantization parameters"
                    } else {
                        "float blob layer with quantization parameters"
                    },
                });
            }
        }
        let tail = reader.rest();
        if !tail.is_empty() {
            return Err(BlobError::TrailingBytes { extra: tail.len() });
        }
        if header.input_quant.is_some() != (header.format == WeightFormat::Int8) {
            return Err(BlobError::Quant {
                layer: None,
                what: "input quantization must be present exactly in int8 blobs",
            });
        }
        Ok(Self { header, records })
    }

    /// The blob header (format, input shape and quantization, layer count).
    pub fn header(&self) -> &BlobHeader {
        &self.header
    }

    /// The weight format.
    pub fn format(&self) -> WeightFormat {
        self.header.format
    }

    /// Number of layers.
    pub fn layer_count(&self) -> usize {
        self.header.layer_count as usize
    }

    /// The layer records, in order, borrowing from the blob bytes.
    pub fn layers(&self) -> LayerIter<'a> {
        LayerIter {
            rest: self.records,
            remaining: self.header.layer_count as usize,
        }
    }
}

/// Iterator over a decoded blob's layer records.
#[derive(Clone, Debug)]
pub struct LayerIter<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for LayerIter<'a> {
    type Item = LayerRecord<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        // Validated by `Blob::decode`; an error here only ends the iteration.
        let mut reader = Reader::new(self.rest);
        let record = reader.record().ok()?;
        self.rest = reader.rest();
        self.remaining -= 1;
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}
