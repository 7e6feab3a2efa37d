//! Keras's `model.to_json()` output as tinyconv layers.
//!
//! | Keras layer | becomes | options that must keep Keras's default |
//! |---|---|---|
//! | `InputLayer` (`keras.Input(shape=...)`) | the input shape `[h, w, c]` or `[n]` | |
//! | `Conv2D` | [`Conv2D`] (`filters`, `kernel_size`, `strides`, `padding`, `activation`, `use_bias`) | `data_format`, `dilation_rate`, `groups`, initialisers, regularisers, constraints |
//! | `MaxPooling2D`, `AveragePooling2D` | the same (`pool_size`, `strides`, `padding`) | `data_format` |
//! | `Flatten` | [`Flatten`] | `data_format` |
//! | `Dense` | [`Dense`] (`units`, `activation`, `use_bias`) | initialisers, regularisers, constraints, `lora_rank` |
//! | `Dropout` | [`Dropout`] (`rate`) | `noise_shape` |
//! | `Rescaling` | [`Rescaling`] (scalar `scale`, `offset`) | |
//! | `Activation` | folded into the `Conv2D` or `Dense` before it (which must be linear) | |
//!
//! Activations: `linear`, `relu`, and `softmax` / `sigmoid` on the final `Dense`. Both
//! Keras 3 (`batch_shape`, `inbound_nodes` with `keras_history`) and Keras 2 / `tf.keras`
//! (`batch_input_shape`, nested `inbound_nodes` lists) files are read.

use std::path::Path;

use kernels::Padding;
use serde_json::Value;

use super::ArchFileError;
use crate::layers::{
    Activation, AveragePooling2D, Conv2D, Dense, Dropout, Flatten, Layer, LayerKind, MaxPooling2D,
    Pool2D, Rescaling, Shape,
};

/// What is wrong with a Keras file, before the file's path is attached ([`Self::at`]).
#[derive(Debug, Clone, PartialEq)]
pub enum KerasError {
    /// A layer or option is not supported.
    Unsupported {
        /// Layer name.
        layer: String,
        /// Layer class.
        class: String,
        /// The configuration key.
        option: String,
        /// Why, and what is supported.
        reason: String,
    },
    /// The file's structure is not what Keras writes.
    Invalid(String),
}

impl KerasError {
    /// The error as an [`ArchFileError`] naming `path`.
    pub fn at(self, path: &Path) -> ArchFileError {
        let path = path.to_path_buf();
        match self {
            KerasError::Unsupported {
                layer,
                class,
                option,
                reason,
            } => ArchFileError::Unsupported {
                path,
                layer,
                class,
                option,
                reason,
            },
            KerasError::Invalid(reason) => ArchFileError::Invalid { path, reason },
        }
    }
}

/// Converts a parsed `model.to_json()` document into an input shape and layers.
pub fn convert(doc: &Value) -> Result<(Shape, Vec<Layer>), KerasError> {
    let class = doc
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let config = doc
        .get("config")
        .filter(|c| c.is_object())
        .ok_or_else(|| KerasError::Invalid(format!("{class} model without a \"config\" object")))?;
    let raw = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| KerasError::Invalid(format!("{class} model without a \"layers\" list")))?;
    match class {
        "Sequential" => sequential(config, raw),
        "Functional" | "Model" => functional(config, raw),
        other => Err(KerasError::Invalid(format!(
            "top-level class {other:?} is not a Keras model (Sequential or Functional)"
        ))),
    }
}

/// A layer entry of the file: its class, name and configuration.
struct Entry<'a> {
    class: &'a str,
    name: String,
    config: &'a Value,
    raw: &'a Value,
}

impl<'a> Entry<'a> {
    fn new(raw: &'a Value) -> Result<Self, KerasError> {
        let class = raw
            .get("class_name")
            .and_then(Value::as_str)
            .ok_or_else(|| KerasError::Invalid("a layer without \"class_name\"".into()))?;
        let config = raw.get("config").unwrap_or(&Value::Null);
        let name = config
            .get("name")
            .or_else(|| raw.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| KerasError::Invalid(format!("a {class} layer without a name")))?
            .to_string();
        Ok(Self {
            class,
            name,
            config,
            raw,
        })
    }

    fn unsupported(&self, option: &str, reason: impl Into<String>) -> KerasError {
        KerasError::Unsupported {
            layer: self.name.clone(),
            class: self.class.to_string(),
            option: option.to_string(),
            reason: reason.into(),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.config.get(key).filter(|v| !v.is_null())
    }

    fn required(&self, key: &str) -> Result<&'a Value, KerasError> {
        self.get(key)
            .ok_or_else(|| self.unsupported(key, "missing (Keras always writes it)"))
    }

    fn usize(&self, key: &str) -> Result<usize, KerasError> {
        let v = self.required(key)?;
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.unsupported(key, format!("{v} is not a non-negative integer")))
    }

    fn f32(&self, key: &str, default: f32) -> Result<f32, KerasError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().map(|x| x as f32).ok_or_else(|| {
                self.unsupported(
                    key,
                    format!("{v} is not a number (per-channel values are not supported)"),
                )
            }),
        }
    }

    /// A pair such as `kernel_size`, written by Keras as `[a, b]` (or an integer by hand).
    fn pair(&self, key: &str) -> Result<Option<[usize; 2]>, KerasError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let bad = || self.unsupported(key, format!("{v} is not an integer or a pair of integers"));
        let int = |v: &Value| v.as_u64().and_then(|n| usize::try_from(n).ok());
        match v {
            Value::Array(a) if a.len() == 2 => match (int(&a[0]), int(&a[1])) {
                (Some(x), Some(y)) => Ok(Some([x, y])),
                _ => Err(bad()),
            },
            Value::Array(_) => Err(bad()),
            other => int(other).map(|n| Some([n, n])).ok_or_else(bad),
        }
    }

    fn padding(&self) -> Result<Padding, KerasError> {
        match self.get("padding").and_then(Value::as_str) {
            None | Some("valid") => Ok(Padding::Valid),
            Some("same") => Ok(Padding::Same),
            Some(other) => Err(self.unsupported(
                "padding",
                format!("{other:?}; supported: \"valid\", \"same\""),
            )),
        }
    }

    fn activation(&self) -> Result<Activation, KerasError> {
        match self.get("activation") {
            None => Ok(Activation::Linear),
            Some(Value::String(s)) => match s.as_str() {
                "linear" => Ok(Activation::Linear),
                "relu" => Ok(Activation::Relu),
                "softmax" => Ok(Activation::Softmax),
                "sigmoid" => Ok(Activation::Sigmoid),
                other => Err(self.unsupported(
                    "activation",
                    format!("{other:?}; supported: linear, relu, softmax, sigmoid"),
                )),
            },
            Some(v) => Err(self.unsupported(
                "activation",
                format!("{v} is not a built-in activation name"),
            )),
        }
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, KerasError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.unsupported(key, format!("{v} is not true or false"))),
        }
    }

    /// Fails unless `key` is absent, null or one of `allowed`.
    fn default_only(&self, key: &str, allowed: &[Value]) -> Result<(), KerasError> {
        match self.get(key) {
            None => Ok(()),
            Some(v) if allowed.contains(v) => Ok(()),
            Some(v) => {
                Err(self.unsupported(key, format!("{v} is not supported (only Keras's default)")))
            }
        }
    }

    fn channels_last(&self) -> Result<(), KerasError> {
        self.default_only("data_format", &["channels_last".into()])
    }

    /// Initialisers must be Keras's defaults, which tinyconv uses; no regulariser or
    /// constraint.
    fn default_weights(&self) -> Result<(), KerasError> {
        for (key, class) in [
            ("kernel_initializer", "GlorotUniform"),
            ("bias_initializer", "Zeros"),
        ] {
            if let Some(v) = self.get(key) {
                let name = v
                    .get("class_name")
                    .and_then(Value::as_str)
                    .or_else(|| v.as_str());
                let ok = name.is_some_and(|n| n == class || n.eq_ignore_ascii_case(&snake(class)));
                if !ok {
                    return Err(self.unsupported(
                        key,
                        format!(
                            "{} is not supported; tinyconv initialises like Keras's default \
                             ({class})",
                            name.unwrap_or("this initialiser")
                        ),
                    ));
                }
            }
        }
        for key in [
            "kernel_regularizer",
            "bias_regularizer",
            "activity_regularizer",
            "kernel_constraint",
            "bias_constraint",
            "lora_rank",
        ] {
            if self.get(key).is_some() {
                return Err(self.unsupported(key, "not supported (must be null)"));
            }
        }
        Ok(())
    }

    fn trainable(&self) -> bool {
        self.config
            .get("trainable")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }

    /// The layer as a tinyconv layer kind; `None` for an `Activation` layer (handled by the
    /// caller) and an `InputLayer`.
    fn kind(&self) -> Result<Option<LayerKind>, KerasError> {
        Ok(Some(match self.class {
            "Conv2D" => {
                self.channels_last()?;
                self.default_only("dilation_rate", &[1.into(), serde_json::json!([1, 1])])?;
                self.default_only("groups", &[1.into()])?;
                self.default_weights()?;
                let [kh, kw] = self
                    .pair("kernel_size")?
                    .ok_or_else(|| self.unsupported("kernel_size", "missing"))?;
                let strides = self.pair("strides")?.unwrap_or([1, 1]);
                let mut conv = Conv2D::new(self.usize("filters")?, kh)
                    .kernel_size(kh, kw)
                    .padding(self.padding()?)
                    .activation(self.activation()?)
                    .use_bias(self.bool("use_bias", true)?);
                conv.strides = strides;
                conv.into()
            }
            "MaxPooling2D" | "AveragePooling2D" => {
                self.channels_last()?;
                let pool_size = self.pair("pool_size")?.unwrap_or([2, 2]);
                // Keras 3 writes the default strides (the pool size) out; keep `None` then.
                let strides = self.pair("strides")?.filter(|s| *s != pool_size);
                let pool = Pool2D {
                    pool_size,
                    strides,
                    padding: self.padding()?,
                };
                if self.class == "MaxPooling2D" {
                    MaxPooling2D(pool).into()
                } else {
                    AveragePooling2D(pool).into()
                }
            }
            "Flatten" => {
                self.channels_last()?;
                Flatten.into()
            }
            "Dense" => {
                self.default_weights()?;
                Dense::new(self.usize("units")?)
                    .activation(self.activation()?)
                    .use_bias(self.bool("use_bias", true)?)
                    .into()
            }
            "Dropout" => {
                self.default_only("noise_shape", &[])?;
                self.required("rate")?;
                Dropout::new(self.f32("rate", 0.0)?).into()
            }
            "Rescaling" => {
                self.required("scale")?;
                Rescaling::new(self.f32("scale", 1.0)?, self.f32("offset", 0.0)?).into()
            }
            "InputLayer" | "Activation" => return Ok(None),
            "RandomFlip" | "RandomRotation" | "RandomZoom" | "RandomTranslation"
            | "RandomContrast" | "RandomCrop" => {
                return Err(self.unsupported(
                    "class_name",
                    "augmentation layers are not part of a tinyconv model; remove them and \
                     pass --augment to `host fit` (the book's flip, rotation 0.1, zoom 0.2)",
                ))
            }
            "Sequential" | "Functional" | "Model" => {
                let augments = self
                    .get("layers")
                    .and_then(Value::as_array)
                    .is_some_and(|ls| {
                        ls.iter().any(|l| {
                            l.get("class_name")
                                .and_then(Value::as_str)
                                .is_some_and(|c| c.starts_with("Random"))
                        })
                    });
                return Err(self.unsupported(
                    "class_name",
                    if augments {
                        "an augmentation block is not part of a tinyconv model; remove it and \
                         pass --augment to `host fit` (the book's flip, rotation 0.1, zoom 0.2)"
                    } else {
                        "a model nested in the model is not supported; write its layers inline"
                    },
                ));
            }
            other => {
                return Err(self.unsupported(
                    "class_name",
                    format!(
                        "{other} is not supported; supported: InputLayer, Conv2D, \
                         MaxPooling2D, AveragePooling2D, Flatten, Dense, Dropout, Rescaling, \
                         Activation"
                    ),
                ))
            }
        }))
    }

    /// The input shape an `InputLayer` declares.
    fn input_shape(&self) -> Result<Shape, KerasError> {
        let v = self
            .get("batch_shape")
            .or_else(|| self.get("batch_input_shape"))
            .ok_or_else(|| self.unsupported("batch_shape", "missing"))?;
        shape_of(v, true).ok_or_else(|| {
            self.unsupported(
                "batch_shape",
                format!("{v} is not [null, h, w, c] or [null, n] with known sizes"),
            )
        })
    }
}

/// `GlorotUniform` → `glorot_uniform`, Keras's string form of an initialiser.
fn snake(class: &str) -> String {
    let mut out = String::new();
    for (i, ch) in class.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(ch.to_lowercase());
    }
    out
}

/// `[null, h, w, c]` / `[null, n]` (with `batched`) or `[h, w, c]` / `[n]` as a shape.
fn shape_of(v: &Value, batched: bool) -> Option<Shape> {
    let dims = v.as_array()?;
    let dims = if batched {
        let (first, rest) = dims.split_first()?;
        if !first.is_null() && first.as_u64().is_none() {
            return None;
        }
        rest
    } else {
        dims
    };
    let dims: Option<Vec<usize>> = dims
        .iter()
        .map(|d| d.as_u64().and_then(|n| usize::try_from(n).ok()))
        .collect();
    match dims?[..] {
        [h, w, c] => Some(Shape::image(h, w, c)),
        [n] => Some(Shape::Flat(n)),
        _ => None,
    }
}

/// The layers of `entries` (without the input layer) in order, folding `Activation` layers.
fn layers_of(entries: &[Entry<'_>]) -> Result<Vec<Layer>, KerasError> {
    let mut layers: Vec<Layer> = Vec::with_capacity(entries.len());
    for e in entries {
        if e.class == "InputLayer" {
            return Err(e.unsupported(
                "class_name",
                "an InputLayer is only allowed as the model's first layer",
            ));
        }
        match e.kind()? {
            Some(kind) => layers.push(Layer {
                name: e.name.clone(),
                trainable: e.trainable(),
                kind,
            }),
            None => {
                // An `Activation` layer: the previous Conv2D or Dense takes it.
                let act = e.activation()?;
                let prev = layers.last_mut().map(|l| &mut l.kind);
                match prev {
                    Some(LayerKind::Conv2D(c)) if c.activation == Activation::Linear => {
                        c.activation = act
                    }
                    Some(LayerKind::Dense(d)) if d.activation == Activation::Linear => {
                        d.activation = act
                    }
                    _ => {
                        return Err(e.unsupported(
                            "class_name",
                            "an Activation layer must follow a Conv2D or Dense layer without \
                             an activation of its own",
                        ))
                    }
                }
            }
        }
    }
    Ok(layers)
}

fn sequential(config: &Value, raw: &[Value]) -> Result<(Shape, Vec<Layer>), KerasError> {
    let entries: Vec<Entry<'_>> = raw.iter().map(Entry::new).collect::<Result<_, _>>()?;
    let (input, rest) = match entries.split_first() {
        Some((first, rest)) if first.class == "InputLayer" => (first.input_shape()?, rest),
        Some((first, _)) => {
            // No InputLayer: Keras 2 stores the shape on the first layer, Keras 3 in the
            // model's `build_input_shape` or the first layer's `build_config`.
            let v = first
                .get("batch_input_shape")
                .or_else(|| first.get("batch_shape"))
                .or_else(|| config.get("build_input_shape"))
                .or_else(|| {
                    first
                        .raw
                        .get("build_config")
                        .and_then(|b| b.get("input_shape"))
                })
                .ok_or_else(|| {
                    KerasError::Invalid(
                        "the Sequential model has no input shape; start it with \
                         keras.Input(shape=...)"
                            .into(),
                    )
                })?;
            let input = shape_of(v, true).ok_or_else(|| {
                KerasError::Invalid(format!(
                    "input shape {v} is not [null, h, w, c] or [null, n] with known sizes"
                ))
            })?;
            (input, &entries[..])
        }
        None => return Err(KerasError::Invalid("the model has no layers".into())),
    };
    Ok((input, layers_of(rest)?))
}

/// The names of the layers whose outputs feed a Functional layer entry.
fn inbound(raw: &Value) -> Vec<String> {
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            // Keras 3: {"config": {"keras_history": ["conv2d", 0, 0]}}.
            Value::Object(m) => {
                if let Some(name) = m
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .and_then(|h| h.get(0))
                    .and_then(Value::as_str)
                {
                    out.push(name.to_string());
                } else {
                    for (k, x) in m {
                        if k != "kwargs" {
                            collect(x, out);
                        }
                    }
                }
            }
            // Keras 2: [["input_1", 0, 0, {}]].
            Value::Array(a) => {
                if let (Some(Value::String(name)), Some(n)) = (a.first(), a.get(1)) {
                    if n.is_u64() {
                        out.push(name.clone());
                        return;
                    }
                }
                for x in a {
                    collect(x, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(nodes) = raw.get("inbound_nodes") {
        collect(nodes, &mut out);
    }
    out
}

/// The single layer name of `input_layers` / `output_layers` (`["x", 0, 0]` in Keras 3,
/// `[["x", 0, 0]]` in Keras 2).
fn single_endpoint(config: &Value, key: &str) -> Result<String, KerasError> {
    let v = config.get(key).unwrap_or(&Value::Null);
    let mut names = Vec::new();
    if let Some(a) = v.as_array() {
        if let Some(Value::String(s)) = a.first() {
            names.push(s.clone());
        } else {
            for x in a {
                if let Some(s) = x.get(0).and_then(Value::as_str) {
                    names.push(s.to_string());
                }
            }
        }
    }
    match &names[..] {
        [one] => Ok(one.clone()),
        _ => Err(KerasError::Invalid(format!(
            "the Functional model needs exactly one entry in {key}, found {v}"
        ))),
    }
}

fn functional(config: &Value, raw: &[Value]) -> Result<(Shape, Vec<Layer>), KerasError> {
    let entries: Vec<Entry<'_>> = raw.iter().map(Entry::new).collect::<Result<_, _>>()?;
    let input_name = single_endpoint(config, "input_layers")?;
    let output_name = single_endpoint(config, "output_layers")?;
    let first = entries
        .first()
        .filter(|e| e.class == "InputLayer" && e.name == input_name)
        .ok_or_else(|| {
            KerasError::Invalid(format!(
                "the Functional model's first layer is not its input layer {input_name:?}"
            ))
        })?;
    let input = first.input_shape()?;
    // A plain chain: every layer takes exactly the previous layer's output.
    for pair in entries.windows(2) {
        let from = inbound(pair[1].raw);
        if from != [pair[0].name.clone()] {
            return Err(pair[1].unsupported(
                "inbound_nodes",
                format!(
                    "takes {from:?}; only a plain chain (each layer fed by the one before, \
                     {:?}) is supported",
                    pair[0].name
                ),
            ));
        }
    }
    let last = entries.last().map(|e| e.name.as_str());
    if last != Some(output_name.as_str()) {
        return Err(KerasError::Invalid(format!(
            "the Functional model's output {output_name:?} is not its last layer {last:?}"
        )));
    }
    Ok((input, layers_of(&entries[1..])?))
}
