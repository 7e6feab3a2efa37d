//! A built model: layers with inferred shapes and their weights on the host, in Keras layout.
//!
//! This is the exchange type between training ([`crate::train`]), saving
//! ([`crate::save`]) and the quantisation/export code: `Model::load(dir)` reads a saved
//! model, [`Model::layers`], [`Model::output_shapes`] and [`Model::params`] expose the
//! architecture and the `f32` weights (HWIO convolution kernels, `[in, out]` dense kernels),
//! and [`Model::predict`] runs float inference on any backend.

use kernels::Backend;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::layers::{Activation, Init, Layer, LayerKind, ParamSpec, Shape, MAX_VALUES};

/// An error building or validating a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A layer cannot take its input shape.
    #[error("layer {layer} ({class}): {reason}")]
    Shape {
        /// Layer name.
        layer: String,
        /// Keras class name.
        class: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Two layers share a name.
    #[error("duplicate layer name {0:?}")]
    DuplicateName(String),
    /// A weight tensor has the wrong size.
    #[error("layer {layer}: {param} has {actual} values, expected {expected} for shape {shape:?}")]
    ParamSize {
        /// Layer name.
        layer: String,
        /// `kernel` or `bias`.
        param: String,
        /// Expected shape.
        shape: Vec<usize>,
        /// Expected number of values.
        expected: usize,
        /// Number of values given.
        actual: usize,
    },
    /// A layer has the wrong number of parameter tensors.
    #[error("layer {layer}: expected {expected} parameter tensors, got {actual}")]
    ParamCount {
        /// Layer name.
        layer: String,
        /// Expected count.
        expected: usize,
        /// Given count.
        actual: usize,
    },
    /// No layer has the given name.
    #[error("no layer named {0:?}")]
    NoSuchLayer(String),
    /// The model is empty or its input shape is empty.
    #[error("{0}")]
    Invalid(String),
}

/// One parameter tensor of a layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// `kernel` or `bias`.
    pub name: String,
    /// Keras layout: HWIO for convolution kernels, `[in, out]` for dense kernels, `[out]` for
    /// biases.
    pub shape: Vec<usize>,
    /// Row-major values, `shape.iter().product()` of them.
    pub values: Vec<f32>,
}

/// A sequential model with its weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    input_shape: Shape,
    layers: Vec<Layer>,
    output_shapes: Vec<Shape>,
    params: Vec<Vec<Param>>,
}

/// Infers every layer's output shape and checks the layer list (names unique, softmax and
/// sigmoid only on a final `Dense`).
pub fn infer_shapes(input: Shape, layers: &[Layer]) -> Result<Vec<Shape>, ModelError> {
    match input.checked_len() {
        None => {
            return Err(ModelError::Invalid(format!(
                "input shape {input} has more than {MAX_VALUES} values per example"
            )))
        }
        Some(0) => return Err(ModelError::Invalid(format!("input shape {input} is empty"))),
        Some(_) => {}
    }
    if layers.is_empty() {
        return Err(ModelError::Invalid("the model has no layers".into()));
    }
    let mut shapes = Vec::with_capacity(layers.len());
    let mut cur = input;
    for (i, layer) in layers.iter().enumerate() {
        if layers[..i].iter().any(|l| l.name == layer.name) {
            return Err(ModelError::DuplicateName(layer.name.clone()));
        }
        let err = |reason: String| ModelError::Shape {
            layer: layer.name.clone(),
            class: layer.kind.class_name(),
            reason,
        };
        if let Some(a) = layer.kind.activation() {
            if a.is_output_only() {
                let last = i + 1 == layers.len();
                if !last || !matches!(layer.kind, LayerKind::Dense(_)) {
                    return Err(err(format!(
                        "{a:?} activation is only supported on the final Dense layer"
                    )));
                }
                if a == Activation::Sigmoid {
                    if let LayerKind::Dense(d) = layer.kind {
                        if d.units != 1 {
                            return Err(err(format!(
                                "a sigmoid output needs Dense(1) (binary classification), got Dense({})",
                                d.units
                            )));
                        }
                    }
                }
            }
        }
        cur = layer.kind.output_shape(cur).map_err(err)?;
        match cur.checked_len() {
            None => {
                return Err(err(format!(
                    "output shape {cur} has more than {MAX_VALUES} values per example"
                )))
            }
            Some(0) => return Err(err(format!("output shape {cur} is empty"))),
            Some(_) => {}
        }
        shapes.push(cur);
    }
    Ok(shapes)
}

impl Model {
    /// A model from layers and weights (one `Vec<Param>` per layer, in the order of
    /// [`LayerKind::params`]), checking shapes and sizes.
    pub fn from_parts(
        input_shape: Shape,
        layers: Vec<Layer>,
        params: Vec<Vec<Param>>,
    ) -> Result<Self, ModelError> {
        let output_shapes = infer_shapes(input_shape, &layers)?;
        if params.len() != layers.len() {
            return Err(ModelError::Invalid(format!(
                "{} weight lists for {} layers",
                params.len(),
                layers.len()
            )));
        }
        let mut input = input_shape;
        for ((layer, ps), out) in layers.iter().zip(&params).zip(&output_shapes) {
            let specs = layer.kind.params(input);
            if specs.len() != ps.len() {
                return Err(ModelError::ParamCount {
                    layer: layer.name.clone(),
                    expected: specs.len(),
                    actual: ps.len(),
                });
            }
            for (spec, p) in specs.iter().zip(ps) {
                if p.name != spec.name || p.shape != spec.shape || p.values.len() != spec.len() {
                    return Err(ModelError::ParamSize {
                        layer: layer.name.clone(),
                        param: p.name.clone(),
                        shape: spec.shape.clone(),
                        expected: spec.len(),
                        actual: p.values.len(),
                    });
                }
            }
            input = *out;
        }
        Ok(Self {
            input_shape,
            layers,
            output_shapes,
            params,
        })
    }

    /// A model with freshly initialised weights (Glorot-uniform kernels, zero biases) drawn
    /// from a generator seeded with `seed`.
    pub fn initialized(
        input_shape: Shape,
        layers: Vec<Layer>,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let shapes = infer_shapes(input_shape, &layers)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut params = Vec::with_capacity(layers.len());
        let mut input = input_shape;
        for (layer, out) in layers.iter().zip(&shapes) {
            params.push(
                layer
                    .kind
                    .params(input)
                    .into_iter()
                    .map(|spec| init_param(&spec, &mut rng))
                    .collect(),
            );
            input = *out;
        }
        Self::from_parts(input_shape, layers, params)
    }

    /// Shape of one input example.
    pub fn input_shape(&self) -> Shape {
        self.input_shape
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Output shape of each layer.
    pub fn output_shapes(&self) -> &[Shape] {
        &self.output_shapes
    }

    /// Input shape of layer `i`.
    pub fn layer_input_shape(&self, i: usize) -> Shape {
        if i == 0 {
            self.input_shape
        } else {
            self.output_shapes[i - 1]
        }
    }

    /// Shape of the model's output.
    pub fn output_shape(&self) -> Shape {
        *self.output_shapes.last().expect("a model has layers")
    }

    /// Weights of each layer (empty for parameter-free layers).
    pub fn params(&self) -> &[Vec<Param>] {
        &self.params
    }

    /// Replaces all weights (same structure as [`Model::params`]), checking sizes.
    pub fn set_params(&mut self, params: Vec<Vec<Param>>) -> Result<(), ModelError> {
        let m = Model::from_parts(self.input_shape, self.layers.clone(), params)?;
        self.params = m.params;
        Ok(())
    }

    /// The weights of the layer called `layer`.
    pub fn layer_params(&self, layer: &str) -> Option<&[Param]> {
        self.layers
            .iter()
            .position(|l| l.name == layer)
            .map(|i| self.params[i].as_slice())
    }

    /// Sets `trainable` on the layer called `name` (Keras's `layer.trainable = False`
    /// freezes it).
    pub fn set_trainable(&mut self, name: &str, trainable: bool) -> Result<(), ModelError> {
        let l = self
            .layers
            .iter_mut()
            .find(|l| l.name == name)
            .ok_or_else(|| ModelError::NoSuchLayer(name.to_string()))?;
        l.trainable = trainable;
        Ok(())
    }

    /// Parameters per layer.
    pub fn layer_param_count(&self, i: usize) -> usize {
        self.params[i].iter().map(|p| p.values.len()).sum()
    }

    /// Total parameters.
    pub fn param_count(&self) -> usize {
        (0..self.layers.len())
            .map(|i| self.layer_param_count(i))
            .sum()
    }

    /// Parameters of trainable layers.
    pub fn trainable_param_count(&self) -> usize {
        (0..self.layers.len())
            .filter(|&i| self.layers[i].trainable)
            .map(|i| self.layer_param_count(i))
            .sum()
    }

    /// Whether the first layer is a `Rescaling`: the model then takes raw pixel values (what
    /// `host fit` feeds and the quantizer folds into the input).
    pub fn starts_with_rescaling(&self) -> bool {
        matches!(
            self.layers.first().map(|l| &l.kind),
            Some(LayerKind::Rescaling(_))
        )
    }

    /// The final layer's activation (what the loss is fused with).
    pub fn output_activation(&self) -> Activation {
        self.layers
            .last()
            .and_then(|l| l.kind.activation())
            .unwrap_or_default()
    }

    /// Float inference: the model's outputs (probabilities for a softmax or sigmoid output)
    /// for `images` (`n * input_len` values, NHWC), `batch_size` examples at a time.
    pub fn predict<B: Backend>(&self, backend: &B, images: &[f32], batch_size: usize) -> Vec<f32> {
        crate::network::Network::new(backend, self).predict(images, batch_size)
    }
}

fn init_param(spec: &ParamSpec, rng: &mut StdRng) -> Param {
    let values = match spec.init {
        Init::Zeros => vec![0.0; spec.len()],
        Init::GlorotUniform { fan_in, fan_out } => {
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
            (0..spec.len())
                .map(|_| rng.gen_range(-limit..limit))
                .collect()
        }
    };
    Param {
        name: spec.name.to_string(),
        shape: spec.shape.clone(),
        values,
    }
}
