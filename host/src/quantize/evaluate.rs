//! Classifying MNIST images with a blob through `shared` (int8, f32 or f16 network) or with
//! the float model on the host, and comparing the answers.

use kernels::CpuBackend;
use rayon::prelude::*;
use shared::blob::{Blob, WeightFormat};
use shared::mnist::{
    MnistF16, MnistF32, MnistInt8, MnistScratchF32, MnistScratchI8, MNIST_CLASSES, MNIST_PIXELS,
};

use crate::model::Model;
use crate::quantize::QuantizeError;

/// Images per parallel work item.
const CHUNK: usize = 32;

fn check_images(what: &'static str, pixels: &[u8]) -> Result<(), QuantizeError> {
    if pixels.len().is_multiple_of(MNIST_PIXELS) {
        Ok(())
    } else {
        Err(QuantizeError::ImageBytes {
            what,
            len: pixels.len(),
            per: MNIST_PIXELS,
        })
    }
}

fn image(chunk: &[u8]) -> &[u8; MNIST_PIXELS] {
    chunk.try_into().expect("chunks are MNIST_PIXELS long")
}

/// The digit `shared` predicts for every image (`n * 784` pixels) with the network bound to
/// `blob` (int8, f32 or f16, whichever the blob holds). Runs on all cores.
pub fn predict_blob(blob: &[u8], pixels: &[u8]) -> Result<Vec<u8>, QuantizeError> {
    check_images("test images", pixels)?;
    let decoded = Blob::decode(blob)?;
    let chunks = pixels.par_chunks(MNIST_PIXELS * CHUNK);
    let digits: Vec<Vec<u8>> = match decoded.format() {
        WeightFormat::Int8 => {
            let net = MnistInt8::from_decoded(&decoded)?;
            chunks
                .map(|c| {
                    let mut s = Box::new(MnistScratchI8::new());
                    c.chunks_exact(MNIST_PIXELS)
                        .map(|img| net.predict(image(img), &mut s).digit)
                        .collect()
                })
                .collect()
        }
        WeightFormat::F32 => {
            let net = MnistF32::from_decoded(&decoded)?;
            chunks
                .map(|c| {
                    let mut s = Box::new(MnistScratchF32::new());
                    c.chunks_exact(MNIST_PIXELS)
                        .map(|img| net.predict(image(img), &mut s).digit)
                        .collect()
                })
                .collect()
        }
        WeightFormat::F16 => {
            let net = MnistF16::from_decoded(&decoded)?;
            chunks
                .map(|c| {
                    let mut s = Box::new(MnistScratchF32::new());
                    c.chunks_exact(MNIST_PIXELS)
                        .map(|img| net.predict(image(img), &mut s).digit)
                        .collect()
                })
                .collect()
        }
    };
    Ok(digits.concat())
}

/// The digit the float `model` predicts for every image (input `pixel / 255`), on the host's
/// CPU backend: the reference the exported blobs are compared with.
pub fn predict_float(model: &Model, pixels: &[u8]) -> Result<Vec<u8>, QuantizeError> {
    check_images("test images", pixels)?;
    let x: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let probs = model.predict(&CpuBackend::new(), &x, 256);
    Ok(probs.chunks_exact(MNIST_CLASSES).map(argmax).collect())
}

/// Index of the largest value, the lowest one on ties (as `shared`'s networks pick digits).
fn argmax(values: &[f32]) -> u8 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u8
}

/// Share of `predictions` equal to `labels` (0 when empty).
pub fn accuracy(predictions: &[u8], labels: &[u8]) -> Result<f64, QuantizeError> {
    agreement(predictions, labels)
}

/// Share of positions where `a` and `b` agree (0 when empty).
pub fn agreement(a: &[u8], b: &[u8]) -> Result<f64, QuantizeError> {
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
