//! The f32 MNIST network (f32 or f16 weights): the float interpreter on the MNIST architecture.

use crate::blob::{Blob, BlobError};
use crate::float::interpreter::FloatInterpreter;
use crate::float::softmax;
use crate::int8::interpreter::RunError;
use crate::mnist::arch::{MNIST_ARCH, MNIST_CLASSES, MNIST_PIXELS};
use crate::mnist::bind::check_mnist_arch;
use crate::mnist::observer::LayerOutput;
use crate::mnist::scratch::MnistScratchF32;
use crate::weights::{F16Le, F32Le, FromBlobBytes};

/// Result of a float prediction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PredictionF32 {
    /// The predicted digit (argmax; lowest index on ties).
    pub digit: u8,
    /// Softmax probabilities.
    pub probabilities: [f32; MNIST_CLASSES],
}

/// The MNIST network with f32 activations over a float blob whose weights are stored as `S`:
/// the float interpreter ([`FloatInterpreter`]) bound to a blob that has been checked to be
/// the MNIST architecture ([`MNIST_ARCH`]), with fixed-size input, arena and answer.
#[derive(Clone, Copy, Debug)]
pub struct MnistFloat<'a, S>(FloatInterpreter<'a, S, 7>);

/// The MNIST network over an f32 blob.
pub type MnistF32<'a> = MnistFloat<'a, F32Le<'a>>;
/// The MNIST network over an f16 blob (weights widened to f32 on the fly).
pub type MnistF16<'a> = MnistFloat<'a, F16Le<'a>>;

impl<'a, S: FromBlobBytes<'a>> MnistFloat<'a, S> {
    /// Decodes a float blob and binds it to the network (see [`MnistFloat::from_decoded`]).
    pub fn from_blob(bytes: &'a [u8]) -> Result<Self, BlobError> {
        Self::from_decoded(&Blob::decode(bytes)?)
    }

    /// Binds a decoded blob: checks the format (`S::FORMAT`) and the architecture
    /// ([`MNIST_ARCH`]), then the interpreter checks every weight length.
    pub fn from_decoded(blob: &Blob<'a>) -> Result<Self, BlobError> {
        check_mnist_arch(blob, S::FORMAT)?;
        FloatInterpreter::bind_decoded(blob).map(Self)
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
        mut observe: F,
    ) -> PredictionF32 {
        let run = self
            .0
            .run_observed(image, &mut scratch.data, |i, data| observe(output(i, data)));
        prediction(run)
    }

    /// Classifies a real-valued input (row-major 28×28), calling `observe` with every layer's
    /// output.
    pub fn predict_f32<F: FnMut(LayerOutput<'_, f32>)>(
        &self,
        input: &[f32; MNIST_PIXELS],
        scratch: &mut MnistScratchF32,
        mut observe: F,
    ) -> PredictionF32 {
        let run = self
            .0
            .run_real(input, &mut scratch.data, |i, data| observe(output(i, data)));
        prediction(run)
    }
}

fn output(index: usize, data: &[f32]) -> LayerOutput<'_, f32> {
    LayerOutput {
        index,
        desc: MNIST_ARCH.get(index).copied().unwrap_or(MNIST_ARCH[0]),
        data,
        quant: None,
    }
}

/// The answer for the logits. The input and arena sizes are fixed by the types, so the run
/// cannot fail; if it ever did, the answer is digit 0 with zero probabilities, not a panic.
fn prediction(run: Result<&[f32], RunError>) -> PredictionF32 {
    let mut logits = [0f32; MNIST_CLASSES];
    match run {
        Ok(out) if out.len() == MNIST_CLASSES => logits.copy_from_slice(out),
        _ => {
            return PredictionF32 {
                digit: 0,
                probabilities: [0.0; MNIST_CLASSES],
            }
        }
    }
    PredictionF32 {
        digit: crate::float::argmax(&logits) as u8,
        probabilities: softmax(&logits),
    }
}
