//! Saving and loading models.
//!
//! # On-disk format (version 1)
//!
//! A saved model is a directory with two files, each written atomically (temporary file,
//! then rename):
//!
//! * `model.json` — the architecture:
//!   ```json
//!   {
//!     "format": "tinyconv-sequential",
//!     "version": 1,
//!     "input_shape": [28, 28, 1],
//!     "layers": [
//!       {"name": "conv2d", "trainable": true, "class_name": "Conv2D",
//!        "config": {"filters": 32, "kernel_size": [3, 3], "strides": [1, 1],
//!                   "padding": "valid", "activation": "relu", "use_bias": true}},
//!       {"name": "max_pooling2d", "trainable": true, "class_name": "MaxPooling2D",
//!        "config": {"pool_size": [2, 2], "strides": null, "padding": "valid"}},
//!       {"name": "flatten", "trainable": true, "class_name": "Flatten", "config": null},
//!       {"name": "dense", "trainable": true, "class_name": "Dense",
//!        "config": {"units": 10, "activation": "softmax", "use_bias": true}}
//!     ]
//!   }
//!   ```
//!   `input_shape` is `[h, w, c]` for images or `[n]` for flat inputs. Other classes:
//!   `AveragePooling2D` (as `MaxPooling2D`), `Rescaling` (`{"scale", "offset"}`), `Dropout`
//!   (`{"rate"}`). Activations: `linear`, `relu`, `softmax`, `sigmoid`.
//! * `model.safetensors` — the weights, little-endian `F32`, named `<layer>.<param>` as Keras
//!   does: `conv2d.kernel` with shape `[kh, kw, in, out]` (HWIO), `conv2d.bias` `[out]`,
//!   `dense.kernel` `[in, out]`, `dense.bias` `[out]`. Parameter-free layers have no
//!   tensors. The header metadata holds `"format": "tinyconv-sequential"`.
//!
//! [`load`] checks the JSON, infers every shape and requires exactly the expected tensors
//! with exactly the expected shapes; errors name the file and what is wrong.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::layers::{Layer, Shape};
use crate::model::{Model, ModelError};
use crate::weights::{WeightsError, WeightsFile};

/// Name of the architecture file.
pub const ARCHITECTURE_FILE: &str = "model.json";
/// Name of the weights file.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The `format` field.
pub const FORMAT: &str = "tinyconv-sequential";
/// The current `version`.
pub const VERSION: u32 = 1;

/// An error saving or loading a model; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Reading or writing failed.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The architecture JSON does not parse.
    #[error("{}: invalid model architecture", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The content is inconsistent (wrong format, missing tensor, wrong shape, ...).
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The weights file is unreadable or does not fit the architecture.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The architecture is valid JSON but not a valid model.
    #[error("{}: invalid model", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The model error.
        #[source]
        source: ModelError,
    },
}

/// The JSON architecture file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Input shape without the batch axis.
    pub input_shape: Vec<usize>,
    /// The layers, first to last.
    pub layers: Vec<Layer>,
}

impl Architecture {
    /// The architecture of `model`.
    pub fn of(model: &Model) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            input_shape: model.input_shape().dims(),
            layers: model.layers().to_vec(),
        }
    }

    /// The input shape as a [`Shape`].
    pub fn input(&self) -> Option<Shape> {
        match self.input_shape[..] {
            [h, w, c] => Some(Shape::image(h, w, c)),
            [n] => Some(Shape::Flat(n)),
            _ => None,
        }
    }

    /// [`Architecture::input`], or an error naming `path` (the architecture file).
    pub fn checked_input(&self, path: &Path) -> Result<Shape, SaveError> {
        self.input().ok_or_else(|| SaveError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "input_shape {:?} is neither [h, w, c] nor [n]",
                self.input_shape
            ),
        })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SaveError + '_ {
    move |source| SaveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `model` into directory `dir` (created if needed) as `model.json` and
/// `model.safetensors`.
pub fn save(model: &Model, dir: &Path) -> Result<(), SaveError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = serde_json::to_string_pretty(&Architecture::of(model)).expect("serialisable");
    let weights_path = dir.join(WEIGHTS_FILE);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = model
        .layers()
        .iter()
        .zip(model.params())
        .flat_map(|(l, ps)| {
            ps.iter().map(move |p| {
                let data: Vec<u8> = p.values.iter().flat_map(|v| v.to_le_bytes()).collect();
                (format!("{}.{}", l.name, p.name), p.shape.clone(), data)
            })
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(name, shape, data)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), data).expect("sizes match");
            (name.clone(), view)
        })
        .collect();
    let meta: HashMap<String, String> = [("format".to_string(), FORMAT.to_string())].into();
    let st = safetensors::serialize(views, &Some(meta)).map_err(|e| SaveError::Invalid {
        path: weights_path.clone(),
        reason: format!("cannot serialise weights: {e}"),
    })?;
    write_atomic(&weights_path, &st).map_err(io(&weights_path))?;
    let arch_path = dir.join(ARCHITECTURE_FILE);
    write_atomic(&arch_path, json.as_bytes()).map_err(io(&arch_path))?;
    Ok(())
}

/// Reads and checks the architecture file of the model in `dir`.
pub fn load_architecture(dir: &Path) -> Result<Architecture, SaveError> {
    let path = dir.join(ARCHITECTURE_FILE);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    parse_architecture(&path, &text)
}

/// Parses and checks architecture JSON `text`; `path` names it in errors.
pub fn parse_architecture(path: &Path, text: &str) -> Result<Architecture, SaveError> {
    let arch: Architecture = serde_json::from_str(text).map_err(|source| SaveError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    if arch.format != FORMAT || arch.version != VERSION {
        return Err(SaveError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "format {:?} version {} is not {FORMAT:?} version {VERSION}",
                arch.format, arch.version
            ),
        });
    }
    Ok(arch)
}

/// Loads the model saved in `dir`, checking every tensor's presence, type and shape.
pub fn load(dir: &Path) -> Result<Model, SaveError> {
    let arch = load_architecture(dir)?;
    let file = WeightsFile::open(&dir.join(WEIGHTS_FILE))?;
    from_files(dir, arch, &file)
}

/// [`load`] from the two files' contents (as read from `dir`, which names them in errors):
/// what the model-file fuzz target runs.
pub fn load_from_bytes(
    dir: &Path,
    architecture: &str,
    weights: Vec<u8>,
) -> Result<Model, SaveError> {
    let arch = parse_architecture(&dir.join(ARCHITECTURE_FILE), architecture)?;
    let file = WeightsFile::from_bytes(&dir.join(WEIGHTS_FILE), weights)?;
    from_files(dir, arch, &file)
}

fn from_files(dir: &Path, arch: Architecture, file: &WeightsFile) -> Result<Model, SaveError> {
    let arch_path = dir.join(ARCHITECTURE_FILE);
    let input = arch.checked_input(&arch_path)?;
    let shapes =
        crate::model::infer_shapes(input, &arch.layers).map_err(|source| SaveError::Model {
            path: arch_path.clone(),
            source,
        })?;
    let path = file.path().to_path_buf();
    let invalid = |reason: String| SaveError::Invalid {
        path: path.clone(),
        reason,
    };
    let mut expected_names = Vec::new();
    let mut params = Vec::with_capacity(arch.layers.len());
    let mut layer_input = input;
    for (layer, out) in arch.layers.iter().zip(&shapes) {
        let specs = layer.kind.params(layer_input);
        params.push(file.layer_params(&layer.name, &specs)?);
        expected_names.extend(specs.iter().map(|s| format!("{}.{}", layer.name, s.name)));
        layer_input = *out;
    }
    let mut extra: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| !expected_names.contains(n))
        .collect();
    if !extra.is_empty() {
        extra.sort();
        return Err(invalid(format!(
            "unexpected tensors not used by the architecture: {}",
            extra.join(", ")
        )));
    }
    Model::from_parts(input, arch.layers, params).map_err(|source| SaveError::Model {
        path: arch_path,
        source,
    })
}
