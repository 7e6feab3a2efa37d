//! Architecture files: a model's input shape and layers read from JSON, so a user can train
//! their own convnet without writing Rust.
//!
//! Two formats are recognised by their content:
//! - tinyconv's own `model.json` (`"format": "tinyconv-sequential"`, see [`crate::save`]), as
//!   every saved model has it, or written by hand;
//! - Keras's `model.to_json()` output (Keras 2 and 3): a `Sequential` model, or a
//!   `Functional` model whose layers form a plain chain, as the book writes them, with the
//!   layers of [`keras`]'s table. Layer names and `trainable` flags are kept, so weights
//!   saved under Keras names line up.
//!
//! Anything else is an [`ArchFileError`] naming the file, and for a layer its name, class and
//! the option that is not supported.

pub mod keras;

use std::path::{Path, PathBuf};

use crate::layers::{Layer, Shape};
use crate::model::{infer_shapes, Model, ModelError};

/// Which format an architecture file was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchFormat {
    /// tinyconv's `model.json`.
    Tinyconv,
    /// Keras's `model.to_json()`.
    Keras,
}

/// A parsed architecture file.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchFile {
    /// Input shape without the batch axis.
    pub input: Shape,
    /// The layers, first to last.
    pub layers: Vec<Layer>,
    /// The format it was read from.
    pub format: ArchFormat,
}

impl ArchFile {
    /// A model of this architecture with fresh weights (Keras's default initialisers).
    pub fn build(&self, seed: u64) -> Result<Model, ModelError> {
        Model::initialized(self.input, self.layers.clone(), seed)
    }
}

/// An error reading an architecture file; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ArchFileError {
    /// The file cannot be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: not valid JSON", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A layer or one of its options is not supported.
    #[error("{}: layer {layer:?} ({class}): {option}: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The layer's name.
        layer: String,
        /// The layer's class name.
        class: String,
        /// The option (configuration key), or `class_name` for an unsupported layer class.
        option: String,
        /// What is wrong and what is supported.
        reason: String,
    },
    /// The file is JSON but not an architecture this module reads.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tinyconv `model.json` is invalid (wrong format or version, bad input shape, ...).
    #[error(transparent)]
    Tinyconv(#[from] crate::save::SaveError),
    /// The layers do not form a valid model (a shape does not fit, duplicate names, ...).
    #[error("{}: invalid model", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The model error.
        #[source]
        source: ModelError,
    },
}

/// Reads the architecture file at `path` (either format) and checks that its layers form a
/// valid model.
pub fn read(path: &Path) -> Result<ArchFile, ArchFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ArchFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses architecture JSON `text`; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<ArchFile, ArchFileError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|source| ArchFileError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    let invalid = |reason: String| ArchFileError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let file = if value.get("format").is_some() {
        let arch = crate::save::parse_architecture(path, text)?;
        ArchFile {
            input: arch.checked_input(path)?,
            layers: arch.layers,
            format: ArchFormat::Tinyconv,
        }
    } else if value.get("class_name").is_some() {
        let (input, layers) = keras::convert(&value).map_err(|e| e.at(path))?;
        ArchFile {
            input,
            layers,
            format: ArchFormat::Keras,
        }
    } else {
        return Err(invalid(
            "neither a tinyconv model.json (no \"format\") nor Keras's model.to_json() \
             output (no \"class_name\")"
                .into(),
        ));
    };
    infer_shapes(file.input, &file.layers).map_err(|source| ArchFileError::Model {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(file)
}
