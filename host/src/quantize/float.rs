//! f32 and f16 blobs: the float weights in Keras layout, little-endian.

use half::f16;
use shared::blob::WeightFormat;

use crate::quantize::convert::FloatNetwork;
use crate::quantize::encode::{encode, OwnedLayer};
use crate::quantize::QuantizeError;

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Rounds to the nearest binary16 (ties to even, as `half` and IEEE 754 do).
fn f16_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| f16::from_f32(v).to_le_bytes())
        .collect()
}

fn float_blob(
    net: &FloatNetwork,
    format: WeightFormat,
    bytes: fn(&[f32]) -> Vec<u8>,
) -> Result<Vec<u8>, QuantizeError> {
    let layers: Vec<OwnedLayer> = net
        .layers
        .iter()
        .map(|l| OwnedLayer {
            desc: l.desc,
            weights: bytes(&l.kernel),
            bias: bytes(&l.bias),
            quant: None,
        })
        .collect();
    encode(format, net.input, net.pixels, None, &layers)
}

/// Encodes `net` as an f32 blob ([`WeightFormat::F32`], weights bit-identical to the model's).
pub fn f32_blob(net: &FloatNetwork) -> Result<Vec<u8>, QuantizeError> {
    float_blob(net, WeightFormat::F32, f32_bytes)
}

/// Encodes `net` as an f16 blob ([`WeightFormat::F16`], every weight and bias rounded to the
/// nearest binary16; the device computes in f32).
pub fn f16_blob(net: &FloatNetwork) -> Result<Vec<u8>, QuantizeError> {
    float_blob(net, WeightFormat::F16, f16_bytes)
}
