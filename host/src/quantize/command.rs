//! `host quantize` (alias `export`): the command-line front end of [`crate::quantize`].

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::data_dir;
use crate::mnist;
use crate::quantize::evaluate::{agreement, predict_blob, predict_float};
use crate::quantize::manifest::{blob_path, write, Accuracy, Manifest};
use crate::quantize::{calibrate, export, load_model, ExportFormat, QuantizeError, RangeMethod};

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
    /// Directory of the trained float model (model.json + model.safetensors, as `train`
    /// writes it).
    #[arg(long, default_value = "runs/mnist")]
    pub model: PathBuf,
    /// Output blob file, or directory for `mnist_<format>.blob` (default: the model
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
    /// Data directory holding `mnist/*-ubyte[.gz]`.
    #[arg(long, env = "TINYCONV_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Never download missing MNIST files.
    #[arg(long)]
    pub offline: bool,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Skip the test-set evaluation.
    #[arg(long)]
    pub no_evaluate: bool,
}

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

/// Runs `host quantize`.
pub fn run(args: &QuantizeArgs) -> Result<(), QuantizeError> {
    let model = load_model(&args.model)?;
    let dir = data_dir::resolve(args.data_dir.clone());
    if !args.offline {
        let mirrors: Vec<String> = mnist::DEFAULT_MIRRORS
            .iter()
            .map(|s| s.to_string())
            .collect();
        mnist::ensure_downloaded(&dir, &mirrors, true)?;
    }
    let data = mnist::load(&dir)?;
    let formats = args.format.formats();
    let method = args
        .percentile
        .map_or(RangeMethod::MinMax, RangeMethod::Percentile);
    let calibration = calibrate::sample(&data.train.images, args.calibration);
    let exports = export(&model, &formats, &calibration, method)?;

    let test_n = args
        .test_limit
        .unwrap_or(data.test.len())
        .min(data.test.len());
    let test_pixels = &data.test.images[..test_n * mnist::SIDE * mnist::SIDE];
    let test_labels = &data.test.labels[..test_n];
    let float_pred = if args.no_evaluate {
        None
    } else {
        Some(predict_float(&model, test_pixels)?)
    };
    let output = args.output.clone().unwrap_or_else(|| args.model.clone());
    for e in &exports {
        println!("{}", e.report);
        let accuracy = match &float_pred {
            None => None,
            Some(fp) => {
                let pred = predict_blob(&e.blob, test_pixels)?;
                let correct = pred.iter().zip(test_labels).filter(|(p, l)| p == l).count();
                let a = Accuracy {
                    images: test_n,
                    correct,
                    blob: correct as f64 / test_n.max(1) as f64,
                    float_model: agreement(fp, test_labels)?,
                    agreement_with_float: agreement(&pred, fp)?,
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
                Some(a)
            }
        };
        let path = blob_path(&output, e.format, exports.len());
        let name = file_name(&path);
        let manifest = Manifest::new(e, &name, &args.model.display().to_string(), accuracy);
        write(&path, &e.blob, &manifest)?;
        println!("wrote {} ({} bytes)\n", path.display(), e.blob.len());
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
