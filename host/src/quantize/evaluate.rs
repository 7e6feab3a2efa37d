//! Classifying 8-bit images with a blob through `shared` (the int8 or the float interpreter,
//! any architecture) or with the float model on the host, and comparing the answers.

use kernels::CpuBackend;
use rayon::prelude::*;
use shared::blob::{Blob, WeightFormat};
use shared::float::interpreter::{FloatInterpreter, InterpreterF16, InterpreterF32};
use shared::int8::interpreter::{Interpreter, RunError};
use shared::weights::FromBlobBytes;

use crate::layers::Activation;
use crate::model::Model;
use crate::quantize::QuantizeError;

/// Images per parallel work item.
const CHUNK: usize = 32;

fn check_images(what: &'static str, pixels: &[u8], per: usize) -> Result<(), QuantizeError> {
    if per > 0 && pixels.len().is_multiple_of(per) {
        Ok(())
    } else {
        Err(QuantizeError::ImageBytes {
            what,
            len: pixels.len(),
            per,
        })
    }
}

/// The class `shared` predicts for every image (`n * h * w * c` pixels) with `blob`, any
/// architecture: an int8 blob through [`Interpreter`], an f32/f16 blob through the float
/// interpreter ([`shared::float::interpreter`]); classes by their `class_of`. Runs on all
/// cores.
pub fn predict_blob(blob: &[u8], pixels: &[u8]) -> Result<Vec<u32>, QuantizeError> {
    let decoded = Blob::decode(blob)?;
    check_images("test images", pixels, decoded.header().input.len())?;
    match decoded.format() {
        WeightFormat::Int8 => {
            let net = Interpreter::from_decoded(&decoded)?;
            let outputs = int8_outputs(&net, pixels)?;
            Ok(outputs.iter().map(|o| net.class_of(o) as u32).collect())
        }
        WeightFormat::F32 => float_classes(&InterpreterF32::from_decoded(&decoded)?, pixels),
        WeightFormat::F16 => float_classes(&InterpreterF16::from_decoded(&decoded)?, pixels),
    }
}

/// The classes of a float network for every image, in chunks on all cores.
fn float_classes<'a, S: FromBlobBytes<'a> + Sync>(
    net: &FloatInterpreter<'a, S>,
    pixels: &[u8],
) -> Result<Vec<u32>, QuantizeError> {
    let per = net.input_len();
    let chunks: Vec<Vec<u32>> = pixels
        .par_chunks(per * CHUNK)
        .map(|c| {
            let mut arena = vec![0f32; net.arena_len()];
            c.chunks_exact(per)
                .map(|img| Ok(net.class_of(net.run(img, &mut arena)?) as u32))
                .collect::<Result<Vec<_>, RunError>>()
        })
        .collect::<Result<_, _>>()?;
    Ok(chunks.concat())
}

/// The int8 output (the last layer's scores) of `net` for every image: what the device
/// answers, image by image. Runs on all cores.
pub fn int8_outputs(net: &Interpreter<'_>, pixels: &[u8]) -> Result<Vec<Vec<i8>>, QuantizeError> {
    let per = net.input_len();
    check_images("test images", pixels, per)?;
    let outs: Vec<Vec<Vec<i8>>> = pixels
        .par_chunks(per * CHUNK)
        .map(|c| {
            let mut arena = vec![0i8; net.arena_len()];
            c.chunks_exact(per)
                .map(|img| Ok(net.run(img, &mut arena)?.to_vec()))
                .collect::<Result<Vec<_>, RunError>>()
        })
        .collect::<Result<_, _>>()?;
    Ok(outs.concat())
}

/// The class the float `model` predicts for every image (the model's input is the pixel times
/// `input_scale`, as in training), on the host's CPU backend: the reference the exported blobs
/// are compared with. A one-unit sigmoid output is class 1 above 0.5.
pub fn predict_float(
    model: &Model,
    pixels: &[u8],
    input_scale: f32,
) -> Result<Vec<u32>, QuantizeError> {
    let per = model.input_shape().len();
    check_images("test images", pixels, per)?;
    let x: Vec<f32> = pixels.iter().map(|&p| p as f32 * input_scale).collect();
    let probs = model.predict(&CpuBackend::new(), &x, 256);
    let classes = model.output_shape().len();
    let sigmoid = model.output_activation() == Activation::Sigmoid && classes == 1;
    Ok(probs
        .chunks_exact(classes.max(1))
        .map(|p| {
            if sigmoid {
                u32::from(p[0] > 0.5)
            } else {
                argmax(p)
            }
        })
        .collect())
}

/// Index of the largest value, the lowest one on ties (as `shared`'s networks pick classes).
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// Share of `predictions` equal to `labels` (0 when empty).
pub fn accuracy(predictions: &[u32], labels: &[u32]) -> Result<f64, QuantizeError> {
    agreement(predictions, labels)
}

/// Share of positions where `a` and `b` agree (0 when empty).
pub fn agreement(a: &[u32], b: &[u32]) -> Result<f64, QuantizeError> {
    if a.len() != b.len() {
        return Err(QuantizeError::LabelCount {
            images: a.len(),
            labels: b.len(),
        });
    }
    if a.is_empty() {
        return Ok(0.0);
    }
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    Ok(same as f64 / a.len() as f64)
}
