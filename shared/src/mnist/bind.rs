//! Checking a decoded blob against the compiled MNIST architecture.

use crate::blob::{Blob, BlobError, PixelScaling, WeightFormat};
use crate::mnist::arch::{MNIST_ARCH, MNIST_INPUT};

/// Checks a blob's format, input shape, pixel scaling, layer count and every layer
/// description against [`MNIST_ARCH`]: after it, the blob's layers are the MNIST network's
/// seven, in order.
pub(crate) fn check_mnist_arch(blob: &Blob<'_>, format: WeightFormat) -> Result<(), BlobError> {
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
    for (layer, record) in blob.layers().enumerate() {
        match MNIST_ARCH.get(layer) {
            Some(&expected) if record.desc == expected => {}
            Some(&expected) => {
                return Err(BlobError::Architecture {
                    layer,
                    expected,
                    found: record.desc,
                })
            }
            None => {
                return Err(BlobError::LayerCount {
                    expected: MNIST_ARCH.len(),
                    found: blob.layer_count(),
                })
            }
        }
    }
    Ok(())
}
