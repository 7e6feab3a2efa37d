//! Post-training quantization and export: a trained MNIST model (the [`crate::save`] format)
//! becomes the `shared` blob the firmware runs — int8 (TFLite scheme), f32 or f16.
//!
//! Steps (all reusable without the command line):
//!
//! 1. [`convert::from_model`] maps the host layers to blob layer descriptions with Keras-layout
//!    float weights (Dropout dropped, a first `Rescaling` folded into the input), naming any
//!    layer the device cannot run.
//! 2. [`float::f32_blob`] / [`float::f16_blob`] encode the float blobs.
//! 3. [`calibrate::calibrate`] runs the host's float network on calibration images (8-bit
//!    pixels, as a board receives them) and records every device layer's output range
//!    (min/max or a percentile).
//! 4. [`int8::int8_blob`] quantizes weights symmetrically per output channel, biases to int32,
//!    activations per tensor, and computes the requantization multipliers — all with
//!    [`shared::quant`] — then encodes the int8 blob.
//! 5. [`report::Report`] describes the result; [`evaluate`] measures accuracy and agreement on
//!    the test set; [`manifest`] writes blob and provenance files atomically.
//!
//! [`export`] does 1–5 for a list of formats:
//!
//! ```no_run
//! use host::quantize::{self, ExportFormat, RangeMethod};
//! let model = quantize::load_model(std::path::Path::new("runs/mnist"))?;
//! let data = host::mnist::load(std::path::Path::new("data"))?;
//! let calibration = quantize::calibrate::sample(&data.train.images, 784, 1000);
//! let exports = quantize::export(&model, &[ExportFormat::Int8], &calibration, RangeMethod::MinMax)?;
//! print!("{}", exports[0].report);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod calibrate;
pub mod command;
pub mod convert;
pub mod data;
mod encode;
mod error;
pub mod evaluate;
pub mod float;
pub mod int8;
pub mod manifest;
pub mod report;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use calibrate::{Calibration, Range, RangeMethod};
pub use error::QuantizeError;
pub use float::{f16_blob, f32_blob};
pub use int8::{int8_blob, Int8Quantization, LayerQuantization};
pub use report::Report;

use crate::model::Model;

/// A blob format the quantizer writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// int8 weights and activations (TFLite scheme): what the firmware runs.
    Int8,
    /// f32 weights, f32 activations.
    F32,
    /// f16 weights (rounded to nearest), f32 activations.
    F16,
}

impl ExportFormat {
    /// Every format, int8 first.
    pub const ALL: [ExportFormat; 3] = [ExportFormat::Int8, ExportFormat::F32, ExportFormat::F16];

    /// Short name: `int8`, `f32`, `f16`.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Int8 => "int8",
            ExportFormat::F32 => "f32",
            ExportFormat::F16 => "f16",
        }
    }

    /// The default blob file name, `mnist_<format>.blob` (the firmware embeds
    /// `firmware/model/mnist_int8.blob`).
    pub fn file_name(self) -> String {
        format!("mnist_{}.blob", self.name())
    }
}

impl std::fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One exported blob with its report.
#[derive(Clone, Debug)]
pub struct Export {
    /// Its format.
    pub format: ExportFormat,
    /// The encoded blob (decodes with [`shared::blob::Blob::decode`]).
    pub blob: Vec<u8>,
    /// Per-layer report and device totals.
    pub report: Report,
    /// int8: the quantization parameters.
    pub quantization: Option<Int8Quantization>,
    /// int8: the calibration ranges.
    pub calibration: Option<Calibration>,
}

/// Binds `blob` as `shared` will, so every layer description, weight length and quantization
/// range is checked once more: by the int8 interpreter (and the MNIST fast path when the
/// network is MNIST's) or the float interpreter.
fn check_binds(format: ExportFormat, blob: &[u8], mnist: bool) -> Result<(), QuantizeError> {
    use shared::float::interpreter::{InterpreterF16, InterpreterF32};
    use shared::int8::interpreter::Interpreter;
    use shared::mnist::{MnistF16, MnistF32, MnistInt8};
    match format {
        ExportFormat::Int8 => Interpreter::from_blob(blob).map(drop).and_then(|()| {
            if mnist {
                MnistInt8::from_blob(blob).map(drop)
            } else {
                Ok(())
            }
        }),
        // The MNIST float networks are the float interpreter plus the architecture check.
        ExportFormat::F32 if mnist => MnistF32::from_blob(blob).map(drop),
        ExportFormat::F16 if mnist => MnistF16::from_blob(blob).map(drop),
        ExportFormat::F32 => InterpreterF32::from_blob(blob).map(drop),
        ExportFormat::F16 => InterpreterF16::from_blob(blob).map(drop),
    }
    .map_err(QuantizeError::Blob)
}

/// Loads a saved float model ([`crate::save::load`]).
pub fn load_model(dir: &Path) -> Result<Model, QuantizeError> {
    crate::save::load(dir).map_err(QuantizeError::Load)
}

/// Exports `model` (its input the pixel / 255, or its own first `Rescaling`; see
/// [`export_network`] for another input scale) in every format of `formats`, calibrating int8
/// on `calibration_pixels` (`n * h * w * c` training-image pixels, see [`calibrate::sample`];
/// unused for float formats).
pub fn export(
    model: &Model,
    formats: &[ExportFormat],
    calibration_pixels: &[u8],
    method: RangeMethod,
) -> Result<Vec<Export>, QuantizeError> {
    let net = convert::from_model(model, None)?;
    export_network(model, &net, formats, calibration_pixels, method)
}

/// [`export`] of `net`, the device form of `model` from [`convert::from_model`].
///
/// Fails with a typed error for a layer the device cannot run (named), non-finite weights or
/// ranges, or (int8) an empty calibration set.
pub fn export_network(
    model: &Model,
    net: &convert::FloatNetwork,
    formats: &[ExportFormat],
    calibration_pixels: &[u8],
    method: RangeMethod,
) -> Result<Vec<Export>, QuantizeError> {
    let mnist = convert::is_mnist(net);
    let mut out = Vec::with_capacity(formats.len());
    for &format in formats {
        let (blob, quantization, calibration) = match format {
            ExportFormat::F32 => (float::f32_blob(net)?, None, None),
            ExportFormat::F16 => (float::f16_blob(net)?, None, None),
            ExportFormat::Int8 => {
                let cal = calibrate::calibrate(model, net, calibration_pixels, method)?;
                let (blob, q) = int8::int8_blob(net, &cal)?;
                (blob, Some(q), Some(cal))
            }
        };
        check_binds(format, &blob, mnist)?;
        let report = Report::new(
            net,
            format,
            &blob,
            quantization.as_ref(),
            calibration.as_ref(),
        )?;
        out.push(Export {
            format,
            blob,
            report,
            quantization,
            calibration,
        });
    }
    Ok(out)
}
