//! Checks every network view of a blob shares: an activation's quantization and a weightless
//! layer's empty arrays.

use crate::blob::{BlobError, LayerQuant, LayerRecord};
use crate::quant::{QuantParams, QMAX, QMIN};

/// `q` when its scale is positive and finite and its zero point an int8; `layer` names the
/// layer in the error (`None`: the input).
pub(crate) fn activation(layer: Option<usize>, q: QuantParams) -> Result<QuantParams, BlobError> {
    if !(q.scale.is_finite() && q.scale > 0.0) {
        return Err(BlobError::Quant {
            layer,
            what: "activation scale must be positive and finite",
        });
    }
    if !(QMIN..=QMAX).contains(&q.zero_point) {
        return Err(BlobError::Quant {
            layer,
            what: "activation zero point outside -128..=127",
        });
    }
    Ok(q)
}

/// A layer without weights (pooling, flatten, relu) must carry no weight data.
pub(crate) fn weightless(layer: usize, record: &LayerRecord<'_>) -> Result<(), BlobError> {
    let quant_arrays_empty = record.quant.is_none_or(|q| {
        q.weight_scales.is_empty() && q.multipliers.is_empty() && q.shifts.is_empty()
    });
    if record.weights.is_empty() && record.bias.is_empty() && quant_arrays_empty {
        Ok(())
    } else {
        Err(BlobError::Quant {
            layer: Some(layer),
            what: "a layer without weights carries weight data",
        })
    }
}

/// The quantization of an int8 layer, present and with a valid output activation.
pub(crate) fn layer_quant<'a>(
    layer: usize,
    record: &LayerRecord<'a>,
) -> Result<LayerQuant<'a>, BlobError> {
    let q = record.quant.ok_or(BlobError::Quant {
        layer: Some(layer),
        what: "missing quantization parameters",
    })?;
    activation(Some(layer), q.output)?;
    Ok(q)
}

/// A weightless int8 layer (pooling, flatten, relu) whose output keeps its input's
/// quantization, as TFLite requires; returns that quantization.
pub(crate) fn passthrough(
    layer: usize,
    record: &LayerRecord<'_>,
    input: QuantParams,
) -> Result<QuantParams, BlobError> {
    weightless(layer, record)?;
    let out = layer_quant(layer, record)?.output;
    if out.zero_point != input.zero_point || out.scale.to_bits() != input.scale.to_bits() {
        return Err(BlobError::Quant {
            layer: Some(layer),
            what: "pooling/flatten/relu output quantization must equal its input's",
        });
    }
    Ok(out)
}
