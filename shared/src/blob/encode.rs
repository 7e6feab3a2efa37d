//! No-alloc blob encoding.

use postcard::ser_flavors::Size;

use crate::blob::error::BlobError;
use crate::blob::format::{
    BlobHeader, LayerRecord, Shape, WeightFormat, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_LAYERS,
};
use crate::blob::CRC;
use crate::quant::PixelScaling;
use crate::quant::QuantParams;

/// What to encode: the header fields and the layer records (whose slices the host owns).
#[derive(Clone, Copy, Debug)]
pub struct BlobSpec<'s, 'a> {
    /// How the weights are stored.
    pub format: WeightFormat,
    /// Network input shape.
    pub input: Shape,
    /// Input quantization (`Some` exactly for [`WeightFormat::Int8`]).
    pub input_quant: Option<QuantParams>,
    /// How a pixel becomes the real input.
    pub pixels: PixelScaling,
    /// The layers, in order.
    pub layers: &'s [LayerRecord<'a>],
}

impl BlobSpec<'_, '_> {
    fn header(&self) -> Result<BlobHeader, BlobError> {
        if self.layers.len() > MAX_LAYERS {
            return Err(BlobError::TooManyLayers {
                found: u32::try_from(self.layers.len()).unwrap_or(u32::MAX),
                max: MAX_LAYERS,
            });
        }
        let int8 = self.format == WeightFormat::Int8;
        if self.input_quant.is_some() != int8 {
            return Err(BlobError::Quant {
                layer: None,
                what: "input quantization must be present exactly in int8 blobs",
            });
        }
        if let Some(layer) = self.layers.iter().position(|l| l.quant.is_some() != int8) {
            return Err(BlobError::Quant {
                layer: Some(layer),
                what: "layer quantization must be present exactly in int8 blobs",
            });
        }
        Ok(BlobHeader {
            format: self.format,
            input: self.input,
            input_quant: self.input_quant,
            layer_count: self.layers.len() as u32,
            pixels: self.pixels,
        })
    }
}

fn size_of<T: serde::Serialize>(value: &T) -> Result<usize, BlobError> {
    postcard::serialize_with_flavor::<T, Size, usize>(value, Size::default())
        .map_err(BlobError::Postcard)
}

/// Total encoded size of `spec` in bytes (fixed header included).
pub fn encoded_len(spec: &BlobSpec<'_, '_>) -> Result<usize, BlobError> {
    let mut n = HEADER_LEN + size_of(&spec.header()?)?;
    for layer in spec.layers {
        n += size_of(layer)?;
    }
    Ok(n)
}

/// Encodes `spec` into `out` and returns the number of bytes written (`encoded_len(spec)`).
///
/// Checks that quantization parameters are present exactly in int8 blobs; the blob is not
/// checked against any compiled network here (the network views do that when they load it).
pub fn encode_into(spec: &BlobSpec<'_, '_>, out: &mut [u8]) -> Result<usize, BlobError> {
    let needed = encoded_len(spec)?;
    if out.len() < needed {
        return Err(BlobError::BufferTooSmall {
            needed,
            available: out.len(),
        });
    }
    let payload_len = u32::try_from(needed - HEADER_LEN).map_err(|_| BlobError::TooLarge)?;
    let mut pos = HEADER_LEN;
    let used = postcard::to_slice(&spec.header()?, &mut out[pos..needed])
        .map_err(BlobError::Postcard)?
        .len();
    pos += used;
    for layer in spec.layers {
        let used = postcard::to_slice(layer, &mut out[pos..needed])
            .map_err(BlobError::Postcard)?
            .len();
        pos += used;
    }
    let crc = CRC.checksum(&out[HEADER_LEN..needed]);
    out[0..4].copy_from_slice(&MAGIC);
    out[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[6..10].copy_from_slice(&payload_len.to_le_bytes());
    out[10..14].copy_from_slice(&crc.to_le_bytes());
    Ok(needed)
}
