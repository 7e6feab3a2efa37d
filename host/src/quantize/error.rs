//! Why a model could not be quantized, exported or evaluated.

use std::path::PathBuf;

use shared::blob::BlobError;
use shared::layout::LayoutError;

use crate::mnist::MnistError;
use crate::save::SaveError;

/// An error of the quantizer. Every variant says which file, layer or input is at fault.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The saved float model could not be loaded (the error names the file).
    #[error(transparent)]
    Load(SaveError),
    /// A layer has no counterpart in the blob format or the device kernels.
    #[error("layer {layer} ({class}): {reason}")]
    Unsupported {
        /// Layer name in the float model.
        layer: String,
        /// Keras class name.
        class: &'static str,
        /// Why it cannot be exported.
        reason: String,
    },
    /// The model is valid, but the device cannot run it.
    #[error("the model cannot run on the device: {reason}")]
    Architecture {
        /// What differs, layer by layer.
        reason: String,
    },
    /// A weight is NaN or infinite.
    #[error("layer {layer}: {tensor} holds a non-finite value at index {index}")]
    NonFiniteWeight {
        /// Layer name.
        layer: String,
        /// `kernel` or `bias`.
        tensor: &'static str,
        /// Flat index of the first bad value.
        index: usize,
    },
    /// The MNIST data could not be loaded (the error names the file).
    #[error(transparent)]
    Data(#[from] MnistError),
    /// Calibration or test images could not be loaded or do not fit the model.
    #[error("{}: {reason}", path.display())]
    Input {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An interpreter refused an input (internal: inputs are sized from the blob).
    #[error("inference: {0}")]
    Run(#[from] shared::int8::interpreter::RunError),
    /// No calibration images were given.
    #[error("the calibration set is empty: int8 export needs at least one image to measure activation ranges")]
    EmptyCalibration,
    /// The calibration or evaluation pixels are not whole 28×28 images.
    #[error("{what}: {len} pixels is not a whole number of {per}-pixel images")]
    ImageBytes {
        /// Which input (`calibration images`, `test images`).
        what: &'static str,
        /// Pixels given.
        len: usize,
        /// Pixels per image.
        per: usize,
    },
    /// Images and labels differ in count.
    #[error("{images} images but {labels} labels")]
    LabelCount {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// An activation range measured during calibration is not finite (the float model
    /// produces NaN or infinity on the calibration images).
    #[error("calibration: layer {layer} output range [{min}, {max}] is not finite")]
    NonFiniteRange {
        /// Layer index in the device network.
        layer: usize,
        /// Smallest value seen.
        min: f32,
        /// Largest value seen.
        max: f32,
    },
    /// A percentile outside `(50, 100]` was requested.
    #[error("percentile {0} is outside (50, 100]")]
    Percentile(f64),
    /// Encoding or binding a blob failed in `shared`.
    #[error("blob: {0}")]
    Blob(#[from] BlobError),
    /// A blob file could not be decoded.
    #[error("{}: {source}", path.display())]
    BlobFile {
        /// The blob file.
        path: PathBuf,
        /// What `shared` found wrong.
        source: BlobError,
    },
    /// A weight layout conversion failed (internal size mismatch).
    #[error("layout: {0}")]
    Layout(#[from] LayoutError),
    /// Reading or writing a file failed.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
