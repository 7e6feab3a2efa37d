//! From a host [`Model`] to the layer list of a blob: the `shared` layer descriptions plus the
//! float weights in Keras layout, checked against the network the device runs.

use shared::blob::{
    Activation as BlobActivation, LayerDesc, LayerKind as BlobKind, PixelScaling,
    Shape as BlobShape, MAX_LAYERS,
};
use shared::mnist::{MNIST_ARCH, MNIST_INPUT};
use shared::padding::Padding as BlobPadding;

use crate::layers::{Activation, LayerKind, Padding, Shape};
use crate::model::Model;
use crate::quantize::QuantizeError;

/// One layer of the exported network, with float weights.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatLayer {
    /// Name in the float model (`conv2d_1`).
    pub name: String,
    /// Index of the layer in the float model (dropout and a folded rescaling have none here).
    pub source: usize,
    /// Keras class name (`Conv2D`).
    pub class: &'static str,
    /// The blob's description of the layer (kind, input and output shapes).
    pub desc: LayerDesc,
    /// Kernel in Keras layout (conv HWIO, dense `[in][out]`); empty for weightless layers.
    pub kernel: Vec<f32>,
    /// Bias (`[out]`, zeros for a layer built with `use_bias=False`); empty for weightless
    /// layers.
    pub bias: Vec<f32>,
}

impl FloatLayer {
    /// Output channels (conv filters, dense units); 0 for weightless layers.
    pub fn out_channels(&self) -> usize {
        match self.desc.kind {
            BlobKind::Conv2d { filters, .. } => filters as usize,
            BlobKind::Dense { units, .. } => units as usize,
            _ => 0,
        }
    }
}

/// The exported network: input shape and layers (dropout removed, a first `Rescaling`
/// folded into [`FloatNetwork::pixels`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FloatNetwork {
    /// Input shape (HWC).
    pub input: BlobShape,
    /// How a board's 8-bit pixel becomes the network's real input: `pixel / 255` (the data
    /// fed as `images / 255`), or the folded `Rescaling`.
    pub pixels: PixelScaling,
    /// The factor the float model's input was the pixel times in training (`1 / 255`, or 1
    /// for a model that starts with `Rescaling`).
    pub host_scale: f32,
    /// The layers, in order.
    pub layers: Vec<FloatLayer>,
}

fn blob_shape(s: Shape) -> BlobShape {
    match s {
        Shape::Image { h, w, c } => BlobShape::new(h as u32, w as u32, c as u32),
        Shape::Flat(n) => BlobShape::new(1, 1, n as u32),
    }
}

fn blob_padding(p: Padding) -> BlobPadding {
    match p {
        Padding::Valid => BlobPadding::Valid,
        Padding::Same => BlobPadding::Same,
    }
}

/// Converts `model` into blob layers: Conv2D (square kernel and stride, valid/same, ReLU or
/// linear), MaxPooling2D / AveragePooling2D (square window and stride), Flatten, Dense (ReLU or
/// linear), a softmax or sigmoid on the last layer, Dropout (dropped: identity at inference),
/// and `Rescaling` as the first layer (folded into the input: the board's pixels are its
/// input). Anything else is [`QuantizeError::Unsupported`] naming the layer; non-finite
/// weights are [`QuantizeError::NonFiniteWeight`].
///
/// `input_scale` is what the float model's input was the 8-bit pixel multiplied by in
/// training; `None` is `host fit`'s default: 1 when the model starts with `Rescaling`, else
/// `1 / 255`.
pub fn from_model(model: &Model, input_scale: Option<f32>) -> Result<FloatNetwork, QuantizeError> {
    let host_scale = input_scale.unwrap_or(if model.starts_with_rescaling() {
        1.0
    } else {
        1.0 / 255.0
    });
    if !(host_scale.is_finite() && host_scale > 0.0) {
        return Err(QuantizeError::Architecture {
            reason: format!("input scale {host_scale} must be finite and positive"),
        });
    }
    let mut layers = Vec::new();
    let mut pixels = if host_scale == 1.0 / 255.0 {
        PixelScaling::Unit
    } else {
        PixelScaling::Rescale {
            scale: host_scale,
            offset: 0.0,
        }
    };
    let count = model.layers().len();
    for (i, (layer, params)) in model.layers().iter().zip(model.params()).enumerate() {
        let class = layer.kind.class_name();
        let unsupported = |reason: String| QuantizeError::Unsupported {
            layer: layer.name.clone(),
            class,
            reason,
        };
        let last = i + 1 == count;
        let activation = |a: Activation| match a {
            Activation::Linear => Ok(BlobActivation::None),
            Activation::Relu => Ok(BlobActivation::Relu),
            Activation::Softmax if last => Ok(BlobActivation::Softmax),
            Activation::Sigmoid if last => Ok(BlobActivation::Sigmoid),
            Activation::Softmax | Activation::Sigmoid => Err(unsupported(format!(
                "{a:?} is only supported on the last layer"
            ))),
        };
        let square = |what: &str, [a, b]: [usize; 2]| {
            if a == b {
                u32::try_from(a).map_err(|_| unsupported(format!("{what} {a} is too large")))
            } else {
                Err(unsupported(format!("non-square {what} {a}×{b}")))
            }
        };
        let kind = match layer.kind {
            LayerKind::Conv2D(c) => BlobKind::Conv2d {
                kernel: square("kernel", c.kernel_size)?,
                stride: square("stride", c.strides)?,
                padding: blob_padding(c.padding),
                filters: c.filters as u32,
                activation: activation(c.activation)?,
            },
            LayerKind::MaxPooling2D(p) => BlobKind::MaxPool2d {
                pool: square("pool size", p.0.pool_size)?,
                stride: square("stride", p.0.effective_strides())?,
                padding: blob_padding(p.0.padding),
            },
            LayerKind::AveragePooling2D(p) => BlobKind::AvgPool2d {
                pool: square("pool size", p.0.pool_size)?,
                stride: square("stride", p.0.effective_strides())?,
                padding: blob_padding(p.0.padding),
            },
            LayerKind::Flatten(_) => BlobKind::Flatten,
            LayerKind::Dense(d) => BlobKind::Dense {
                units: d.units as u32,
                activation: activation(d.activation)?,
            },
            LayerKind::Dropout(_) => continue,
            LayerKind::Preprocess(_) => {
                return Err(unsupported(
                    "preprocess_input (a pretrained base's channel normalisation) has no int8 \
                     device kernel"
                        .into(),
                ))
            }
            LayerKind::Rescaling(r) => {
                if i != 0 {
                    return Err(unsupported(
                        "only a first-layer Rescaling folds into the input quantization".into(),
                    ));
                }
                if !(r.scale.is_finite() && r.offset.is_finite()) || r.scale == 0.0 {
                    return Err(unsupported(format!(
                        "scale {} and offset {} must be finite, the scale non-zero",
                        r.scale, r.offset
                    )));
                }
                pixels = PixelScaling::Rescale {
                    scale: if host_scale == 1.0 {
                        r.scale
                    } else {
                        host_scale * r.scale
                    },
                    offset: r.offset,
                };
                continue;
            }
        };
        let desc = LayerDesc {
            kind,
            input: blob_shape(model.layer_input_shape(i)),
            output: blob_shape(model.output_shapes()[i]),
        };
        let find = |name: &str| params.iter().find(|p| p.name == name);
        let (kernel, bias) = match find("kernel") {
            None => (Vec::new(), Vec::new()),
            Some(k) => {
                let out = match kind {
                    BlobKind::Conv2d { filters, .. } => filters as usize,
                    BlobKind::Dense { units, .. } => units as usize,
                    _ => 0,
                };
                let bias = find("bias").map_or_else(|| vec![0.0; out], |b| b.values.clone());
                (k.values.clone(), bias)
            }
        };
        for (tensor, values) in [("kernel", &kernel), ("bias", &bias)] {
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return Err(QuantizeError::NonFiniteWeight {
                    layer: layer.name.clone(),
                    tensor,
                    index,
                });
            }
        }
        layers.push(FloatLayer {
            name: layer.name.clone(),
            source: i,
            class,
            desc,
            kernel,
            bias,
        });
    }
    if layers.is_empty() {
        return Err(QuantizeError::Architecture {
            reason: "the model has no layer the device runs".into(),
        });
    }
    if layers.len() > MAX_LAYERS {
        return Err(QuantizeError::Architecture {
            reason: format!(
                "{} device layers, a blob holds at most {MAX_LAYERS}",
                layers.len()
            ),
        });
    }
    Ok(FloatNetwork {
        input: blob_shape(model.input_shape()),
        pixels,
        host_scale,
        layers,
    })
}

/// The factor that turns a board's 8-bit pixel into the float model's input.
pub fn host_input_scale(net: &FloatNetwork) -> f32 {
    net.host_scale
}

/// Whether `net` is exactly the MNIST convnet `shared` has a hand-written fast path for.
pub fn is_mnist(net: &FloatNetwork) -> bool {
    check_mnist(net).is_ok()
}

/// Human-readable form of a layer description, in Keras terms:
/// `Conv2D(32, 3×3, stride 1, valid, relu) 28×28×1 → 26×26×32`.
pub fn describe(d: &LayerDesc) -> String {
    let shape = |s: BlobShape| format!("{}×{}×{}", s.h, s.w, s.c);
    let pad = |p: BlobPadding| match p {
        BlobPadding::Valid => "valid",
        BlobPadding::Same => "same",
    };
    let act = |a: BlobActivation| match a {
        BlobActivation::None => "linear",
        BlobActivation::Relu => "relu",
        BlobActivation::Softmax => "softmax",
        BlobActivation::Sigmoid => "sigmoid",
    };
    let kind = match d.kind {
        BlobKind::Conv2d {
            kernel,
            stride,
            padding,
            filters,
            activation,
        } => format!(
            "Conv2D({filters}, {kernel}×{kernel}, stride {stride}, {}, {})",
            pad(padding),
            act(activation)
        ),
        BlobKind::MaxPool2d {
            pool,
            stride,
            padding,
        } => format!(
            "MaxPooling2D({pool}×{pool}, stride {stride}, {})",
            pad(padding)
        ),
        BlobKind::AvgPool2d {
            pool,
            stride,
            padding,
        } => format!(
            "AveragePooling2D({pool}×{pool}, stride {stride}, {})",
            pad(padding)
        ),
        BlobKind::Flatten => "Flatten()".to_string(),
        BlobKind::Dense { units, activation } => format!("Dense({units}, {})", act(activation)),
        BlobKind::Relu => "ReLU()".to_string(),
    };
    format!("{kind} {} → {}", shape(d.input), shape(d.output))
}

/// Checks that `net` is exactly the MNIST convnet of `shared` (the only network the device
/// binds), listing every differing layer.
pub fn check_mnist(net: &FloatNetwork) -> Result<(), QuantizeError> {
    let mut problems = Vec::new();
    if net.pixels != PixelScaling::Unit {
        problems
            .push("the input is a folded Rescaling, the MNIST network takes pixel / 255".into());
    }
    if net.input != MNIST_INPUT {
        problems.push(format!(
            "input is {}×{}×{}, the device network takes 28×28×1",
            net.input.h, net.input.w, net.input.c
        ));
    }
    for (i, expected) in MNIST_ARCH.iter().enumerate() {
        match net.layers.get(i) {
            Some(l) if l.desc == *expected => {}
            Some(l) => problems.push(format!(
                "layer {i} ({}) is {}, expected {}",
                l.name,
                describe(&l.desc),
                describe(expected)
            )),
            None => problems.push(format!(
                "layer {i} is missing, expected {}",
                describe(expected)
            )),
        }
    }
    for (i, l) in net.layers.iter().enumerate().skip(MNIST_ARCH.len()) {
        problems.push(format!(
            "extra layer {i} ({}): {}",
            l.name,
            describe(&l.desc)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(QuantizeError::Architecture {
            reason: problems.join("; "),
        })
    }
}
