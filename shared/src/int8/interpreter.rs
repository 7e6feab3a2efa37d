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
use crate::blob::{
    Activation, Blob, BlobError, LayerKind, LayerRecord, Shape, WeightFormat, MAX_LAYERS,
};
use crate::int8::kernels;
use crate::int8::params::{ChannelRequant, QuantLayerError};
use crate::quant::{pixel_lut, PixelScaling, QuantParams};
use crate::window::{max_pool, Window2d};

/// Largest pooling window side: keeps an average pool's 32-bit sum exact
/// (`4096² × 128 < 2³¹`).
pub const MAX_POOL: usize = 4096;

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
    /// Output length of each layer.
    lens: [usize; L],
    quant: [QuantParams; L],
    count: usize,
    input: Shape,
    input_quant: QuantParams,
    input_lut: [i8; 256],
    pixels: PixelScaling,
    output_activation: Activation,
    arena_len: usize,
}

fn shape_err(layer: usize, what: &'static str) -> BlobError {
    BlobError::Quant {
        layer: Some(layer),
        what,
    }
}

/// `h * w * c`, or an error when it overflows `usize`.
fn volume(layer: usize, s: Shape) -> Result<usize, BlobError> {
    (s.h as usize)
        .checked_mul(s.w as usize)
        .and_then(|n| n.checked_mul(s.c as usize))
        .filter(|&n| n > 0)
        .ok_or_else(|| shape_err(layer, "a tensor is empty or larger than memory"))
}

/// A window layer's geometry from its description, checked against the recorded shapes.
fn window(
    layer: usize,
    r: &LayerRecord<'_>,
    k: u32,
    stride: u32,
    padding: crate::padding::Padding,
    out_c: u32,
) -> Result<Window2d, BlobError> {
    let (i, o) = (r.desc.input, r.desc.output);
    if k == 0 || stride == 0 {
        return Err(shape_err(layer, "window and stride must be positive"));
    }
    let g = Window2d::new(
        padding,
        i.h as usize,
        i.w as usize,
        i.c as usize,
        k as usize,
        stride as usize,
    );
    if (g.oh, g.ow, out_c) != (o.h as usize, o.w as usize, o.c) || g.oh == 0 || g.ow == 0 {
        return Err(shape_err(
            layer,
            "output shape does not follow from input, window, stride and padding",
        ));
    }
    // Every padded window position stays within `usize` (`(oh - 1) * stride + k`).
    let reach = |out: usize| {
        (out - 1)
            .checked_mul(g.stride)
            .and_then(|v| v.checked_add(g.k))
    };
    if reach(g.oh).is_none() || reach(g.ow).is_none() {
        return Err(shape_err(layer, "window positions overflow"));
    }
    Ok(g)
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
    // A softmax or sigmoid (only on the last layer, checked by the caller) keeps int8 logits;
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
        let mut lens = [0usize; L];
        let mut quant = [input_quant; L];
        let mut shape = header.input;
        let mut len = volume(0, shape)?;
        let mut q = input_quant;
        let mut arena_len = len;
        let mut count = 0;
        let mut output_only_at = None;
        let mut output_activation = Activation::None;
        for (layer, r) in blob.layers().enumerate() {
            if layer >= L {
                return Err(BlobError::TooManyLayers {
                    found: blob.layer_count() as u32,
                    max: L,
                });
            }
            if r.desc.input != shape {
                return Err(shape_err(
                    layer,
                    "input shape differs from the previous layer's output",
                ));
            }
            let out_len = volume(layer, r.desc.output)?;
            output_activation = match r.desc.kind {
                LayerKind::Conv2d { activation, .. } | LayerKind::Dense { activation, .. } => {
                    activation
                }
                _ => Activation::None,
            };
            if output_activation.is_output_only() {
                output_only_at = Some(layer);
            }
            let (step, out_q) = match r.desc.kind {
                LayerKind::Conv2d {
                    kernel,
                    stride,
                    padding,
                    filters,
                    activation,
                } => {
                    let g = window(layer, &r, kernel, stride, padding, filters)?;
                    let filters = filters as usize;
                    let (requant, out_q) = requant(layer, &r, filters, q, activation)?;
                    let expected =
                        g.k.checked_mul(g.k)
                            .and_then(|n| n.checked_mul(g.c))
                            .and_then(|n| n.checked_mul(filters));
                    if expected != Some(r.weights.len()) {
                        return Err(shape_err(
                            layer,
                            "kernel length is not filters x k x k x channels",
                        ));
                    }
                    let step = Step::Conv {
                        window: g,
                        filters,
                        kernel: r.weights,
                        requant,
                    };
                    (step, out_q)
                }
                LayerKind::MaxPool2d {
                    pool,
                    stride,
                    padding,
                }
                | LayerKind::AvgPool2d {
                    pool,
                    stride,
                    padding,
                } => {
                    if pool as usize > MAX_POOL {
                        return Err(shape_err(layer, "pooling window larger than 4096"));
                    }
                    let g = window(layer, &r, pool, stride, padding, shape.c)?;
                    let out_q = check::passthrough(layer, &r, q)?;
                    let step = if matches!(r.desc.kind, LayerKind::MaxPool2d { .. }) {
                        Step::MaxPool(g)
                    } else {
                        Step::AvgPool(g)
                    };
                    (step, out_q)
                }
                LayerKind::Flatten => {
                    let o = r.desc.output;
                    if (o.h, o.w) != (1, 1) || out_len != len {
                        return Err(shape_err(
                            layer,
                            "flatten output must be 1 x 1 x (h * w * c)",
                        ));
                    }
                    (Step::Flatten, check::passthrough(layer, &r, q)?)
                }
                LayerKind::Relu => {
                    if r.desc.output != shape {
                        return Err(shape_err(layer, "relu output shape must equal its input"));
                    }
                    let out_q = check::passthrough(layer, &r, q)?;
                    (
                        Step::Relu {
                            zero_point: out_q.zero_point as i8,
                        },
                        out_q,
                    )
                }
                LayerKind::Dense { units, activation } => {
                    let o = r.desc.output;
                    if (shape.h, shape.w, o.h, o.w, o.c) != (1, 1, 1, 1, units) {
                        return Err(shape_err(layer, "dense takes and gives 1 x 1 x n vectors"));
                    }
                    let units = units as usize;
                    let (requant, out_q) = requant(layer, &r, units, q, activation)?;
                    if len.checked_mul(units) != Some(r.weights.len()) {
                        return Err(shape_err(layer, "kernel length is not inputs x units"));
                    }
                    let step = Step::Dense {
                        inputs: len,
                        kernel: r.weights,
                        requant,
                    };
                    (step, out_q)
                }
            };
            if !matches!(step, Step::Flatten) {
                arena_len = arena_len.max(
                    len.checked_add(out_len)
                        .ok_or_else(|| shape_err(layer, "activations larger than memory"))?,
                );
            }
            steps[layer] = Some(step);
            lens[layer] = out_len;
            quant[layer] = out_q;
            shape = r.desc.output;
            len = out_len;
            q = out_q;
            count = layer + 1;
        }
        if count == 0 || count != blob.layer_count() {
            return Err(BlobError::LayerCount {
                expected: blob.layer_count(),
                found: count,
            });
        }
        if let Some(layer) = output_only_at.filter(|&l| l + 1 != count) {
            return Err(shape_err(
                layer,
                "softmax and sigmoid are only supported on the last layer",
            ));
        }
        Ok(Self {
            steps,
            lens,
            quant,
            count,
            input: header.input,
            input_quant,
            input_lut,
            pixels: header.pixels,
            output_activation,
            arena_len,
        })
    }

    /// Bytes of activation arena [`Interpreter::run`] needs.
    pub fn arena_len(&self) -> usize {
        self.arena_len
    }

    /// The input shape.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// Values of the input (`h * w * c`).
    pub fn input_len(&self) -> usize {
        self.input.len()
    }

    /// Values of the output (the last layer's).
    pub fn output_len(&self) -> usize {
        self.lens[self.count - 1]
    }

    /// Number of layers.
    pub fn layer_count(&self) -> usize {
        self.count
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
        self.output_activation
    }

    /// Number of classes [`Interpreter::class_of`] answers: the output length, or 2 for a
    /// one-unit sigmoid output.
    pub fn class_count(&self) -> usize {
        let n = self.output_len();
        if n == 1 && self.output_activation == Activation::Sigmoid {
            2
        } else {
            n
        }
    }

    /// The class of an output (from [`Interpreter::run`]): the first index of the largest
    /// score, or for a one-unit sigmoid output 1 when the logit is positive (above the output
    /// zero point), else 0.
    pub fn class_of(&self, output: &[i8]) -> usize {
        let zero = self.quant[self.count - 1].zero_point;
        match output {
            [logit] if self.output_activation == Activation::Sigmoid => {
                usize::from(i32::from(*logit) > zero)
            }
            _ => {
                let mut best = 0;
                for (i, &v) in output.iter().enumerate() {
                    if v > output[best] {
                        best = i;
                    }
                }
                best
            }
        }
    }

    /// Quantization of the output of layer `i` (the last one: the scores).
    pub fn layer_quant(&self, i: usize) -> Option<QuantParams> {
        (i < self.count).then(|| self.quant[i])
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
        if arena.len() < self.arena_len {
            return Err(RunError::Arena {
                needed: self.arena_len,
                found: arena.len(),
            });
        }
        let arena = &mut arena[..self.arena_len];
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
            &self.steps[..self.count],
            &self.lens[..self.count],
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

/// The current activation `arena[start..start + len]` and the `out_len` values at the other end
/// of the arena, where the layer writes (they never overlap: the plan sized the arena to the
/// largest input + output); returns the output's start too.
fn split(arena: &mut [i8], start: usize, len: usize, out_len: usize) -> (&[i8], &mut [i8], usize) {
    if start == 0 {
        let at = arena.len() - out_len;
        let (lo, hi) = arena.split_at_mut(at);
        (&lo[..len], hi, at)
    } else {
        let (lo, hi) = arena.split_at_mut(start);
        (&hi[..len], &mut lo[..out_len], 0)
    }
}
