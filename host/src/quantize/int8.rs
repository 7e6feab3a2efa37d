//! The int8 blob: per-output-channel symmetric weights, int32 biases, per-tensor activation
//! parameters from calibration, and the requantization multipliers — all computed with
//! `shared::quant`, the arithmetic the device runs.

use shared::blob::{LayerKind, PixelScaling, WeightFormat};
use shared::layout::{hwio_to_ohwi, io_to_oi};
use shared::quant::{
    choose_quant_params, quantize_bias, quantize_multiplier, quantize_symmetric, real_multiplier,
    symmetric_scale, QuantParams,
};

use crate::quantize::calibrate::{Calibration, Range};
use crate::quantize::convert::{FloatLayer, FloatNetwork};
use crate::quantize::encode::{encode, OwnedLayer, OwnedQuant};
use crate::quantize::QuantizeError;

/// The real input range of a network fed 8-bit pixels through `pixels`: `[0, 1]` for
/// `pixel / 255`, the image of `[0, 255]` under a folded `Rescaling`.
pub fn input_range(pixels: PixelScaling) -> Range {
    let (a, b) = (pixels.real(0), pixels.real(255));
    Range {
        min: a.min(b),
        max: a.max(b),
    }
}

/// Quantization of one layer of an int8 blob.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerQuantization {
    /// Quantization of the layer's input activation.
    pub input: QuantParams,
    /// Quantization of the layer's output activation (a pooling or flatten layer keeps its
    /// input's, as the int8 kernels require).
    pub output: QuantParams,
    /// Per-output-channel weight scales (empty for weightless layers).
    pub weight_scales: Vec<f32>,
    /// Per-output-channel Q31 multipliers of `input_scale * weight_scale / output_scale`.
    pub multipliers: Vec<i32>,
    /// Per-output-channel shifts (positive: left).
    pub shifts: Vec<i32>,
}

/// Quantization of a whole int8 network.
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Quantization {
    /// Quantization of the network input (of the real input the network's pixel scaling gives).
    pub input: QuantParams,
    /// One entry per layer.
    pub layers: Vec<LayerQuantization>,
}

fn params(layer: usize, r: Range) -> Result<QuantParams, QuantizeError> {
    choose_quant_params(r.min, r.max).map_err(|_| QuantizeError::NonFiniteRange {
        layer,
        min: r.min,
        max: r.max,
    })
}

/// Per-output-channel max |w| of a kernel whose output channel is the fastest axis (Keras
/// HWIO and `[in][out]` both are).
fn channel_max_abs(kernel: &[f32], out: usize) -> Vec<f32> {
    let mut m = vec![0f32; out];
    for (i, &w) in kernel.iter().enumerate() {
        let c = i % out;
        m[c] = m[c].max(w.abs());
    }
    m
}

struct Quantized {
    record: OwnedLayer,
    quant: LayerQuantization,
}

fn weighted(
    layer: &FloatLayer,
    input: QuantParams,
    output: QuantParams,
) -> Result<Quantized, QuantizeError> {
    let out = layer.out_channels();
    let scales: Vec<f32> = channel_max_abs(&layer.kernel, out)
        .into_iter()
        .map(symmetric_scale)
        .collect();
    let q_keras: Vec<i8> = layer
        .kernel
        .iter()
        .enumerate()
        .map(|(i, &w)| quantize_symmetric(w, scales[i % out]))
        .collect();
    let mut q = vec![0i8; q_keras.len()];
    match layer.desc.kind {
        LayerKind::Conv2d { kernel, .. } => {
            let k = kernel as usize;
            hwio_to_ohwi(&q_keras, k, k, layer.desc.input.c as usize, out, &mut q)?
        }
        _ => io_to_oi(&q_keras, layer.desc.input.len(), out, &mut q)?,
    }
    let bias: Vec<i32> = layer
        .bias
        .iter()
        .zip(&scales)
        .map(|(&b, &s)| quantize_bias(b, input.scale, s))
        .collect();
    let (multipliers, shifts): (Vec<i32>, Vec<i32>) = scales
        .iter()
        .map(|&s| quantize_multiplier(real_multiplier(input.scale, s, output.scale)))
        .unzip();
    let record = OwnedLayer {
        desc: layer.desc,
        weights: q.iter().map(|&v| v as u8).collect(),
        bias: bias.iter().flat_map(|v| v.to_le_bytes()).collect(),
        quant: Some(OwnedQuant {
            output,
            weight_scales: scales.iter().flat_map(|v| v.to_le_bytes()).collect(),
            multipliers: multipliers.iter().flat_map(|v| v.to_le_bytes()).collect(),
            shifts: shifts.iter().map(|&s| s as i8 as u8).collect(),
        }),
    };
    Ok(Quantized {
        record,
        quant: LayerQuantization {
            input,
            output,
            weight_scales: scales,
            multipliers,
            shifts,
        },
    })
}

/// Quantizes `net` with the activation ranges of `calibration` and encodes the int8 blob.
///
/// Weights: symmetric per output channel (`max|w| / 127`). Activations: per tensor, from the
/// calibrated range of each conv/dense output ([`choose_quant_params`]); pooling and flatten
/// keep their input's parameters; the network input's range is [`input_range`].
pub fn int8_blob(
    net: &FloatNetwork,
    calibration: &Calibration,
) -> Result<(Vec<u8>, Int8Quantization), QuantizeError> {
    if calibration.ranges.len() != net.layers.len() {
        return Err(QuantizeError::Architecture {
            reason: format!(
                "calibration measured {} layers, the model has {}",
                calibration.ranges.len(),
                net.layers.len()
            ),
        });
    }
    let input_quant = params(0, input_range(net.pixels))?;
    let mut current = input_quant;
    let mut records = Vec::with_capacity(net.layers.len());
    let mut quant = Vec::with_capacity(net.layers.len());
    for (i, (layer, &range)) in net.layers.iter().zip(&calibration.ranges).enumerate() {
        let q = if layer.kernel.is_empty() {
            Quantized {
                record: OwnedLayer {
                    desc: layer.desc,
                    weights: Vec::new(),
                    bias: Vec::new(),
                    quant: Some(OwnedQuant {
                        output: current,
                        weight_scales: Vec::new(),
                        multipliers: Vec::new(),
                        shifts: Vec::new(),
                    }),
                },
                quant: LayerQuantization {
                    input: current,
                    output: current,
                    weight_scales: Vec::new(),
                    multipliers: Vec::new(),
                    shifts: Vec::new(),
                },
            }
        } else {
            weighted(layer, current, params(i, range)?)?
        };
        current = q.quant.output;
        records.push(q.record);
        quant.push(q.quant);
    }
    let blob = encode(
        WeightFormat::Int8,
        net.input,
        net.pixels,
        Some(input_quant),
        &records,
    )?;
    Ok((
        blob,
        Int8Quantization {
            input: input_quant,
            layers: quant,
        },
    ))
}
