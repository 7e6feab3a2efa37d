//! Writing blobs and their provenance files (`<blob stem>.json`) atomically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::quantize::{Export, ExportFormat, QuantizeError};

/// Test-set results of one blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Test images evaluated (the first `images` of the MNIST test set).
    pub images: usize,
    /// Images the blob classifies correctly through `shared`.
    pub correct: usize,
    /// `correct / images`.
    pub blob: f64,
    /// Accuracy of the float model on the host (CPU backend) on the same images.
    pub float_model: f64,
    /// Share of images where the blob and the float model predict the same digit.
    pub agreement_with_float: f64,
}

/// What a blob is, where it came from and how well it does: written next to the blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The blob's format.
    pub format: ExportFormat,
    /// The blob's file name.
    pub blob: String,
    /// Its size in bytes (= flash for the model).
    pub bytes: usize,
    /// Hex SHA-256 of the blob.
    pub sha256: String,
    /// The float model directory it was exported from, as given.
    pub source_model: String,
    /// int8: calibration images and range method.
    pub calibration: Option<String>,
    /// RAM of one inference on the device.
    pub ram_bytes: usize,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// Test-set accuracy, when evaluated.
    pub accuracy: Option<Accuracy>,
}

impl Manifest {
    /// The manifest of `export` (file name `blob`), exported from `source_model`.
    pub fn new(
        export: &Export,
        blob: &str,
        source_model: &str,
        accuracy: Option<Accuracy>,
    ) -> Self {
        Self {
            format: export.format,
            blob: blob.to_string(),
            bytes: export.blob.len(),
            sha256: sha256_hex(&export.blob),
            source_model: source_model.to_string(),
            calibration: export.report.calibration.clone(),
            ram_bytes: export.report.ram_bytes,
            macs: export.report.macs,
            accuracy,
        }
    }

    /// Reads a manifest file.
    pub fn read(path: &Path) -> Result<Self, QuantizeError> {
        let text = std::fs::read_to_string(path).map_err(|source| QuantizeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| QuantizeError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where the blob of `format` goes for `--output output`: `output` itself when it names a
/// file (it has an extension, is not an existing directory, does not end in `/`, and only one
/// format is written), else `output/mnist_<format>.blob`.
pub fn blob_path(output: &Path, format: ExportFormat, formats: usize) -> PathBuf {
    blob_path_named(output, format, formats, "mnist")
}

/// [`blob_path`] with `<stem>_<format>.blob` as the file name in a directory.
pub fn blob_path_named(output: &Path, format: ExportFormat, formats: usize, stem: &str) -> PathBuf {
    let ends_with_sep = output
        .as_os_str()
        .to_string_lossy()
        .ends_with(std::path::MAIN_SEPARATOR);
    let is_file =
        formats == 1 && !output.is_dir() && !ends_with_sep && output.extension().is_some();
    if is_file {
        output.to_path_buf()
    } else {
        output.join(format!("{stem}_{}.blob", format.name()))
    }
}

/// The manifest path of a blob: same directory and stem, extension `json`.
pub fn manifest_path(blob: &Path) -> PathBuf {
    blob.with_extension("json")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QuantizeError + '_ {
    move |source| QuantizeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the blob to `path` and `manifest` to [`manifest_path`]`(path)`, each atomically,
/// creating the directory if needed.
pub fn write(path: &Path, blob: &[u8], manifest: &Manifest) -> Result<(), QuantizeError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    write_atomic(path, blob).map_err(io(path))?;
    let json = serde_json::to_string_pretty(manifest).expect("a manifest serialises") + "\n";
    let mpath = manifest_path(path);
    write_atomic(&mpath, json.as_bytes()).map_err(io(&mpath))
}
