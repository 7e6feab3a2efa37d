//! Weights by name from a safetensors file: Keras's `model.load_weights(path, by_name=True)`
//! for files whose tensors are named `<layer>.<param>` (`block1_conv1.kernel`,
//! `block1_conv1.bias`, ...), the naming of a saved tinyconv model and of the pretrained
//! weights in the data directory.
//!
//! Every error names the file, and the tensor where one is at fault: a file that cannot be
//! read, one that is not safetensors (a truncated file included), a missing tensor, a tensor
//! of another dtype than `F32` or of another shape than the layer's.

use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use crate::model::{Model, Param};

/// An error reading weights; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file cannot be read.
    #[error("cannot read weights file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file (truncated, corrupt header, ...).
    #[error("{}: not a valid safetensors file: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// A tensor the model needs is not in the file.
    #[error("{}: missing tensor {tensor}", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// `<layer>.<param>`.
        tensor: String,
    },
    /// A tensor is not `F32`.
    #[error("{}: tensor {tensor} has dtype {dtype}, expected F32", path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// `<layer>.<param>`.
        tensor: String,
        /// The dtype found.
        dtype: String,
    },
    /// A tensor's shape differs from the layer's.
    #[error("{}: tensor {tensor} has shape {actual:?}, expected {expected:?}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// `<layer>.<param>`.
        tensor: String,
        /// The shape in the file.
        actual: Vec<usize>,
        /// The layer's shape.
        expected: Vec<usize>,
    },
    /// No layer of the model has the name asked for.
    #[error("{}: the model has no layer {layer:?} to load", path.display())]
    NoSuchLayer {
        /// The file.
        path: PathBuf,
        /// The layer name.
        layer: String,
    },
}

/// A safetensors file read into memory, its header checked.
#[derive(Clone, Debug)]
pub struct WeightsFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl WeightsFile {
    /// Reads `path` and checks that it is a whole safetensors file.
    pub fn open(path: &Path) -> Result<Self, WeightsError> {
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(path, bytes)
    }

    /// The safetensors file `bytes` (read from `path`, which names it in errors), its header
    /// checked.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, WeightsError> {
        let file = Self {
            path: path.to_path_buf(),
            bytes,
        };
        file.parse()?;
        Ok(file)
    }

    fn parse(&self) -> Result<SafeTensors<'_>, WeightsError> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| WeightsError::Format {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = match self.parse() {
            Ok(st) => st.names().into_iter().cloned().collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }

    /// Shape of tensor `name`, when present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.parse()
            .ok()?
            .tensor(name)
            .ok()
            .map(|t| t.shape().to_vec())
    }

    /// SHA-256 of the file's bytes (what a cache of results computed with these weights is
    /// keyed by).
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }

    /// The values of `F32` tensor `name`, which must have shape `expected`.
    pub fn tensor_f32(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, WeightsError> {
        let st = self.parse()?;
        let t = st.tensor(name).map_err(|_| WeightsError::Missing {
            path: self.path.clone(),
            tensor: name.to_string(),
        })?;
        if t.dtype() != Dtype::F32 {
            return Err(WeightsError::Dtype {
                path: self.path.clone(),
                tensor: name.to_string(),
                dtype: format!("{:?}", t.dtype()),
            });
        }
        if t.shape() != expected {
            return Err(WeightsError::Shape {
                path: self.path.clone(),
                tensor: name.to_string(),
                actual: t.shape().to_vec(),
                expected: expected.to_vec(),
            });
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// The parameters of a layer called `layer` with parameter specs `specs`, read from
    /// `<layer>.<param>` tensors.
    pub fn layer_params(
        &self,
        layer: &str,
        specs: &[crate::layers::ParamSpec],
    ) -> Result<Vec<Param>, WeightsError> {
        specs
            .iter()
            .map(|spec| {
                let name = format!("{layer}.{}", spec.name);
                Ok(Param {
                    name: spec.name.to_string(),
                    shape: spec.shape.clone(),
                    values: self.tensor_f32(&name, &spec.shape)?,
                })
            })
            .collect()
    }
}

/// Loads the weights of the layers called `layers` of `model` from `file` by name (every
/// parameter of each must be in the file with the layer's shape); the other layers keep their
/// weights. Returns the number of values loaded.
pub fn load_by_name(
    model: &mut Model,
    file: &WeightsFile,
    layers: &[&str],
) -> Result<usize, WeightsError> {
    let mut params = model.params().to_vec();
    let mut loaded = 0;
    for &name in layers {
        let i = model
            .layers()
            .iter()
            .position(|l| l.name == name)
            .ok_or_else(|| WeightsError::NoSuchLayer {
                path: file.path.clone(),
                layer: name.to_string(),
            })?;
        let specs = model.layers()[i].kind.params(model.layer_input_shape(i));
        params[i] = file.layer_params(name, &specs)?;
        loaded += params[i].iter().map(|p| p.values.len()).sum::<usize>();
    }
    model
        .set_params(params)
        .expect("tensors were checked against the layers' shapes");
    Ok(loaded)
}
