//! Owned layer records and their encoding into a `shared` blob (postcard, checksummed).

use shared::blob::{
    encode_into, encoded_len, BlobSpec, LayerDesc, LayerQuant, LayerRecord, PixelScaling, Shape,
    WeightFormat,
};
use shared::quant::QuantParams;

use crate::quantize::QuantizeError;

/// Quantization arrays of one int8 layer, as the blob stores them (little-endian bytes).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OwnedQuant {
    pub output: QuantParams,
    pub weight_scales: Vec<u8>,
    pub multipliers: Vec<u8>,
    pub shifts: Vec<u8>,
}

/// One layer record with owned byte arrays.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OwnedLayer {
    pub desc: LayerDesc,
    pub weights: Vec<u8>,
    pub bias: Vec<u8>,
    pub quant: Option<OwnedQuant>,
}

/// Encodes the layers into a blob of `format`.
pub(crate) fn encode(
    format: WeightFormat,
    input: Shape,
    pixels: PixelScaling,
    input_quant: Option<QuantParams>,
    layers: &[OwnedLayer],
) -> Result<Vec<u8>, QuantizeError> {
    let records: Vec<LayerRecord<'_>> = layers
        .iter()
        .map(|l| LayerRecord {
            desc: l.desc,
            weights: &l.weights,
            bias: &l.bias,
            quant: l.quant.as_ref().map(|q| LayerQuant {
                output: q.output,
                weight_scales: &q.weight_scales,
                multipliers: &q.multipliers,
                shifts: &q.shifts,
            }),
        })
        .collect();
    let spec = BlobSpec {
        format,
        input,
        input_quant,
        pixels,
        layers: &records,
    };
    let mut out = vec![0u8; encoded_len(&spec)?];
    let n = encode_into(&spec, &mut out)?;
    out.truncate(n);
    Ok(out)
}
