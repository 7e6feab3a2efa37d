//! `host quantize` (alias `export`): the command-line front end of [`crate::quantize`].

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::atomic::write_atomic;
use crate::model::Model;
use crate::quantize::convert::{from_model, is_mnist, FloatNetwork};
use crate::quantize::data::{DataArgs, PixelData, PixelSet};
use crate::quantize::evaluate::{agreement, int8_outputs, predict_blob, predict_float};
use crate::quantize::manifest::{blob_path_named, write, Accuracy, Manifest};
use crate::quantize::{
    calibrate, export_network, load_model, Export, ExportFormat, QuantizeError, RangeMethod,
};

/// Which blobs to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum FormatChoice {
    /// int8 (what the firmware runs).
    #[default]
    Int8,
    /// f32 weights.
    F32,
    /// f16 weights.
    F16,
    /// All three.
    All,
}

impl FormatChoice {
    /// The formats this choice writes.
    pub fn formats(self) -> Vec<ExportFormat> {
        match self {
            FormatChoice::Int8 => vec![ExportFormat::Int8],
            FormatChoice::F32 => vec![ExportFormat::F32],
            FormatChoice::F16 => vec![ExportFormat::F16],
            FormatChoice::All => ExportFormat::ALL.to_vec(),
        }
    }
}

/// Options of `quantize`.
#[derive(Debug, Args)]
pub struct QuantizeArgs {
    /// Directory of the trained float model (model.json + model.safetensors, as `train` and
    /// `fit` write it).
    #[arg(long, default_value = "runs/mnist")]
    pub model: PathBuf,
    /// Output blob file, or directory for `<mnist|model>_<format>.blob` (default: the model
    /// directory). A `<blob>.json` with provenance and accuracy is written beside each blob.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Blob format(s).
    #[arg(long, value_enum, default_value_t = FormatChoice::Int8)]
    pub format: FormatChoice,
    /// Training images used to calibrate the int8 activation ranges (spread evenly over
    /// the training set).
    #[arg(long, default_value_t = 1000)]
    pub calibration: usize,
    /// Clip each activation range to this percentile of its tails (e.g. 99.99) instead of
    /// the calibration min/max.
    #[arg(long)]
    pub percentile: Option<f64>,
    /// What the model's input was the 8-bit pixel multiplied by in training, as `host fit`
    /// feeds it by default: 1 with --images (an image folder's raw 0..255 values) or when the
    /// model starts with Rescaling, else `1/255` (IDX data).
    #[arg(long)]
    pub input_scale: Option<f32>,
    /// Calibration and test images.
    #[command(flatten)]
    pub data: DataArgs,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Skip the test-set evaluation.
    #[arg(long)]
    pub no_evaluate: bool,
    /// Also write `<blob>_predictions.csv` beside the int8 blob: per test image its label, the
    /// int8 class and the int8 scores (for side-by-side comparisons with other tools).
    #[arg(long)]
    pub predictions: bool,
}

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

/// One written blob.
#[derive(Clone, Debug)]
pub struct Written {
    /// The export (blob, report, quantization).
    pub export: Export,
    /// Where the blob was written (its manifest is beside it).
    pub path: PathBuf,
    /// Test-set accuracy, unless evaluation was skipped.
    pub accuracy: Option<Accuracy>,
}

/// What `quantize` did: the model, its device form, the data, and the blobs written.
#[derive(Debug)]
pub struct Quantized {
    /// The float model.
    pub model: Model,
    /// Its device form.
    pub net: FloatNetwork,
    /// The calibration and test images (the test set cut to `--test-limit`).
    pub data: PixelData,
    /// The host's float predictions on the test images (unless evaluation was skipped).
    pub float_predictions: Option<Vec<u32>>,
    /// The blobs, in format order.
    pub written: Vec<Written>,
}

/// Runs `host quantize`.
pub fn run(args: &QuantizeArgs) -> Result<(), QuantizeError> {
    quantize(args).map(drop)
}

/// Loads, calibrates, quantizes, evaluates and writes (printing each report): `host
/// quantize`'s work, reused by `host deploy`.
pub fn quantize(args: &QuantizeArgs) -> Result<Quantized, QuantizeError> {
    let model = load_model(&args.model)?;
    // As `host fit` feeds them: an image folder's raw 0..255 values, IDX data / 255 unless
    // the model starts with Rescaling (from_model's default).
    let input_scale = args
        .input_scale
        .or_else(|| args.data.images.is_some().then_some(1.0));
    let net = from_model(&model, input_scale)?;
    let mut data = args.data.load(net.input)?;
    let per = net.input.len();
    let formats = args.format.formats();
    let method = args
        .percentile
        .map_or(RangeMethod::MinMax, RangeMethod::Percentile);
    let calibration = calibrate::sample(&data.train.pixels, per, args.calibration);
    let exports = export_network(&model, &net, &formats, &calibration, method)?;

    data.test = data
        .test
        .first(args.test_limit.unwrap_or(data.test.len()), per);
    let float_pred = if args.no_evaluate {
        None
    } else {
        Some(predict_float(&model, &data.test.pixels, net.host_scale)?)
    };
    let output = args.output.clone().unwrap_or_else(|| args.model.clone());
    let stem = if is_mnist(&net) { "mnist" } else { "model" };
    let mut written = Vec::with_capacity(exports.len());
    for e in exports {
        println!("{}", e.report);
        let accuracy = match &float_pred {
            None => None,
            Some(fp) => Some(evaluate(&e, &data.test, fp)?),
        };
        let path = blob_path_named(&output, e.format, formats.len(), stem);
        let name = file_name(&path);
        let manifest = Manifest::new(
            &e,
            &name,
            &args.model.display().to_string(),
            accuracy.clone(),
        );
        write(&path, &e.blob, &manifest)?;
        println!("wrote {} ({} bytes)", path.display(), e.blob.len());
        if args.predictions && e.format == ExportFormat::Int8 {
            let csv = predictions_csv(&e.blob, &data.test)?;
            let csv_path = PathBuf::from(format!(
                "{}_predictions.csv",
                path.with_extension("").display()
            ));
            write_atomic(&csv_path, csv.as_bytes()).map_err(|source| QuantizeError::Io {
                path: csv_path.clone(),
                source,
            })?;
            println!("wrote {}", csv_path.display());
        }
        println!();
        written.push(Written {
            export: e,
            path,
            accuracy,
        });
    }
    Ok(Quantized {
        model,
        net,
        data,
        float_predictions: float_pred,
        written,
    })
}

/// Test accuracy of one export (printed).
fn evaluate(e: &Export, test: &PixelSet, float_pred: &[u32]) -> Result<Accuracy, QuantizeError> {
    let pred = predict_blob(&e.blob, &test.pixels)?;
    let n = test.len();
    let correct = pred
        .iter()
        .zip(&test.labels)
        .filter(|(p, l)| p == l)
        .count();
    let a = Accuracy {
        images: n,
        correct,
        blob: correct as f64 / n.max(1) as f64,
        float_model: agreement(float_pred, &test.labels)?,
        agreement_with_float: agreement(&pred, float_pred)?,
    };
    println!(
        "test accuracy on {} images: float model {}, {} blob {} ({} correct), top-1 agreement {}",
        a.images,
        pct(a.float_model),
        e.format,
        pct(a.blob),
        a.correct,
        pct(a.agreement_with_float)
    );
    Ok(a)
}

/// `index,label,class,score0,...` for every test image, through the int8 interpreter.
fn predictions_csv(blob: &[u8], test: &PixelSet) -> Result<String, QuantizeError> {
    let net = shared::int8::interpreter::Interpreter::from_blob(blob)?;
    let outputs = int8_outputs(&net, &test.pixels)?;
    let mut csv = String::from("index,label,class");
    for i in 0..net.output_len() {
        csv.push_str(&format!(",score{i}"));
    }
    csv.push('\n');
    for (i, (out, label)) in outputs.iter().zip(&test.labels).enumerate() {
        csv.push_str(&format!("{i},{label},{}", net.class_of(out)));
        for s in out {
            csv.push_str(&format!(",{s}"));
        }
        csv.push('\n');
    }
    Ok(csv)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
