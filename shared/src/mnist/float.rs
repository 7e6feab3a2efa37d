//! The f32 MNIST network (f32 or f16 weights) over a decoded blob.

use core::marker::PhantomData;

use crate::blob::check::weightless as check_weightless;
use crate::blob::{Blob, BlobError, LayerRecord};
use crate::float::{softmax, ConvWeights, DenseWeights, WeightLenError};
use crate::int8::QuantLayerError;
use crate::mnist::arch::{MNIST_ARCH, MNIST_CLASSES, MNIST_NET, MNIST_PIXELS};
use crate::mnist::bind::mnist_records;
use crate::mnist::observer::LayerOutput;
use crate::mnist::scratch::MnistScratchF32;
use crate::tensor::{TensorMut, TensorRef};
use crate::weights::{F16Le, F32Le, FromBlobBytes};

/// Result of a float prediction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PredictionF32 {
    /// The predicted digit (argmax; lowest index on ties).
    pub digit: u8,
    /// Softmax probabilities.
    pub probabilities: [f32; MNIST_CLASSES],
}

/// The MNIST network with f32 activations over a float blob whose weights are stored as `S`.
#[derive(Clone, Copy, Debug)]
pub struct MnistFloat<'a, S> {
    conv1: ConvWeights<S, 3, 1, 32>,
    conv2: ConvWeights<S, 3, 32, 64>,
    conv3: ConvWeights<S, 3, 64, 128>,
    dense: DenseWeights<S, 1152, 10>,
    _blob: PhantomData<&'a [u8]>,
}

/// The MNIST network over an f32 blob.
pub type MnistF32<'a> = MnistFloat<'a, F32Le<'a>>;
/// The MNIST network over an f16 blob (weights widened to f32 on the fly).
pub type MnistF16<'a> = MnistFloat<'a, F16Le<'a>>;

fn store<'a, S: FromBlobBytes<'a>>(
    layer: usize,
    tensor: &'static str,
    bytes: &'a [u8],
) -> Result<S, BlobError> {
    S::from_blob_bytes(bytes).ok_or(BlobError::ByteLength {
        layer,
        tensor,
        bytes: bytes.len(),
        value_size: S::FORMAT.value_size(),
    })
}

fn len_err(layer: usize) -> impl Fn(WeightLenError) -> BlobError {
    move |e| BlobError::Layer {
        layer,
        source: QuantLayerError::Length(e),
    }
}

fn conv<'a, S: FromBlobBytes<'a>, const K: usize, const CI: usize, const CO: usize>(
    layer: usize,
    r: &LayerRecord<'a>,
) -> Result<ConvWeights<S, K, CI, CO>, BlobError> {
    ConvWeights::new(
        store(layer, "kernel", r.weights)?,
        store(layer, "bias", r.bias)?,
    )
    .map_err(len_err(layer))
}

impl<'a, S: FromBlobBytes<'a>> MnistFloat<'a, S> {
    /// Decodes a float blob and binds it to the network (see [`MnistFloat::from_decoded`]).
    pub fn from_blob(bytes: &'a [u8]) -> Result<Self, BlobError> {
        Self::from_decoded(&Blob::decode(bytes)?)
    }

    /// Binds a decoded blob: checks the format (`S::FORMAT`), the architecture
    /// ([`MNIST_ARCH`]) and every weight length.
    pub fn from_decoded(blob: &Blob<'a>) -> Result<Self, BlobError> {
        let r = mnist_records(blob, S::FORMAT)?;
        for layer in [1, 3, 5] {
            check_weightless(layer, &r[layer])?;
        }
        let dense = DenseWeights::new(
            store(6, "kernel", r[6].weights)?,
            store(6, "bias", r[6].bias)?,
        )
        .map_err(len_err(6))?;
        Ok(Self {
            conv1: conv(0, &r[0])?,
            conv2: conv(2, &r[2])?,
            conv3: conv(4, &r[4])?,
            dense,
            _blob: PhantomData,
        })
    }

    /// Classifies a 28×28 image of 8-bit pixels (real input `pixel / 255`).
    pub fn predict(
        &self,
        image: &[u8; MNIST_PIXELS],
        scratch: &mut MnistScratchF32,
    ) -> PredictionF32 {
        self.predict_observed(image, scratch, |_| {})
    }

    /// [`MnistFloat::predict`], calling `observe` with every layer's output in order.
    pub fn predict_observed<F: FnMut(LayerOutput<'_, f32>)>(
        &self,
        image: &[u8; MNIST_PIXELS],
        scratch: &mut MnistScratchF32,
        observe: F,
    ) -> PredictionF32 {
        for (o, &p) in scratch.a.iter_mut().zip(image) {
            *o = p as f32 / 255.0;
        }
        self.run(scratch, observe)
    }

    /// Classifies a real-valued input (row-major 28×28), calling `observe` with every layer's
    /// output.
    pub fn predict_f32<F: FnMut(LayerOutput<'_, f32>)>(
        &self,
        input: &[f32; MNIST_PIXELS],
        scratch: &mut MnistScratchF32,
        observe: F,
    ) -> PredictionF32 {
        scratch.a[..MNIST_PIXELS].copy_from_slice(input);
        self.run(scratch, observe)
    }

    fn run<F: FnMut(LayerOutput<'_, f32>)>(
        &self,
        s: &mut MnistScratchF32,
        mut observe: F,
    ) -> PredictionF32 {
        let net = &MNIST_NET;
        let mut emit = |index: usize, data: &[f32]| {
            observe(LayerOutput {
                index,
                desc: MNIST_ARCH[index],
                data: &data[..MNIST_ARCH[index].output.len()],
                quant: None,
            })
        };
        net.conv1.forward(
            &self.conv1,
            TensorRef::from_arena(&s.a),
            TensorMut::from_arena(&mut s.b),
        );
        emit(0, &s.b);
        net.pool1
            .forward(TensorRef::from_arena(&s.b), TensorMut::from_arena(&mut s.a));
        emit(1, &s.a);
        net.conv2.forward(
            &self.conv2,
            TensorRef::from_arena(&s.a),
            TensorMut::from_arena(&mut s.b),
        );
        emit(2, &s.b);
        net.pool2
            .forward(TensorRef::from_arena(&s.b), TensorMut::from_arena(&mut s.a));
        emit(3, &s.a);
        net.conv3.forward(
            &self.conv3,
            TensorRef::from_arena(&s.a),
            TensorMut::from_arena(&mut s.b),
        );
        emit(4, &s.b);
        let flat = net.flatten.apply(TensorRef::from_arena(&s.b));
        emit(5, flat.data());
        net.dense
            .forward(&self.dense, flat, TensorMut::from_arena(&mut s.a));
        emit(6, &s.a);
        let mut logits = [0f32; MNIST_CLASSES];
        logits.copy_from_slice(&s.a[..MNIST_CLASSES]);
        PredictionF32 {
            digit: crate::float::argmax(&logits) as u8,
            probabilities: softmax(&logits),
        }
    }
}
