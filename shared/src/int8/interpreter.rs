//! Any int8 blob, run layer by layer: the interpreter behind "any Sequential convnet on the
//! device". [`Interpreter::from_decoded`] validates the whole blob once (every shape against the one
//! before it, every weight and per-channel array length, shifts, multipliers and zero points,
//! and that no index a kernel computes can leave its slice), and plans the activation arena;
//! [`Interpreter::run`] then only calls the kernels of [`crate::int8::kernels`]. Weights stay
//! borrowed from the blob bytes (flash on the device); nothing allocates.
//!
//! **Arena plan.** Layer `i` reads its input from one end of the arena and writes its output
//! at the other end, so the arena needs `max_i (in_i + out_i)` bytes ([`Interpreter::arena_len`]);
//! `Flatten` moves nothing. For the MNIST network that is 27,040 bytes (conv1's 21,632-byte
//! output and pool1's 5,408), what the hand-written MNIST scratch uses.

use crate::blob::check;
use crate::blob::{Activation, Blob, BlobError, LayerRecord, Shape, WeightFormat, MAX_LAYERS};
use crate::int8::kernels;
use crate::int8::params::{ChannelRequant, QuantLayerError};
use crate::plan::{self, shape_err, split, Geometry, Plan};
use crate::quant::{pixel_lut, PixelScaling, QuantParams};
use crate::window::{max_pool, Window2d};

pub use crate::plan::MAX_POOL;

/// One validated layer.
#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    Conv {
        window: Window2d,
        filters: usize,
        kernel: &'a [u8],
        requant: ChannelRequant<'a>,
    },
    MaxPool(Window2d),
    AvgPool(Window2d),
    Dense {
        inputs: usize,
        kernel: &'a [u8],
        requant: ChannelRequant<'a>,
    },
    Flatten,
    Relu {
        zero_point: i8,
    },
}

/// Why [`Interpreter::run`] cannot run (the blob itself was validated by [`Interpreter::from_decoded`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The input has the wrong number of values.
    #[error("input of {found} values, the model takes {expected}")]
    InputLength {
        /// Values the model takes.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// The arena is smaller than [`Interpreter::arena_len`].
    #[error("arena of {found} bytes, the model needs {needed}")]
    Arena {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        found: usize,
    },
}

/// An int8 blob bound for inference (see the module docs), for blobs of up to `L` layers
/// (default [`MAX_LAYERS`], every blob). A device that knows its blob at build time sets `L` to
/// its layer count: the interpreter then takes ~90 bytes per layer instead of ~3 KiB, on the
/// stack while it is built and in RAM afterwards.
#[derive(Clone, Copy, Debug)]
pub struct Interpreter<'a, const L: usize = MAX_LAYERS> {
    steps: [Option<Step<'a>>; L],
    quant: [QuantParams; L],
    /// Layer lengths, count, arena.
    plan: Plan<L>,
    input: Shape,
    input_quant: QuantParams,
    input_lut: [i8; 256],
    pixels: PixelScaling,
}

fn requant<'a>(
    layer: usize,
    r: &LayerRecord<'a>,
    channels: usize,
    input: QuantParams,
    activation: Activation,
) -> Result<(ChannelRequant<'a>, QuantParams), BlobError> {
    let q = check::layer_quant(layer, r)?;
    let out = q.output;
    let err = |source: QuantLayerError| BlobError::Layer { layer, source };
    // A softmax or sigmoid (only on the last layer, checked by the plan) keeps int8 logits;
    // the probabilities are computed outside the layers.
    let relu = activation == Activation::Relu;
    if Some(q.weight_scales.len()) != channels.checked_mul(4) {
        return Err(shape_err(
            layer,
            "weight_scales length is not 4 bytes per channel",
        ));
    }
    let rq = ChannelRequant::new(
        channels,
        r.bias,
        q.multipliers,
        q.shifts,
        input.zero_point,
        out.zero_point,
        relu,
    )
    .map_err(err)?;
    Ok((rq, out))
}

/// The int8 step of a layer whose geometry the plan checked: its requantization (input
/// quantized with `q`), kernel length, or that a weightless layer keeps its input's
/// quantization. Not generic and not inlined: one copy serves every capacity `L`.
#[inline(never)]
fn int8_step<'a>(
    layer: usize,
    r: &LayerRecord<'a>,
    g: Geometry,
    q: QuantParams,
) -> Result<(Step<'a>, QuantParams), BlobError> {
    Ok(match g {
        Geometry::Conv {
            window,
            filters,
            activation,
            kernel_len,
        } => {
            let (requant, out_q) = requant(layer, r, filters, q, activation)?;
            if kernel_len != r.weights.len() {
                return Err(shape_err(
                    layer,
                    "kernel length is not filters x k x k x channels",
                ));
            }
            let step = Step::Conv {
                window,
                filters,
                kernel: r.weights,
                requant,
            };
            (step, out_q)
        }
        Geometry::MaxPool(g) => (Step::MaxPool(g), check::passthrough(layer, r, q)?),
        Geometry::AvgPool(g) => (Step::AvgPool(g), check::passthrough(layer, r, q)?),
        Geometry::Flatten => (Step::Flatten, check::passthrough(layer, r, q)?),
        Geometry::Relu => {
            let out_q = check::passthrough(layer, r, q)?;
            (
                Step::Relu {
                    zero_point: out_q.zero_point as i8,
                },
                out_q,
            )
        }
        Geometry::Dense {
            inputs,
            units,
            activation,
        } => {
            let (requant, out_q) = requant(layer, r, units, q, activation)?;
            if inputs.checked_mul(units) != Some(r.weights.len()) {
                return Err(shape_err(layer, "kernel length is not inputs x units"));
            }
            let step = Step::Dense {
                inputs,
                kernel: r.weights,
                requant,
            };
            (step, out_q)
        }
    })
}

impl<'a> Interpreter<'a> {
    /// Decodes and binds an int8 blob (see [`Interpreter::from_decoded`]).
    pub fn from_blob(bytes: &'a [u8]) -> Result<Self, BlobError> {
        Self::bind(bytes)
    }

    /// Validates every layer of an int8 blob and plans the arena (see the module docs).
    pub fn from_decoded(blob: &Blob<'a>) -> Result<Self, BlobError> {
        Self::bind_decoded(blob)
    }
}

impl<'a, const L: usize> Interpreter<'a, L> {
    /// [`Interpreter::from_blob`] for blobs of up to `L` layers (more is
    /// [`BlobError::TooManyLayers`]).
    pub fn bind(bytes: &'a [u8]) -> Result<Self, BlobError> {
        Self::bind_decoded(&Blob::decode(bytes)?)
    }

    /// [`Interpreter::from_decoded`] for blobs of up to `L` layers.
    pub fn bind_decoded(blob: &Blob<'a>) -> Result<Self, BlobError> {
        if blob.layer_count() > L {
            return Err(BlobError::TooManyLayers {
                found: blob.layer_count() as u32,
                max: L,
            });
        }
        if blob.format() != WeightFormat::Int8 {
            return Err(BlobError::WrongFormat {
                expected: WeightFormat::Int8,
                found: blob.format(),
            });
        }
        let header = blob.header();
        let input_quant = check::activation(
            None,
            header.input_quant.ok_or(BlobError::Quant {
                layer: None,
                what: "missing input quantization",
            })?,
        )?;
        let input_lut = pixel_lut(header.pixels, input_quant);
        let mut steps = [None; L];
        let mut quant = [input_quant; L];
        let mut q = input_quant;
        let plan = plan::walk::<L>(blob, |layer, r, g| {
            let (step, out_q) = int8_step(layer, r, g, q)?;
            if let (Some(s), Some(o)) = (steps.get_mut(layer), quant.get_mut(layer)) {
                (*s, *o) = (Some(step), out_q);
            }
            q = out_q;
            Ok(())
        })?;
        Ok(Self {
            steps,
            quant,
            plan,
            input: header.input,
            input_quant,
            input_lut,
            pixels: header.pixels,
        })
    }

    /// Bytes of activation arena [`Interpreter::run`] needs.
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

    /// Quantization of the input (of the real input [`Interpreter::pixels`] gives).
    pub fn input_quant(&self) -> QuantParams {
        self.input_quant
    }

    /// How a pixel becomes the real input.
    pub fn pixels(&self) -> PixelScaling {
        self.pixels
    }

    /// The last layer's activation (softmax and sigmoid are left to the caller: the output is
    /// the int8 logits).
    pub fn output_activation(&self) -> Activation {
        self.plan.output_activation
    }

    /// Number of classes [`Interpreter::class_of`] answers: the output length, or 2 for a
    /// one-unit sigmoid output.
    pub fn class_count(&self) -> usize {
        let n = self.output_len();
        if n == 1 && self.plan.output_activation == Activation::Sigmoid {
            2
        } else {
            n
        }
    }

    /// The class of an output (from [`Interpreter::run`]): the first index of the largest
    /// score, or for a one-unit sigmoid output 1 when the logit is positive (above the output
    /// zero point), else 0.
    pub fn class_of(&self, output: &[i8]) -> usize {
        let zero = self.quant[self.plan.count.saturating_sub(1)].zero_point;
        match output {
            [logit] if self.plan.output_activation == Activation::Sigmoid => {
                usize::from(i32::from(*logit) > zero)
            }
            _ => crate::float::argmax(output),
        }
    }

    /// Quantization of the output of layer `i` (the last one: the scores).
    pub fn layer_quant(&self, i: usize) -> Option<QuantParams> {
        (i < self.plan.count).then(|| self.quant[i])
    }

    /// Quantizes 8-bit pixels into `out` (as many values as the input).
    pub fn quantize_pixels(&self, pixels: &[u8], out: &mut [i8]) {
        apply_lut(&self.input_lut, pixels, out);
    }

    /// Runs the model on 8-bit pixels (HWC; real value as [`Interpreter::pixels`] says) and returns
    /// the int8 output
    /// of the last layer (a slice of `arena`).
    pub fn run<'b>(&self, pixels: &[u8], arena: &'b mut [i8]) -> Result<&'b [i8], RunError> {
        self.run_observed(pixels, arena, |_, _| {})
    }

    /// [`Interpreter::run`], calling `observe(layer, output)` after every layer.
    pub fn run_observed<'b, F: FnMut(usize, &[i8])>(
        &self,
        pixels: &[u8],
        arena: &'b mut [i8],
        observe: F,
    ) -> Result<&'b [i8], RunError> {
        let n = self.input_len();
        if pixels.len() != n {
            return Err(RunError::InputLength {
                expected: n,
                found: pixels.len(),
            });
        }
        if arena.len() < self.plan.arena_len {
            return Err(RunError::Arena {
                needed: self.plan.arena_len,
                found: arena.len(),
            });
        }
        let arena = &mut arena[..self.plan.arena_len];
        self.quantize_pixels(pixels, &mut arena[..n]);
        Ok(self.run_in_arena(arena, observe))
    }

    /// Runs the layers on the quantized input at the start of `arena` (exactly
    /// [`Interpreter::arena_len`] bytes).
    fn run_in_arena<'b, F: FnMut(usize, &[i8])>(
        &self,
        arena: &'b mut [i8],
        mut observe: F,
    ) -> &'b [i8] {
        run_steps(
            &self.steps[..self.plan.count],
            &self.plan.lens[..self.plan.count],
            self.input_len(),
            arena,
            &mut observe,
        )
    }
}

/// `out[i] = lut[pixels[i]]` (not generic, as [`run_steps`]).
fn apply_lut(lut: &[i8; 256], pixels: &[u8], out: &mut [i8]) {
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = lut[p as usize];
    }
}

/// The layer loop of [`Interpreter::run`], on slices and with a `dyn` observer: not generic, so
/// it is compiled once, here (with this crate's optimisation level), whatever capacity `L` a
/// device picks. Generic, it was instantiated in the firmware crate (built for size) and ran at
/// 12.4 instead of 7.0 instructions/MAC on the Cortex-M4.
fn run_steps<'b>(
    steps: &[Option<Step<'_>>],
    lens: &[usize],
    input_len: usize,
    arena: &'b mut [i8],
    observe: &mut dyn FnMut(usize, &[i8]),
) -> &'b [i8] {
    let mut start = 0; // the current activation is `arena[start..start + len]`
    let mut len = input_len;
    for (layer, step) in steps.iter().flatten().enumerate() {
        let out_len = lens[layer];
        match step {
            Step::Flatten => {}
            Step::Relu { zero_point } => {
                for v in &mut arena[start..start + len] {
                    *v = (*v).max(*zero_point);
                }
            }
            Step::Conv {
                window,
                filters,
                kernel,
                requant,
            } => {
                let (x, out, at) = split(arena, start, len, out_len);
                kernels::conv2d(window, *filters, kernel, requant, x, out);
                start = at;
            }
            Step::MaxPool(g) => {
                let (x, out, at) = split(arena, start, len, out_len);
                max_pool(g, x, out, i8::MIN);
                start = at;
            }
            Step::AvgPool(g) => {
                let (x, out, at) = split(arena, start, len, out_len);
                kernels::avg_pool(g, x, out);
                start = at;
            }
            Step::Dense {
                inputs,
                kernel,
                requant,
            } => {
                let (x, out, at) = split(arena, start, len, out_len);
                kernels::dense(*inputs, kernel, requant, x, out);
                start = at;
            }
        }
        len = out_len;
        observe(layer, &arena[start..start + len]);
    }
    &arena[start..start + len]
}
