//! The int8 MNIST network over a decoded blob.

use crate::blob::check;
use crate::blob::{Blob, BlobError, LayerKind, LayerRecord, WeightFormat};
use crate::float::WeightLenError;
use crate::int8::{
    softmax_dequantized, ChannelRequant, ConvI8Weights, DenseI8Weights, QuantLayerError, Requant,
};
use crate::mnist::arch::{MNIST_ARCH, MNIST_CLASSES, MNIST_NET, MNIST_PIXELS};
use crate::mnist::bind::check_mnist_arch;
use crate::mnist::observer::LayerOutput;
use crate::mnist::scratch::MnistScratchI8;
use crate::quant::{pixel_lut, PixelScaling, QuantParams};
use crate::tensor::{TensorMut, TensorRef};

/// Result of an int8 prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PredictionI8 {
    /// The predicted digit (argmax of the logits; lowest index on ties).
    pub digit: u8,
    /// The int8 logits of the dense layer (before softmax), quantized with
    /// [`MnistInt8::output_quant`].
    pub scores: [i8; MNIST_CLASSES],
}

/// The int8 MNIST network bound to an int8 blob. Weights are borrowed from the blob bytes.
#[derive(Clone, Copy, Debug)]
pub struct MnistInt8<'a> {
    input_quant: QuantParams,
    input_lut: [i8; 256],
    conv1: ConvI8Weights<'a, 3, 1, 32>,
    conv2: ConvI8Weights<'a, 3, 32, 64>,
    conv3: ConvI8Weights<'a, 3, 64, 128>,
    dense: DenseI8Weights<'a, 1152, 10>,
    layer_quant: [QuantParams; 7],
}

/// Layer `layer`'s requantization for `channels` output channels. Not generic over the
/// channel count and not inlined: one copy serves the four weighted layers (-1 KiB of flash
/// on the device).
#[inline(never)]
fn channel_requant<'a>(
    layer: usize,
    record: &LayerRecord<'a>,
    channels: usize,
    input: QuantParams,
    relu: bool,
) -> Result<ChannelRequant<'a>, BlobError> {
    let q = check::layer_quant(layer, record)?;
    let err = |source: QuantLayerError| BlobError::Layer { layer, source };
    if q.weight_scales.len() != channels * 4 {
        return Err(err(QuantLayerError::Length(WeightLenError {
            tensor: "weight_scales",
            expected: channels * 4,
            found: q.weight_scales.len(),
            unit: "bytes",
        })));
    }
    ChannelRequant::new(
        channels,
        record.bias,
        q.multipliers,
        q.shifts,
        input.zero_point,
        q.output.zero_point,
        relu,
    )
    .map_err(err)
}

/// A weighted layer's typed view (`new` is the view's constructor) over its kernel and
/// requantization; an error naming the layer if either has the wrong size.
fn view<'a, T, const CO: usize>(
    layer: usize,
    weights: Option<(&'a [u8], ChannelRequant<'a>)>,
    new: impl FnOnce(&'a [u8], Requant<'a, CO>) -> Result<T, QuantLayerError>,
) -> Result<T, BlobError> {
    let (kernel, rq) = weights.ok_or(BlobError::Quant {
        layer: Some(layer),
        what: "missing weights",
    })?;
    Requant::from_channels(rq)
        .and_then(|rq| new(kernel, rq))
        .map_err(|source| BlobError::Layer { layer, source })
}

impl<'a> MnistInt8<'a> {
    /// Decodes an int8 blob and binds it to the network (see [`MnistInt8::from_decoded`]).
    pub fn from_blob(bytes: &'a [u8]) -> Result<Self, BlobError> {
        Self::from_decoded(&Blob::decode(bytes)?)
    }

    /// Binds a decoded blob: checks the format ([`WeightFormat::Int8`]), the architecture
    /// ([`MNIST_ARCH`]), every weight and per-channel array length, shift and zero-point
    /// ranges, and that pooling keeps its input's quantization. Builds the 256-entry input
    /// quantization table (the only float work, done here once).
    pub fn from_decoded(blob: &Blob<'a>) -> Result<Self, BlobError> {
        check_mnist_arch(blob, WeightFormat::Int8)?;
        let input_quant = blob.header().input_quant.ok_or(BlobError::Quant {
            layer: None,
            what: "missing input quantization",
        })?;
        let input_quant = check::activation(None, input_quant)?;
        let input_lut = pixel_lut(PixelScaling::Unit, input_quant);
        // One pass over the layers (one copy of the checks): the four weighted layers'
        // requantization, in order, and every layer's output quantization.
        let mut weighted: [Option<(&'a [u8], ChannelRequant<'a>)>; 4] = [None; 4];
        let mut layer_quant = [input_quant; 7];
        let mut q = input_quant;
        for (layer, r) in blob.layers().enumerate().take(7) {
            q = match r.desc.kind {
                LayerKind::Conv2d { filters: n, .. } | LayerKind::Dense { units: n, .. } => {
                    let relu = layer != 6;
                    let rq = channel_requant(layer, &r, n as usize, q, relu)?;
                    weighted[layer / 2] = Some((r.weights, rq));
                    check::layer_quant(layer, &r)?.output
                }
                _ => check::passthrough(layer, &r, q)?,
            };
            layer_quant[layer] = q;
        }
        Ok(Self {
            input_quant,
            input_lut,
            conv1: view(0, weighted[0], ConvI8Weights::new)?,
            conv2: view(2, weighted[1], ConvI8Weights::new)?,
            conv3: view(4, weighted[2], ConvI8Weights::new)?,
            dense: view(6, weighted[3], DenseI8Weights::new)?,
            layer_quant,
        })
    }

    /// Quantization of the network input (real input is `pixel / 255`).
    pub fn input_quant(&self) -> QuantParams {
        self.input_quant
    }

    /// Quantization of the logits ([`PredictionI8::scores`]).
    pub fn output_quant(&self) -> QuantParams {
        self.layer_quant[6]
    }

    /// Output quantization of each layer.
    pub fn layer_quant(&self) -> &[QuantParams; 7] {
        &self.layer_quant
    }

    /// Quantizes 8-bit pixels to the int8 input (see [`crate::quant::quantize_pixel`]).
    pub fn quantize_image(&self, image: &[u8; MNIST_PIXELS], out: &mut [i8; MNIST_PIXELS]) {
        for (o, &p) in out.iter_mut().zip(image) {
            *o = self.input_lut[p as usize];
        }
    }

    /// Classifies a 28×28 image of 8-bit pixels (row-major, 0 = background as in MNIST).
    pub fn predict(
        &self,
        image: &[u8; MNIST_PIXELS],
        scratch: &mut MnistScratchI8,
    ) -> PredictionI8 {
        self.predict_observed(image, scratch, |_| {})
    }

    /// [`MnistInt8::predict`], calling `observe` with every layer's output in order.
    pub fn predict_observed<F: FnMut(LayerOutput<'_, i8>)>(
        &self,
        image: &[u8; MNIST_PIXELS],
        scratch: &mut MnistScratchI8,
        observe: F,
    ) -> PredictionI8 {
        for (o, &p) in scratch.a.iter_mut().zip(image) {
            *o = self.input_lut[p as usize];
        }
        self.run(scratch, observe)
    }

    /// Classifies an already quantized input (with [`MnistInt8::input_quant`]), calling
    /// `observe` with every layer's output.
    pub fn predict_quantized<F: FnMut(LayerOutput<'_, i8>)>(
        &self,
        input: &[i8; MNIST_PIXELS],
        scratch: &mut MnistScratchI8,
        observe: F,
    ) -> PredictionI8 {
        scratch.a[..MNIST_PIXELS].copy_from_slice(input);
        self.run(scratch, observe)
    }

    /// Softmax probabilities of int8 logits (dequantized, in float, outside the layers).
    pub fn probabilities(&self, scores: &[i8; MNIST_CLASSES]) -> [f32; MNIST_CLASSES] {
        softmax_dequantized(scores, self.output_quant())
    }

    fn run<F: FnMut(LayerOutput<'_, i8>)>(
        &self,
        s: &mut MnistScratchI8,
        mut observe: F,
    ) -> PredictionI8 {
        let net = &MNIST_NET;
        let mut emit = |index: usize, data: &[i8]| {
            observe(LayerOutput {
                index,
                desc: MNIST_ARCH[index],
                data: &data[..MNIST_ARCH[index].output.len()],
                quant: Some(self.layer_quant[index]),
            })
        };
        net.conv1.forward_i8(
            &self.conv1,
            TensorRef::from_arena(&s.a),
            TensorMut::from_arena(&mut s.b),
        );
        emit(0, &s.b);
        net.pool1
            .forward_i8(TensorRef::from_arena(&s.b), TensorMut::from_arena(&mut s.a));
        emit(1, &s.a);
        net.conv2.forward_i8(
            &self.conv2,
            TensorRef::from_arena(&s.a),
            TensorMut::from_arena(&mut s.b),
        );
        emit(2, &s.b);
        net.pool2
            .forward_i8(TensorRef::from_arena(&s.b), TensorMut::from_arena(&mut s.a));
        emit(3, &s.a);
        net.conv3.forward_i8(
            &self.conv3,
            TensorRef::from_arena(&s.a),
            TensorMut::from_arena(&mut s.b),
        );
        emit(4, &s.b);
        let flat = net.flatten.apply(TensorRef::from_arena(&s.b));
        emit(5, flat.data());
        net.dense
            .forward_i8(&self.dense, flat, TensorMut::from_arena(&mut s.a));
        emit(6, &s.a);
        let mut scores = [0i8; MNIST_CLASSES];
        scores.copy_from_slice(&s.a[..MNIST_CLASSES]);
        PredictionI8 {
            digit: crate::float::argmax(&scores) as u8,
            scores,
        }
    }
}
