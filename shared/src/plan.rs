//! What every interpreter checks of a blob's layers, whatever the weight format, and the arena
//! plan: each layer's input is the previous layer's output, its output shape follows from its
//! input, window, stride and padding, no size overflows `usize`, softmax and sigmoid come only
//! last; and from the geometry, the weight array lengths a layer must have ([`Geometry`]). The
//! int8 interpreter ([`crate::int8::interpreter`]) and the float one
//! ([`crate::float::interpreter`]) check those lengths and their format's own rules per layer.
//!
//! **Arena plan.** Layer `i` reads its input from one end of the arena and writes its output
//! at the other end, so the arena needs `max_i (in_i + out_i)` values ([`Plan::arena_len`]);
//! `Flatten` moves nothing.

use crate::blob::{Activation, Blob, BlobError, LayerKind, LayerRecord, Shape};
use crate::padding::Padding;
use crate::window::Window2d;

/// Largest pooling window side an interpreter accepts (a larger one is a blob error): keeps
/// an int8 average pool's 32-bit sum exact (`4096² × 128 < 2³¹`).
pub const MAX_POOL: usize = 4096;

/// A layer's checked geometry.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Geometry {
    /// Conv2D: `kernel_len = k * k * channels * filters` weights and `filters` biases.
    Conv {
        window: Window2d,
        filters: usize,
        activation: Activation,
        kernel_len: usize,
    },
    MaxPool(Window2d),
    AvgPool(Window2d),
    /// Dense: `inputs * units` weights and `units` biases.
    Dense {
        inputs: usize,
        units: usize,
        activation: Activation,
    },
    Flatten,
    Relu,
}

/// A layer-related blob error that is about shapes.
pub(crate) fn shape_err(layer: usize, what: &'static str) -> BlobError {
    BlobError::Quant {
        layer: Some(layer),
        what,
    }
}

/// `h * w * c`, or an error when it is 0 or overflows `usize`.
pub(crate) fn volume(layer: usize, s: Shape) -> Result<usize, BlobError> {
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
    padding: Padding,
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

/// Checks one layer's description against the activation before it (`shape`, `len` values)
/// and its own output (`out_len` values). Not generic and not inlined: one copy serves every
/// interpreter and capacity.
#[inline(never)]
fn geometry(
    layer: usize,
    r: &LayerRecord<'_>,
    shape: Shape,
    len: usize,
    out_len: usize,
) -> Result<Geometry, BlobError> {
    let o = r.desc.output;
    Ok(match r.desc.kind {
        LayerKind::Conv2d {
            kernel,
            stride,
            padding,
            filters,
            activation,
        } => {
            let window = window(layer, r, kernel, stride, padding, filters)?;
            let filters = filters as usize;
            let kernel_len = window
                .k
                .checked_mul(window.k)
                .and_then(|n| n.checked_mul(window.c))
                .and_then(|n| n.checked_mul(filters))
                .ok_or_else(|| shape_err(layer, "kernel larger than memory"))?;
            Geometry::Conv {
                window,
                filters,
                activation,
                kernel_len,
            }
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
            let g = window(layer, r, pool, stride, padding, shape.c)?;
            if matches!(r.desc.kind, LayerKind::MaxPool2d { .. }) {
                Geometry::MaxPool(g)
            } else {
                Geometry::AvgPool(g)
            }
        }
        LayerKind::Flatten => {
            if (o.h, o.w) != (1, 1) || out_len != len {
                return Err(shape_err(
                    layer,
                    "flatten output must be 1 x 1 x (h * w * c)",
                ));
            }
            Geometry::Flatten
        }
        LayerKind::Relu => {
            if o != shape {
                return Err(shape_err(layer, "relu output shape must equal its input"));
            }
            Geometry::Relu
        }
        LayerKind::Dense { units, activation } => {
            if (shape.h, shape.w, o.h, o.w, o.c) != (1, 1, 1, 1, units) {
                return Err(shape_err(layer, "dense takes and gives 1 x 1 x n vectors"));
            }
            let units = units as usize;
            len.checked_mul(units)
                .ok_or_else(|| shape_err(layer, "kernel larger than memory"))?;
            Geometry::Dense {
                inputs: len,
                units,
                activation,
            }
        }
    })
}

/// The checked layer chain of a blob, for up to `L` layers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan<const L: usize> {
    /// Output length of each layer.
    pub lens: [usize; L],
    /// Number of layers.
    pub count: usize,
    /// Values of the input.
    pub input_len: usize,
    /// Values of the arena (see the module docs).
    pub arena_len: usize,
    /// The last layer's activation.
    pub output_activation: Activation,
}

impl<const L: usize> Plan<L> {
    /// Values of the last layer's output.
    pub fn output_len(&self) -> usize {
        self.lens[..self.count].last().copied().unwrap_or(0)
    }
}

/// Walks the layers of `blob` (at most `L`), checks the chain and each layer's [`Geometry`],
/// calls `add(layer, record, geometry)` for the format's own checks and step, and plans the
/// arena.
pub(crate) fn walk<'a, const L: usize>(
    blob: &Blob<'a>,
    mut add: impl FnMut(usize, &LayerRecord<'a>, Geometry) -> Result<(), BlobError>,
) -> Result<Plan<L>, BlobError> {
    let too_many = BlobError::TooManyLayers {
        found: blob.layer_count() as u32,
        max: L,
    };
    if blob.layer_count() > L {
        return Err(too_many);
    }
    let mut shape = blob.header().input;
    let input_len = volume(0, shape)?;
    let mut plan = Plan {
        lens: [0; L],
        count: 0,
        input_len,
        arena_len: input_len,
        output_activation: Activation::None,
    };
    let mut len = input_len;
    let mut output_only_at = None;
    for (layer, r) in blob.layers().enumerate() {
        let Some(slot) = plan.lens.get_mut(layer) else {
            return Err(too_many);
        };
        if r.desc.input != shape {
            return Err(shape_err(
                layer,
                "input shape differs from the previous layer's output",
            ));
        }
        let out_len = volume(layer, r.desc.output)?;
        let g = geometry(layer, &r, shape, len, out_len)?;
        plan.output_activation = match g {
            Geometry::Conv { activation, .. } | Geometry::Dense { activation, .. } => activation,
            _ => Activation::None,
        };
        // The first such layer: a softmax in the middle stays an error when the last layer
        // has a sigmoid.
        if plan.output_activation.is_output_only() && output_only_at.is_none() {
            output_only_at = Some(layer);
        }
        if !matches!(g, Geometry::Flatten) {
            plan.arena_len = plan.arena_len.max(
                len.checked_add(out_len)
                    .ok_or_else(|| shape_err(layer, "activations larger than memory"))?,
            );
        }
        *slot = out_len;
        add(layer, &r, g)?;
        shape = r.desc.output;
        len = out_len;
        plan.count = layer + 1;
    }
    if plan.count == 0 || plan.count != blob.layer_count() {
        return Err(BlobError::LayerCount {
            expected: blob.layer_count(),
            found: plan.count,
        });
    }
    if let Some(layer) = output_only_at.filter(|&l| l + 1 != plan.count) {
        return Err(shape_err(
            layer,
            "softmax and sigmoid are only supported on the last layer",
        ));
    }
    Ok(plan)
}

/// The current activation `arena[start..start + len]` and the `out_len` values at the other
/// end of the arena, where the layer writes (they never overlap: the plan sized the arena to
/// the largest input + output); returns the output's start too.
pub(crate) fn split<T>(
    arena: &mut [T],
    start: usize,
    len: usize,
    out_len: usize,
) -> (&[T], &mut [T], usize) {
    if start == 0 {
        let at = arena.len() - out_len;
        let (lo, hi) = arena.split_at_mut(at);
        (&lo[..len], hi, at)
    } else {
        let (lo, hi) = arena.split_at_mut(start);
        (&hi[..len], &mut lo[..out_len], 0)
    }
}
