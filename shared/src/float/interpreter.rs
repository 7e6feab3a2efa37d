//! Any f32 or f16 blob, run layer by layer with f32 activations: the float counterpart of
//! [`crate::int8::interpreter`]. Binding validates the blob once (the layer chain and every
//! shape by the layer plan it shares with the int8 interpreter, then every weight array's
//! length in values of the blob's format) and plans the arena; a run then only calls
//! [`crate::float::kernels`]. Weights stay borrowed from the blob bytes (f16 widened to f32 as
//! they are read); nothing allocates.

use core::marker::PhantomData;

use crate::blob::check;
use crate::blob::{Activation, Blob, BlobError, LayerRecord, Shape, MAX_LAYERS};
use crate::float::kernels;
use crate::float::WeightLenError;
use crate::int8::interpreter::RunError;
use crate::int8::QuantLayerError;
use crate::plan::{self, split, Geometry, Plan};
use crate::quant::PixelScaling;
use crate::weights::{F16Le, F32Le, FromBlobBytes};
use crate::window::{max_pool, Window2d};

/// One validated layer.
#[derive(Clone, Copy, Debug)]
enum Step<S> {
    Conv {
        window: Window2d,
        filters: usize,
        relu: bool,
        kernel: S,
        bias: S,
    },
    MaxPool(Window2d),
    AvgPool(Window2d),
    Dense {
        units: usize,
        relu: bool,
        kernel: S,
        bias: S,
    },
    Flatten,
    Relu,
}

/// A float blob bound for inference, weights stored as `S` ([`F32Le`] or [`F16Le`]), for
/// blobs of up to `L` layers (default [`MAX_LAYERS`]).
#[derive(Clone, Copy, Debug)]
pub struct FloatInterpreter<'a, S, const L: usize = MAX_LAYERS> {
    steps: [Option<Step<S>>; L],
    plan: Plan<L>,
    input: Shape,
    pixels: PixelScaling,
    _blob: PhantomData<&'a [u8]>,
}

/// Any f32 blob.
pub type InterpreterF32<'a, const L: usize = MAX_LAYERS> = FloatInterpreter<'a, F32Le<'a>, L>;
/// Any f16 blob (weights widened to f32 on the fly).
pub type InterpreterF16<'a, const L: usize = MAX_LAYERS> = FloatInterpreter<'a, F16Le<'a>, L>;

/// Blob bytes as `n` values of `S`, or an error naming the layer and the array.
fn values<'a, S: FromBlobBytes<'a>>(
    layer: usize,
    tensor: &'static str,
    bytes: &'a [u8],
    n: usize,
) -> Result<S, BlobError> {
    let store = S::from_blob_bytes(bytes).ok_or(BlobError::ByteLength {
        layer,
        tensor,
        bytes: bytes.len(),
        value_size: S::FORMAT.value_size(),
    })?;
    if store.len() != n {
        return Err(BlobError::Layer {
            layer,
            source: QuantLayerError::Length(WeightLenError {
                tensor,
                expected: n,
                found: store.len(),
                unit: "values",
            }),
        });
    }
    Ok(store)
}

/// The float step of a layer whose geometry the plan checked.
fn float_step<'a, S: FromBlobBytes<'a>>(
    layer: usize,
    r: &LayerRecord<'a>,
    g: Geometry,
) -> Result<Step<S>, BlobError> {
    let weightless = |step| check::weightless(layer, r).map(|()| step);
    match g {
        Geometry::Conv {
            window,
            filters,
            activation,
            kernel_len,
        } => Ok(Step::Conv {
            window,
            filters,
            relu: activation == Activation::Relu,
            kernel: values(layer, "kernel", r.weights, kernel_len)?,
            bias: values(layer, "bias", r.bias, filters)?,
        }),
        Geometry::Dense {
            inputs,
            units,
            activation,
        } => Ok(Step::Dense {
            units,
            relu: activation == Activation::Relu,
            // The plan checked that `inputs * units` fits.
            kernel: values(layer, "kernel", r.weights, inputs.saturating_mul(units))?,
            bias: values(layer, "bias", r.bias, units)?,
        }),
        Geometry::MaxPool(g) => weightless(Step::MaxPool(g)),
        Geometry::AvgPool(g) => weightless(Step::AvgPool(g)),
        Geometry::Flatten => weightless(Step::Flatten),
        Geometry::Relu => weightless(Step::Relu),
    }
}

impl<'a, S: FromBlobBytes<'a>> FloatInterpreter<'a, S> {
    /// Decodes and binds a float blob of up to [`MAX_LAYERS`] layers.
    pub fn from_blob(bytes: &'a [u8]) -> Result<Self, BlobError> {
        Self::bind(bytes)
    }

    /// Validates every layer of a decoded float blob and plans the arena.
    pub fn from_decoded(blob: &Blob<'a>) -> Result<Self, BlobError> {
        Self::bind_decoded(blob)
    }
}

impl<'a, S: FromBlobBytes<'a>, const L: usize> FloatInterpreter<'a, S, L> {
    /// Decodes and binds a float blob of up to `L` layers (see [`FloatInterpreter::bind_decoded`]).
    pub fn bind(bytes: &'a [u8]) -> Result<Self, BlobError> {
        Self::bind_decoded(&Blob::decode(bytes)?)
    }

    /// Validates every layer of a blob stored in `S::FORMAT` and plans the arena.
    pub fn bind_decoded(blob: &Blob<'a>) -> Result<Self, BlobError> {
        if blob.format() != S::FORMAT {
            return Err(BlobError::WrongFormat {
                expected: S::FORMAT,
                found: blob.format(),
            });
        }
        let mut steps = [None; L];
        let plan = plan::walk::<L>(blob, |layer, r, g| {
            let step = float_step::<S>(layer, r, g)?;
            if let Some(s) = steps.get_mut(layer) {
                *s = Some(step);
            }
            Ok(())
        })?;
        Ok(Self {
            steps,
            plan,
            input: blob.header().input,
            pixels: blob.header().pixels,
            _blob: PhantomData,
        })
    }

    /// f32 values of activation arena a run needs.
    pub fn arena_len(&self) -> usize {
        self.plan.arena_len
    }

    /// The input shape.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// Values of the input (`h * w * c`).
    pub fn input_len(&self) -> usize {
        self.plan.input_len
    }

    /// Values of the output (the last layer's).
    pub fn output_len(&self) -> usize {
        self.plan.output_len()
    }

    /// Number of layers.
    pub fn layer_count(&self) -> usize {
        self.plan.count
    }

    /// How a pixel becomes the real input.
    pub fn pixels(&self) -> PixelScaling {
        self.pixels
    }

    /// The last layer's activation (softmax and sigmoid are left to the caller: the output is
    /// the logits).
    pub fn output_activation(&self) -> Activation {
        self.plan.output_activation
    }

    /// The class of an output (from a run): the first index of the largest logit, or for a
    /// one-unit sigmoid output 1 when the logit is positive, else 0.
    pub fn class_of(&self, output: &[f32]) -> usize {
        match output {
            [logit] if self.plan.output_activation == Activation::Sigmoid => {
                usize::from(*logit > 0.0)
            }
            _ => crate::float::argmax(output),
        }
    }

    /// Runs the model on 8-bit pixels (HWC; real value as [`FloatInterpreter::pixels`] says)
    /// and returns the last layer's output, the logits (a slice of `arena`).
    pub fn run<'b>(&self, pixels: &[u8], arena: &'b mut [f32]) -> Result<&'b [f32], RunError> {
        self.run_observed(pixels, arena, |_, _| {})
    }

    /// [`FloatInterpreter::run`], calling `observe(layer, output)` after every layer.
    pub fn run_observed<'b, F: FnMut(usize, &[f32])>(
        &self,
        pixels: &[u8],
        arena: &'b mut [f32],
        observe: F,
    ) -> Result<&'b [f32], RunError> {
        let arena = self.arena(pixels.len(), arena)?;
        let scaling = self.pixels;
        for (o, &p) in arena.iter_mut().zip(pixels) {
            *o = scaling.real(p);
        }
        Ok(self.run_in_arena(arena, observe))
    }

    /// Runs the model on a real-valued input (HWC, `h * w * c` values), calling
    /// `observe(layer, output)` after every layer.
    pub fn run_real<'b, F: FnMut(usize, &[f32])>(
        &self,
        input: &[f32],
        arena: &'b mut [f32],
        observe: F,
    ) -> Result<&'b [f32], RunError> {
        let arena = self.arena(input.len(), arena)?;
        arena[..input.len()].copy_from_slice(input);
        Ok(self.run_in_arena(arena, observe))
    }

    /// The first [`FloatInterpreter::arena_len`] values of `arena`, after checking the input
    /// and arena sizes.
    fn arena<'b>(&self, input_len: usize, arena: &'b mut [f32]) -> Result<&'b mut [f32], RunError> {
        let n = self.input_len();
        if input_len != n {
            return Err(RunError::InputLength {
                expected: n,
                found: input_len,
            });
        }
        let needed = self.plan.arena_len;
        if arena.len() < needed {
            return Err(RunError::Arena {
                needed,
                found: arena.len(),
            });
        }
        Ok(&mut arena[..needed])
    }

    /// The layers on the input at the start of `arena` (exactly `arena_len` values), as the
    /// int8 interpreter: each layer reads one end of the arena and writes the other.
    fn run_in_arena<'b, F: FnMut(usize, &[f32])>(
        &self,
        arena: &'b mut [f32],
        mut observe: F,
    ) -> &'b [f32] {
        let mut start = 0; // the current activation is `arena[start..start + len]`
        let mut len = self.plan.input_len;
        let steps = self.steps[..self.plan.count].iter().flatten();
        for (layer, (step, &out_len)) in steps.zip(&self.plan.lens).enumerate() {
            match step {
                Step::Flatten => {}
                Step::Relu => super::relu(&mut arena[start..start + len]),
                Step::Conv {
                    window,
                    filters,
                    relu,
                    kernel,
                    bias,
                } => {
                    let (x, out, at) = split(arena, start, len, out_len);
                    kernels::conv2d(window, *filters, *kernel, *bias, *relu, x, out);
                    start = at;
                }
                Step::MaxPool(g) => {
                    let (x, out, at) = split(arena, start, len, out_len);
                    max_pool(g, x, out, f32::NEG_INFINITY);
                    start = at;
                }
                Step::AvgPool(g) => {
                    let (x, out, at) = split(arena, start, len, out_len);
                    kernels::avg_pool(g, x, out);
                    start = at;
                }
                Step::Dense {
                    units,
                    relu,
                    kernel,
                    bias,
                } => {
                    let (x, out, at) = split(arena, start, len, out_len);
                    kernels::dense(*units, *kernel, *bias, *relu, x, out);
                    start = at;
                }
            }
            len = out_len;
            observe(layer, &arena[start..start + len]);
        }
        &arena[start..start + len]
    }
}
