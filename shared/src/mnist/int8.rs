//! The int8 MNIST network over a decoded blob.

use crate::blob::check;
use crate::blob::{Blob, BlobError, LayerRecord, WeightFormat};
use crate::float::WeightLenError;
use crate::int8::{softmax_dequantized, ConvI8Weights, DenseI8Weights, QuantLayerError, Requant};
use crate::mnist::arch::{MNIST_ARCH, MNIST_CLASSES, MNIST_NET, MNIST_PIXELS};
use crate::mnist::bind::mnist_records;
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

fn requant<'a, const CO: usize>(
    layer: usize,
    record: &LayerRecord<'a>,
    input: QuantParams,
    relu: bool,
) -> Result<Requant<'a, CO>, BlobError> {
    let q = check::layer_quant(layer, record)?;
    let err = |source: QuantLayerError| BlobError::Layer { layer, source };
    if q.weight_scales.len() != CO * 4 {
        return Err(err(QuantLayerError::Length(WeightLenError {
            tensor: "weight_scales",
            expected: CO * 4,
            found: q.weight_scales.len(),
            unit: "bytes",
        })));
    }
    Requant::new(
        record.bias,
        q.multipliers,
        q.shifts,
        input.zero_point,
        q.output.zero_point,
        relu,
    )
    .map_err(err)
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
        let r = mnist_records(blob, WeightFormat::Int8)?;
        let input_quant = blob.header().input_quant.ok_or(BlobError::Quant {
            layer: None,
            what: "missing input quantization",
        })?;
        let input_quant = check::activation(None, input_quant)?;
        let input_lut = pixel_lut(PixelScaling::Unit, input_quant);
        let kernel_err =
            |layer: usize| move |source: QuantLayerError| BlobError::Layer { layer, source };

        let rq1 = requant::<32>(0, &r[0], input_quant, true)?;
        let conv1 = ConvI8Weights::new(r[0].weights, rq1).map_err(kernel_err(0))?;
        let q0 = check::layer_quant(0, &r[0])?.output;
        let q1 = check::passthrough(1, &r[1], q0)?;
        let rq2 = requant::<64>(2, &r[2], q1, true)?;
        let conv2 = ConvI8Weights::new(r[2].weights, rq2).map_err(kernel_err(2))?;
        let q2 = check::layer_quant(2, &r[2])?.output;
        let q3 = check::passthrough(3, &r[3], q2)?;
        let rq3 = requant::<128>(4, &r[4], q3, true)?;
        let conv3 = ConvI8Weights::new(r[4].weights, rq3).map_err(kernel_err(4))?;
        let q4 = check::layer_quant(4, &r[4])?.output;
        let q5 = check::passthrough(5, &r[5], q4)?;
        let rq4 = requant::<10>(6, &r[6], q5, false)?;
        let dense = DenseI8Weights::new(r[6].weights, rq4).map_err(kernel_err(6))?;
        let q6 = check::layer_quant(6, &r[6])?.output;
        Ok(Self {
            input_quant,
            input_lut,
            conv1,
            conv2,
            conv3,
            dense,
            layer_quant: [q0, q1, q2, q3, q4, q5, q6],
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
