//! From a host [`Model`] to the layer list of a blob: the `shared` layer descriptions plus the
//! float weights in Keras layout, checked against the network the device runs.

use shared::blob::{
    Activation as BlobActivation, LayerDesc, LayerKind as BlobKind, Shape as BlobShape,
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

/// The exported network: input shape and layers (dropout removed).
#[derive(Clone, Debug, PartialEq)]
pub struct FloatNetwork {
    /// Input shape (HWC).
    pub input: BlobShape,
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

/// Converts `model` into blob layers. Dropout is dropped (identity at inference); `Rescaling`
/// and sigmoid outputs have no device counterpart and are rejected, as are non-square kernels,
/// windows and strides, and non-finite weights.
pub fn from_model(model: &Model) -> Result<FloatNetwork, QuantizeError> {
    let mut layers = Vec::new();
    for (i, (layer, params)) in model.layers().iter().zip(model.params()).enumerate() {
        let class = layer.kind.class_name();
        let unsupported = |reason: String| QuantizeError::Unsupported {
            layer: layer.name.clone(),
            class,
            reason,
        };
        let activation = |a: Activation| match a {
            Activation::Linear => Ok(BlobActivation::None),
            Activation::Relu => Ok(BlobActivation::Relu),
            Activation::Softmax => Ok(BlobActivation::Softmax),
            Activation::Sigmoid => Err(unsupported(
                "sigmoid activation has no int8 device kernel".into(),
            )),
        };
        let square = |what: &str, [a, b]: [usize; 2]| {
            if a == b {
                Ok(a as u32)
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
            LayerKind::Rescaling(_) => {
                return Err(unsupported(
                    "the device feeds pixels / 255 directly; train without a Rescaling layer"
                        .into(),
                ))
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
            class,
            desc,
            kernel,
            bias,
        });
    }
    Ok(FloatNetwork {
        input: blob_shape(model.input_shape()),
        layers,
    })
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
