//! Checking a decoded blob against the compiled MNIST architecture.

use crate::blob::{Blob, BlobError, LayerRecord, PixelScaling, WeightFormat};
use crate::mnist::arch::{MNIST_ARCH, MNIST_INPUT};

/// The blob's seven layer records, after checking format, input shape, layer count and every
/// layer description against [`MNIST_ARCH`].
pub(crate) fn mnist_records<'a>(
    blob: &Blob<'a>,
    format: WeightFormat,
) -> Result<[LayerRecord<'a>; 7], BlobError> {
    if blob.format() != format {
        return Err(BlobError::WrongFormat {
            expected: format,
            found: blob.format(),
        });
    }
    if blob.header().input != MNIST_INPUT {
        return Err(BlobError::InputShape {
            expected: MNIST_INPUT,
            found: blob.header().input,
        });
    }
    if blob.header().pixels != PixelScaling::Unit {
        return Err(BlobError::Quant {
            layer: None,
            what: "the MNIST networks take pixel / 255, not a folded Rescaling",
        });
    }
    if blob.layer_count() != MNIST_ARCH.len() {
        return Err(BlobError::LayerCount {
            expected: MNIST_ARCH.len(),
            found: blob.layer_count(),
        });
    }
    let mut layers = blob.layers();
    let mut next = |layer: usize| -> Result<LayerRecord<'a>, BlobError> {
        let record = layers.next().ok_or(BlobError::LayerCount {
            expected: MNIST_ARCH.len(),
            found: layer,
        })?;
        if record.desc != MNIST_ARCH[layer] {
            return Err(BlobError::Architecture {
                layer,
                expected: MNIST_ARCH[layer],
                found: record.desc,
            });
        }
        Ok(record)
    };
    Ok([
        next(0)?,
        next(1)?,
        next(2)?,
        next(3)?,
        next(4)?,
        next(5)?,
        next(6)?,
    ])
}
