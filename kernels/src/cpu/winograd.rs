//! 3×3 stride-1 convolution and its gradients by Winograd's minimal filtering F(2×2, 3×3)
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
//!
//! Each 2×2 block of output pixels ("tile") is computed from its 4×4 input patch `d` and the
//! transformed kernel `U = G g Gᵀ` as `Y = Aᵀ [U ⊙ (Bᵀ d B)] A`: per tile and channel pair 16
//! multiplies instead of 36. Over channels the element-wise products become 16 independent
//! GEMMs `M_e[tiles × out_c] = V_e[tiles × in_c] · U_e[in_c × out_c]`, run by `panel.rs`. The
//! kernel transform is done and packed once per op; the input and output transforms are
//! vectorised over channels.
//!
//! The input gradient is the same algorithm on `dy`, padded by `2 - pad`, with the kernel
//! turned by 180° and its channels swapped ([`conv2d_backward_input`]). The kernel gradient is
//! its transpose ([`conv2d_backward_weight_bias`]): 16 GEMMs whose reduction runs over the
//! tiles. Each path is taken only where it measured faster than im2col (`applies*`). Results
//! differ from the direct sums by rounding only (the transforms' constants are 0, ±1 and ±½).

use rayon::prelude::*;

use super::gemm::MatRef;
use super::panel::{gemm_once_b, gemm_packed, pack_a, pack_b, widest, APanelRow, BPanelRow};
use super::recycle;
use crate::geometry::Conv2dGeom;

/// Input channels from which the transforms pay for themselves, with the AVX2 and the AVX-512
/// multiply alike. Measured on the Zen 3 VM (AVX2 + FMA), after `panel::pack_a` stopped
/// costing as much as the products it feeds, against the implicit GEMM (valid padding) and
/// im2col (same padding): cats vs dogs (one thread, batch 32, `host bench --backend cpu
/// --model catsdogs`, two runs each alternating) 41×41×128 from 43×43×64 61-69 ms vs 85,
/// 87×87×64 from 89×89×32 116 vs 111 (so not from 32); the VGG16 base (two threads, `host
/// bench --vgg16`) 180×180×64→64 991-999 ms vs 1,166-1,207, 90×90×64→128 252-265 vs 318-328,
/// the whole forward 12.5-12.8 images/s vs 11.3-11.9. Before that change, the AVX2 multiply
/// needed 128 channels (90×90×64→128 0.38 s vs 0.34 im2col) and the AVX-512 one 64 (Xeon VM:
/// 43×43×64→128 77 ms im2col vs 52-55; 89×89×32→64 108 vs 96-100, not worth the transforms'
/// memory). (The gradients have thresholds of their own, [`MIN_INPUT_GRADIENT_OUT_C`] and
/// [`MIN_WEIGHT_GRADIENT_IN_C`]: their alternatives are im2col GEMMs.)
const MIN_IN_C: usize = 64;

/// Output pixels per image from which the transform pays (a 3×3 output is four 2×2 tiles of
/// which 7 of 16 pixels are real: MNIST conv3 took 3.7 ms vs 1.5).
const MIN_OUT_PIXELS: usize = 64;

/// Input channels from which the kernel gradient by Winograd pays. Measured (one thread,
/// batch 32, `host bench --backend cpu --model catsdogs`, two runs each alternating, Zen 3 VM
/// with AVX2 + FMA, against the im2col GEMM, 2026-12-03): 87×87×64 from 89×89×32 108 ms vs
/// 133; 41×41×128 from 43×43×64 66-67 vs 107; 18×18×256 from 20×20×128 43-45 vs 88; and on
/// 2026-12-02 178×178×32 from 180×180×3 131 vs 51.
const MIN_WEIGHT_GRADIENT_IN_C: usize = 32;

/// Output channels (of `dy`, which the input gradient convolves) from which the input gradient
/// by Winograd pays. Measured as [`MIN_WEIGHT_GRADIENT_IN_C`], against im2col + col2im:
/// 89×89×32 from 87×87×64 118-120 ms vs 125; 43×43×64 from 41×41×128 77 vs 100-101;
/// 20×20×128 from 18×18×256 49 vs 72 (before the cheaper `panel::pack_a`, which took the
/// first to 99-106 ms).
const MIN_INPUT_GRADIENT_OUT_C: usize = 64;

/// Pixels per image (of the gradient computed: dy for the kernel gradient, dx for the input
/// gradient) from which both gradients by Winograd pay: partial edge tiles and the fixed costs
/// weigh more on small images. Measured as [`MIN_WEIGHT_GRADIENT_IN_C`], 2026-12-02: cats vs
/// dogs' 9×9×256 dx from 7×7×256 25 ms vs 24; MNIST (batch 64) 11×11×64 dw from 13×13×32
/// 4.4 ms vs 4.2.
const MIN_GRADIENT_PIXELS: usize = 256;

/// Floats of both transforms per task in the kernel gradient (4 MiB: a chunk of tiles stays
/// in L3; smaller chunks cost more than they save there, as each chunk's 16 GEMMs read and
/// write the `16 × in_c × out_c` sums: 20×20×128→256 39 ms at this size vs 44-50 at a
/// quarter or an eighth of it).
const CHUNK_FLOATS: usize = 1024 * 1024;

/// Floats of the transformed input and its products per task in the forward pass and the
/// input gradient (1 MiB: a chunk's transforms and products stay in L2 between the input
/// transform, the GEMMs and the output transform). Measured against chunks of 4 MiB of
/// transformed input alone (then the products, twice as large for 64 → 128 channels, spilled
/// to L3), Zen 4 with AVX-512, one thread, batch 32, best of 7, two runs: 43×43×64→128
/// forward 67-71 ms -> 50-56, 20×20×128→256 40-50 -> 32-38, the input gradients unchanged.
const FORWARD_CHUNK_FLOATS: usize = 256 * 1024;

/// Whether the CPU backend computes this convolution here: [`supported`], with enough input
/// channels and output pixels for the transforms to pay.
pub(crate) fn applies(g: &Conv2dGeom) -> bool {
    supported(g) && g.in_c >= MIN_IN_C && g.out_h() * g.out_w() >= MIN_OUT_PIXELS
}

/// Input channels from which Winograd's forward may pay where [`MIN_IN_C`] was not measured
/// to: with the AVX-512 multiply the backend times it against the GEMM on the first call
/// (`tune.rs`). On Zen 4 (one thread, batch 32) 89×89×32→64 took 74-75 ms against the
/// implicit GEMM's 83-87 in a build that forced it (best of 7, three runs), and the backend's
/// own timing later that day 80.6-81.5 ms against 83.3-84.0 (three runs); 93 ms before the
/// forward's smaller chunks ([`FORWARD_CHUNK_FLOATS`]).
const MIN_TIMED_IN_C: usize = 32;

/// Whether this convolution's forward pass may be faster here than by a GEMM although it does
/// not [`applies`]: [`supported`], with at least [`MIN_TIMED_IN_C`] input channels and
/// enough output pixels.
pub(crate) fn may_pay(g: &Conv2dGeom) -> bool {
    supported(g)
        && !applies(g)
        && g.in_c >= MIN_TIMED_IN_C
        && g.out_h() * g.out_w() >= MIN_OUT_PIXELS
}

/// Whether the CPU backend computes this convolution's input gradient here
/// ([`conv2d_backward_input`]): [`supported`], with at least [`MIN_INPUT_GRADIENT_OUT_C`]
/// output channels (the channels of `dy` it convolves) and [`MIN_GRADIENT_PIXELS`] input
/// pixels per image (the pixels it computes).
pub(crate) fn applies_to_input_gradient(g: &Conv2dGeom) -> bool {
    supported(g) && g.out_c >= MIN_INPUT_GRADIENT_OUT_C && g.in_h * g.in_w >= MIN_GRADIENT_PIXELS
}

/// Whether the CPU backend computes this convolution's kernel and bias gradients here
/// ([`conv2d_backward_weight_bias`]): [`supported`], with at least
/// [`MIN_WEIGHT_GRADIENT_IN_C`] input channels and [`MIN_GRADIENT_PIXELS`] output pixels
/// per image.
pub(crate) fn applies_to_weight_gradient(g: &Conv2dGeom) -> bool {
    supported(g)
        && g.in_c >= MIN_WEIGHT_GRADIENT_IN_C
        && g.out_h() * g.out_w() >= MIN_GRADIENT_PIXELS
}

/// Whether [`conv2d`], [`conv2d_backward_input`] and [`conv2d_backward_weight_bias`] can
/// compute this convolution: 3×3, stride 1, a non-empty output.
pub(crate) fn supported(g: &Conv2dGeom) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride_h == 1
        && g.stride_w == 1
        && g.out_h() > 0
        && g.out_w() > 0
        && g.batch > 0
        && g.out_c > 0
        && g.in_c > 0
}

/// `G`, the kernel transform of F(2×2, 3×3).
const G: [[f32; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// The 16 transformed kernels `U_e = (G g Gᵀ)[e / 4][e % 4]`, each `in_c × out_c`, packed;
/// `w(ky, kx, c, o)` reads the 3×3 kernel (the layer's HWIO kernel, or its flip for the input
/// gradient).
fn transform_kernel(
    w: impl Fn(usize, usize, usize, usize) -> f32,
    ic: usize,
    oc: usize,
) -> Vec<Vec<BPanelRow>> {
    let mut u = vec![vec![0.0f32; ic * oc]; 16];
    for c in 0..ic {
        for o in 0..oc {
            let g = |ky: usize, kx: usize| w(ky, kx, c, o);
            // t = G g (4 × 3), then U = t Gᵀ (4 × 4).
            let mut t = [[0.0f32; 3]; 4];
            for (i, gi) in G.iter().enumerate() {
                for (kx, tv) in t[i].iter_mut().enumerate() {
                    *tv = gi[0] * g(0, kx) + gi[1] * g(1, kx) + gi[2] * g(2, kx);
                }
            }
            for i in 0..4 {
                for (j, gj) in G.iter().enumerate() {
                    u[i * 4 + j][c * oc + o] = t[i][0] * gj[0] + t[i][1] * gj[1] + t[i][2] * gj[2];
                }
            }
        }
    }
    u.iter()
        .map(|ue| {
            let mut packed = Vec::new();
            pack_b(MatRef::row_major(ue, ic, oc), &mut packed);
            packed
        })
        .collect()
}

/// `d = a - b`, element-wise (a loop LLVM vectorises).
#[inline(always)]
fn sub(d: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, a), b) in d.iter_mut().zip(a).zip(b) {
        *d = a - b;
    }
}

/// `d = a + b`, element-wise.
#[inline(always)]
fn add(d: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, a), b) in d.iter_mut().zip(a).zip(b) {
        *d = a + b;
    }
}

/// `d = a + b + c`, element-wise.
#[inline(always)]
fn add3(d: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    for (((d, a), b), c) in d.iter_mut().zip(a).zip(b).zip(c) {
        *d = a + b + c;
    }
}

/// `d = a - b - c`, element-wise.
#[inline(always)]
fn sub2(d: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    for (((d, a), b), c) in d.iter_mut().zip(a).zip(b).zip(c) {
        *d = a - b - c;
    }
}

/// `d = a + b + c + e`, element-wise.
#[inline(always)]
fn add4(d: &mut [f32], a: &[f32], b: &[f32], c: &[f32], e: &[f32]) {
    for ((((d, a), b), c), e) in d.iter_mut().zip(a).zip(b).zip(c).zip(e) {
        *d = a + b + c + e;
    }
}

/// `d = a - b - c + e`, element-wise.
#[inline(always)]
fn sub2_add(d: &mut [f32], a: &[f32], b: &[f32], c: &[f32], e: &[f32]) {
    for ((((d, a), b), c), e) in d.iter_mut().zip(a).zip(b).zip(c).zip(e) {
        *d = a - b - c + e;
    }
}

/// The input transform `Bᵀ d B` of one tile, for every channel: `p[dy][dx]` is the patch's
/// pixel (`ic` channels, zeros outside the image), `v[e]` receives element `e` (row-major 4×4)
/// of the transform; `t` (16 × `ic`) holds `Bᵀ d`. Each step is a pass over the channels.
#[inline(always)]
fn input_channels(p: &[[&[f32]; 4]; 4], v: [&mut [f32]; 16], t: &mut [f32], ic: usize) {
    let mut rows = t.chunks_exact_mut(ic);
    let mut t: [&mut [f32]; 16] = std::array::from_fn(|_| rows.next().expect("16 rows"));
    for s in 0..4 {
        sub(t[s], p[0][s], p[2][s]);
        add(t[4 + s], p[1][s], p[2][s]);
        sub(t[8 + s], p[2][s], p[1][s]);
        sub(t[12 + s], p[1][s], p[3][s]);
    }
    let [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15] = v;
    for (r, [a, b, c, d]) in [
        [v0, v1, v2, v3],
        [v4, v5, v6, v7],
        [v8, v9, v10, v11],
        [v12, v13, v14, v15],
    ]
    .into_iter()
    .enumerate()
    {
        let tr = &mut t[4 * r..4 * r + 4];
        sub(a, tr[0], tr[2]);
        add(b, tr[1], tr[2]);
        sub(c, tr[2], tr[1]);
        sub(d, tr[1], tr[3]);
    }
}

/// The output transform `Aᵀ m A` of one tile plus the bias, for every output channel: `m[e]`
/// holds product `e`, `y[2 i + j]` receives output pixel `(i, j)` of the 2×2 block; `t`
/// (8 × `oc`) holds `Aᵀ m`.
#[inline(always)]
fn output_channels(m: [&[f32]; 16], bias: &[f32], y: [&mut [f32]; 4], t: &mut [f32], oc: usize) {
    let mut rows = t.chunks_exact_mut(oc);
    let t: [&mut [f32]; 8] = std::array::from_fn(|_| rows.next().expect("8 rows"));
    for s in 0..4 {
        add3(t[s], m[s], m[4 + s], m[8 + s]);
        sub2(t[4 + s], m[4 + s], m[8 + s], m[12 + s]);
    }
    let [y0, y1, y2, y3] = y;
    for (i, (a, b)) in [(y0, y1), (y2, y3)].into_iter().enumerate() {
        let ti = &t[4 * i..4 * i + 4];
        add4(a, ti[0], ti[1], ti[2], bias);
        sub2_add(b, ti[1], ti[2], ti[3], bias);
    }
}

/// The output rows of one tile row (`y` rows `2 ty` and, when it exists, `2 ty + 1` of image
/// `b`), with the tile row's coordinates.
struct TileRow<'a> {
    b: usize,
    ty: usize,
    y: &'a mut [f32],
}

/// Arguments of [`tile_rows`].
type TileArgs<'a> = (
    &'a [f32],
    &'a Frame,
    &'a [Vec<BPanelRow>],
    &'a [f32],
    bool,
    &'a [f32],
);

/// Arguments of [`gradient_tile_rows`].
type GradientArgs<'a> = (&'a [f32], &'a [f32], &'a Frame, &'a [f32]);

/// Per-task buffers: transformed input (16 × tiles × in_c), its packed A panels, packed B
/// panels (the kernel gradient's transformed `dy`), the 16 products of the forward (16 × tiles
/// × out_c; in the kernel gradient the transformed `dy`, `A dY Aᵀ`), one tile's 2×2 output
/// block, and one tile's intermediate transform (`Bᵀ d`, `Aᵀ m` or `A dY`).
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    panels: Vec<APanelRow>,
    bpanels: Vec<BPanelRow>,
    m: Vec<f32>,
    out: Vec<f32>,
    t: Vec<f32>,
}

thread_local! {
    /// Per-thread buffers, kept across calls (fresh megabytes per task cost page faults).
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The shape of one Winograd convolution, with its padding explicit: a layer's forward pass,
/// or its input gradient (a convolution of `dy` by the flipped kernel, padded by `2 - pad`).
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// Images.
    batch: usize,
    /// Rows of the convolved image (`x`, or `dy` for the input gradient).
    in_h: usize,
    /// Columns of the convolved image.
    in_w: usize,
    /// Channels of the convolved image.
    in_c: usize,
    /// Rows of the result.
    out_h: usize,
    /// Columns of the result.
    out_w: usize,
    /// Channels of the result.
    out_c: usize,
    /// Zero rows above the image.
    pad_top: usize,
    /// Zero columns left of the image.
    pad_left: usize,
}

impl Frame {
    /// The forward pass of `g`.
    fn forward(g: &Conv2dGeom) -> Frame {
        Frame {
            batch: g.batch,
            in_h: g.in_h,
            in_w: g.in_w,
            in_c: g.in_c,
            out_h: g.out_h(),
            out_w: g.out_w(),
            out_c: g.out_c,
            pad_top: g.pad_top(),
            pad_left: g.pad_left(),
        }
    }

    /// The input gradient of `g` (3×3, stride 1): `dx[iy] = Σ_ky dy[iy + ky - (2 - pad)] ·
    /// w[2 - ky]` along each axis, a convolution of `dy` (`out_c` channels) into `in_c`.
    fn input_gradient(g: &Conv2dGeom) -> Frame {
        Frame {
            batch: g.batch,
            in_h: g.out_h(),
            in_w: g.out_w(),
            in_c: g.out_c,
            out_h: g.in_h,
            out_w: g.in_w,
            out_c: g.in_c,
            pad_top: 2 - g.pad_top(),
            pad_left: 2 - g.pad_left(),
        }
    }
}

/// `y = conv2d(x, w) + bias` for a [`supported`] convolution, then with `relu`
/// `y = max(y, 0)` as each output is stored (lengths checked by `conv::conv2d`).
pub(crate) fn conv2d(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Conv2dGeom,
    relu: bool,
) -> Vec<f32> {
    assert!(supported(g), "winograd::conv2d: unsupported geometry");
    let (ic, oc) = (g.in_c, g.out_c);
    let u = transform_kernel(|ky, kx, c, o| w[((ky * 3 + kx) * ic + c) * oc + o], ic, oc);
    convolve(x, &u, bias, &Frame::forward(g), relu)
}

/// dL/dx of a [`supported`] convolution: `dy` convolved with the kernel turned by 180° and its
/// channels swapped, by the same transforms (lengths checked by `conv`).
pub(crate) fn conv2d_backward_input(dy: &[f32], w: &[f32], g: &Conv2dGeom) -> Vec<f32> {
    assert!(
        supported(g),
        "winograd::conv2d_backward_input: unsupported geometry"
    );
    let (ic, oc) = (g.in_c, g.out_c);
    // The flipped kernel's input channel `c` is the layer's output channel, and vice versa.
    let u = transform_kernel(
        |ky, kx, c, o| w[(((2 - ky) * 3 + (2 - kx)) * ic + o) * oc + c],
        oc,
        ic,
    );
    convolve(dy, &u, None, &Frame::input_gradient(g), false)
}

/// The convolution of `x` (shaped as `f`) by the transformed kernel `u`, plus `bias`, then
/// with `relu` `max(·, 0)`.
fn convolve(
    x: &[f32],
    u: &[Vec<BPanelRow>],
    bias: Option<&[f32]>,
    f: &Frame,
    relu: bool,
) -> Vec<f32> {
    let (ic, oc) = (f.in_c, f.out_c);
    let (oh, ow) = (f.out_h, f.out_w);
    let zero = vec![0.0f32; ic.max(oc)];
    let bias = bias.unwrap_or(&zero[..oc]);
    let tw = ow.div_ceil(2);
    let th = oh.div_ceil(2);
    // Every output pixel belongs to exactly one tile and is written by it.
    let mut y = recycle::dirty(f.batch * oh * ow * oc);
    let mut rows = Vec::with_capacity(f.batch * th);
    {
        let mut rest: &mut [f32] = &mut y;
        for b in 0..f.batch {
            for ty in 0..th {
                let len = (2.min(oh - 2 * ty)) * ow * oc;
                let (head, tail) = rest.split_at_mut(len);
                rows.push(TileRow { b, ty, y: head });
                rest = tail;
            }
        }
    }
    // Tasks of about `FORWARD_CHUNK_FLOATS` of transforms, and at least four per thread.
    let balanced = rows.len().div_ceil(4 * rayon::current_num_threads());
    let tile_rows_per_task = (FORWARD_CHUNK_FLOATS / (16 * tw * (ic + oc)))
        .min(balanced)
        .max(1);
    rows.par_chunks_mut(tile_rows_per_task).for_each(|task| {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => tile_rows((x, f, u, bias, relu, &zero), task, &mut s),
            // Re-entered from inside an op's task: buffers of its own.
            Err(_) => tile_rows((x, f, u, bias, relu, &zero), task, &mut Scratch::default()),
        })
    });
    y
}

/// Tile `t`'s `width` values in each of the 16 blocks of `buf` (`16 × nt × width`, block `e`
/// holding element `e` of every tile's transform).
#[inline(always)]
fn tile_slices(buf: &mut [f32], nt: usize, t: usize, width: usize) -> [&mut [f32]; 16] {
    let mut blocks = buf.chunks_exact_mut(nt * width);
    std::array::from_fn(|_| {
        let block = blocks.next().expect("16 blocks");
        &mut block[t * width..(t + 1) * width]
    })
}

/// The 4×4 input patch of tile `(b, ty, tx)`: each pixel's `in_c` channels, `zero` outside
/// the image.
#[inline(always)]
fn input_patch<'a>(
    x: &'a [f32],
    g: &Frame,
    (b, ty, tx): (usize, usize, usize),
    zero: &'a [f32],
) -> [[&'a [f32]; 4]; 4] {
    let ic = g.in_c;
    let img = &x[b * g.in_h * g.in_w * ic..(b + 1) * g.in_h * g.in_w * ic];
    let iy0 = 2 * ty as isize - g.pad_top as isize;
    let ix0 = 2 * tx as isize - g.pad_left as isize;
    std::array::from_fn(|dy| {
        std::array::from_fn(|dx| {
            let (iy, ix) = (iy0 + dy as isize, ix0 + dx as isize);
            if iy < 0 || iy >= g.in_h as isize || ix < 0 || ix >= g.in_w as isize {
                &zero[..ic]
            } else {
                let p = (iy as usize * g.in_w + ix as usize) * ic;
                &img[p..p + ic]
            }
        })
    })
}

/// The tiles of `task` (whole tile rows): input transform, 16 GEMMs, output transform.
/// `(x, g, u, bias, relu, zero)`: the input, its frame, the transformed kernel, the bias,
/// whether a ReLU follows, and a zero pixel. The transforms (passes over the channels) are
/// compiled for the widest vectors this CPU has, as the GEMM's multiply is.
fn tile_rows(args: TileArgs<'_>, task: &mut [TileRow<'_>], s: &mut Scratch) {
    widest(
        #[inline(always)]
        || tile_rows_body(args, task, s),
    )
}

/// [`tile_rows`], inlined into each of [`widest`]'s variants.
#[inline(always)]
fn tile_rows_body(
    (x, g, u, bias, relu, zero): TileArgs<'_>,
    task: &mut [TileRow<'_>],
    s: &mut Scratch,
) {
    let (ic, oc) = (g.in_c, g.out_c);
    let (oh, ow) = (g.out_h, g.out_w);
    let tw = ow.div_ceil(2);
    let nt = task.len() * tw;
    s.v.resize(16 * nt * ic, 0.0);
    s.t.resize(16 * ic.max(oc), 0.0);
    s.m.resize(16 * nt * oc, 0.0);

    // Input transform, vectorised over channels.
    for (r, row) in task.iter().enumerate() {
        for tx in 0..tw {
            let t = r * tw + tx;
            let patch = input_patch(x, g, (row.b, row.ty, tx), zero);
            input_channels(&patch, tile_slices(&mut s.v, nt, t, ic), &mut s.t, ic);
        }
    }

    // The 16 products.
    for (e, ue) in u.iter().enumerate() {
        pack_a(
            MatRef::row_major(&s.v[e * nt * ic..(e + 1) * nt * ic], nt, ic),
            &mut s.panels,
        );
        gemm_packed(
            &s.panels,
            ue,
            (nt, ic, oc),
            0.0,
            &mut s.m[e * nt * oc..(e + 1) * nt * oc],
        );
    }

    // Output transform and bias, vectorised over output channels, through a 2×2 block of
    // this tile in `s.out` (a tile at the bottom or right edge may keep only part of it).
    s.out.resize(4 * oc, 0.0);
    for (r, row) in task.iter_mut().enumerate() {
        let rows_here = 2.min(oh - 2 * row.ty);
        for tx in 0..tw {
            let t = r * tw + tx;
            let cols_here = 2.min(ow - 2 * tx);
            let m: [&[f32]; 16] =
                std::array::from_fn(|e| &s.m[(e * nt + t) * oc..(e * nt + t + 1) * oc]);
            let mut px = s.out.chunks_exact_mut(oc);
            let y: [&mut [f32]; 4] = std::array::from_fn(|_| px.next().expect("4 pixels"));
            output_channels(m, bias, y, &mut s.t, oc);
            for i in 0..rows_here {
                let at = (i * ow + 2 * tx) * oc;
                let dst = &mut row.y[at..at + cols_here * oc];
                let src = &s.out[2 * i * oc..(2 * i + cols_here) * oc];
                if relu {
                    for (d, v) in dst.iter_mut().zip(src) {
                        *d = v.max(0.0);
                    }
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
}

/// dL/dw (HWIO) and dL/dbias of a [`supported`] convolution by the transpose of the forward
/// algorithm (lengths checked by `conv`). The forward tile is the trilinear form
/// `Σ dY ⊙ Y = Σ (A dY Aᵀ) ⊙ (G g Gᵀ) ⊙ (Bᵀ d B)`, so its kernel gradient is
/// `Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)] G`: per tile, the forward's input transform of the 4×4
/// input patch and a 2×2 → 4×4 transform of the tile's `dY`; over tiles, 16 GEMMs
/// `M_e[in_c × out_c] += (Bᵀ d B)_eᵀ · (A dY Aᵀ)_e` whose reduction runs over the tiles (long,
/// unlike the forward's over the channels); one 4×4 → 3×3 transform at the end. Every `dY`
/// pixel is in one tile, so the same pass sums the bias gradient.
pub(crate) fn conv2d_backward_weight_bias(
    x: &[f32],
    dy: &[f32],
    g: &Conv2dGeom,
) -> (Vec<f32>, Vec<f32>) {
    assert!(
        supported(g),
        "winograd::conv2d_backward_weight_bias: unsupported geometry"
    );
    let f = Frame::forward(g);
    let (ic, oc) = (f.in_c, f.out_c);
    let (th, tw) = (f.out_h.div_ceil(2), f.out_w.div_ceil(2));
    let rows = f.batch * th;
    // Tasks of about `CHUNK_FLOATS` of both transforms, and at least four per thread.
    let balanced = rows.div_ceil(4 * rayon::current_num_threads());
    let per_task = (CHUNK_FLOATS / (16 * tw * (ic + oc))).min(balanced).max(1);
    let zero = vec![0.0f32; ic.max(oc)];
    let len = 16 * ic * oc + oc;
    let sums = (0..rows.div_ceil(per_task))
        .into_par_iter()
        .fold(
            || recycle::zeros(len),
            |mut acc, task| {
                let span = task * per_task..((task + 1) * per_task).min(rows);
                let args = (x, dy, &f, &zero[..]);
                SCRATCH.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut s) => gradient_tile_rows(args, span, &mut acc, &mut s),
                    // Re-entered from inside an op's task: buffers of its own.
                    Err(_) => gradient_tile_rows(args, span, &mut acc, &mut Scratch::default()),
                });
                acc
            },
        )
        .reduce(|| recycle::zeros(len), recycle::add_into);
    // dW[ky][kx] = Σ_ij G[i][ky] M[i][j] G[j][kx].
    let mut dw = vec![0.0f32; 9 * ic * oc];
    for co in 0..ic * oc {
        let m = |e: usize| sums[e * ic * oc + co];
        let mut t = [[0.0f32; 4]; 3];
        for (ky, row) in t.iter_mut().enumerate() {
            for (j, tv) in row.iter_mut().enumerate() {
                *tv = (0..4).map(|i| G[i][ky] * m(4 * i + j)).sum();
            }
        }
        for (ky, row) in t.iter().enumerate() {
            for kx in 0..3 {
                dw[(ky * 3 + kx) * ic * oc + co] = (0..4).map(|j| row[j] * G[j][kx]).sum();
            }
        }
    }
    let db = sums[16 * ic * oc..].to_vec();
    recycle::F32.give(sums);
    (dw, db)
}

/// `(o0, o1, o2, o3) = (p, p + q, p - q, -q)`, element-wise: one row (or column) of the
/// 2 → 4 transform `A ·` of the kernel gradient.
#[inline(always)]
fn spread(p: &[f32], q: &[f32], [o0, o1, o2, o3]: [&mut [f32]; 4]) {
    let outs = o0
        .iter_mut()
        .zip(o1.iter_mut())
        .zip(o2.iter_mut())
        .zip(o3.iter_mut());
    for ((((o0, o1), o2), o3), (p, q)) in outs.zip(p.iter().zip(q)) {
        *o0 = *p;
        *o1 = p + q;
        *o2 = p - q;
        *o3 = -q;
    }
}

/// The transform `A dY Aᵀ` of one tile's 2×2 output gradient `p` (`[dy00, dy01, dy10, dy11]`,
/// zeros outside the output), for every output channel, into `v[e]` (row-major 4×4); adds the
/// four pixels to `db`. `t` (6 × `oc`) holds `A dY`'s rows. Each step is a pass over the
/// channels.
#[inline(always)]
fn gradient_channels(p: [&[f32]; 4], v: [&mut [f32]; 16], db: &mut [f32], t: &mut [f32]) {
    let oc = db.len();
    let [a, b, c, d] = p.map(|q| &q[..oc]);
    let mut rows = t.chunks_exact_mut(oc);
    let [s0, s1, d0, d1, nc, nd]: [&mut [f32]; 6] =
        std::array::from_fn(|_| rows.next().expect("6 rows"));
    // A dY: rows (a, b), (a + c, b + d), (a - c, b - d), (-c, -d).
    add(s0, a, c);
    add(s1, b, d);
    sub(d0, a, c);
    sub(d1, b, d);
    for ((nc, nd), (c, d)) in nc.iter_mut().zip(nd.iter_mut()).zip(c.iter().zip(d)) {
        *nc = -c;
        *nd = -d;
    }
    let [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15] = v;
    spread(a, b, [v0, v1, v2, v3]);
    spread(s0, s1, [v4, v5, v6, v7]);
    spread(d0, d1, [v8, v9, v10, v11]);
    spread(nc, nd, [v12, v13, v14, v15]);
    // v5 = a + b + c + d.
    for (db, s) in db.iter_mut().zip(v5.iter()) {
        *db += s;
    }
}

/// The kernel-gradient sums of tile rows `span` (tile row `r` is row `r % th` of image
/// `r / th`) added into `acc` (`16 × in_c × out_c` products, then `out_c` bias sums).
/// `(x, dy, g, zero)`: the input, the output gradient, their frame, and a zero pixel. The
/// transforms are compiled for the widest vectors this CPU has, as in [`tile_rows`].
fn gradient_tile_rows(
    args: GradientArgs<'_>,
    span: std::ops::Range<usize>,
    acc: &mut [f32],
    s: &mut Scratch,
) {
    widest(
        #[inline(always)]
        || gradient_tile_rows_body(args, span, acc, s),
    )
}

/// [`gradient_tile_rows`], inlined into each of [`widest`]'s variants.
#[inline(always)]
fn gradient_tile_rows_body(
    (x, dy, g, zero): GradientArgs<'_>,
    span: std::ops::Range<usize>,
    acc: &mut [f32],
    s: &mut Scratch,
) {
    let (ic, oc) = (g.in_c, g.out_c);
    let (oh, ow) = (g.out_h, g.out_w);
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let nt = span.len() * tw;
    s.v.resize(16 * nt * ic, 0.0);
    s.t.resize(16 * ic.max(oc), 0.0);
    s.m.resize(16 * nt * oc, 0.0);
    let (sums, db) = acc.split_at_mut(16 * ic * oc);
    for (r, row) in span.enumerate() {
        let (b, ty) = (row / th, row % th);
        let img = &dy[b * oh * ow * oc..(b + 1) * oh * ow * oc];
        for tx in 0..tw {
            let t = r * tw + tx;
            let patch = input_patch(x, g, (b, ty, tx), zero);
            input_channels(&patch, tile_slices(&mut s.v, nt, t, ic), &mut s.t, ic);
            let pixels: [&[f32]; 4] = std::array::from_fn(|k| {
                let (oy, ox) = (2 * ty + k / 2, 2 * tx + k % 2);
                if oy < oh && ox < ow {
                    &img[(oy * ow + ox) * oc..(oy * ow + ox + 1) * oc]
                } else {
                    &zero[..oc]
                }
            });
            gradient_channels(pixels, tile_slices(&mut s.m, nt, t, oc), db, &mut s.t);
        }
    }
    for (e, m_e) in sums.chunks_exact_mut(ic * oc).enumerate() {
        pack_a(
            MatRef::row_major(&s.v[e * nt * ic..(e + 1) * nt * ic], nt, ic).t(),
            &mut s.panels,
        );
        let dy_e = MatRef::row_major(&s.m[e * nt * oc..(e + 1) * nt * oc], nt, oc);
        gemm_once_b(&s.panels, dy_e, (ic, nt, oc), 1.0, m_e, &mut s.bpanels);
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    use super::*;
    use crate::geometry::Padding;

    /// Calls `f(yi, xi, wi)` for every output element `yi`, window position inside the image
    /// and input channel: the flat indices of the output, input and kernel (HWIO) elements
    /// whose product the convolution sums into `yi`.
    fn for_each_tap(g: &Conv2dGeom, mut f: impl FnMut(usize, usize, usize)) {
        let (oh, ow) = (g.out_h(), g.out_w());
        let (pt, pl) = (g.pad_top() as isize, g.pad_left() as isize);
        for b in 0..g.batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    for o in 0..g.out_c {
                        let yi = ((b * oh + oy) * ow + ox) * g.out_c + o;
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let iy = oy as isize + ky as isize - pt;
                                let ix = ox as isize + kx as isize - pl;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_h as isize
                                    || ix >= g.in_w as isize
                                {
                                    continue;
                                }
                                let x0 =
                                    ((b * g.in_h + iy as usize) * g.in_w + ix as usize) * g.in_c;
                                for c in 0..g.in_c {
                                    f(yi, x0 + c, ((ky * 3 + kx) * g.in_c + c) * g.out_c + o);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The convolution as a plain f64 sum over the window.
    fn direct(x: &[f32], w: &[f32], bias: &[f32], g: &Conv2dGeom) -> Vec<f64> {
        let mut y: Vec<f64> = (0..g.output_len())
            .map(|yi| f64::from(bias[yi % g.out_c]))
            .collect();
        for_each_tap(g, |yi, xi, wi| y[yi] += f64::from(x[xi]) * f64::from(w[wi]));
        y
    }

    /// A 3×3 stride-1 convolution of `batch` images `h × w × ic` into `oc` channels.
    fn geom(
        batch: usize,
        h: usize,
        w: usize,
        ic: usize,
        oc: usize,
        padding: Padding,
    ) -> Conv2dGeom {
        Conv2dGeom::of(batch, (h, w, ic, oc), (3, 3), (1, 1), padding)
    }

    #[test]
    fn matches_the_direct_sum_for_valid_and_same_odd_and_even_sizes() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut rand = || rng.gen_range(-0.5f32..0.5);
        for (batch, h, w, ic, oc, padding) in [
            (2, 13, 13, 32, 64, Padding::Valid),
            (1, 8, 6, 16, 5, Padding::Same),
            (3, 5, 7, 17, 33, Padding::Same),
            (1, 3, 3, 16, 1, Padding::Valid),
            (2, 4, 9, 20, 16, Padding::Valid),
            (1, 10, 9, 64, 8, Padding::Same),
            (2, 9, 10, 128, 19, Padding::Same),
        ] {
            let g = geom(batch, h, w, ic, oc, padding);
            assert!(supported(&g));
            let x: Vec<f32> = (0..g.input_len()).map(|_| rand()).collect();
            let wt: Vec<f32> = (0..g.weight_len()).map(|_| rand()).collect();
            let bias: Vec<f32> = (0..oc).map(|_| rand()).collect();
            let want = direct(&x, &wt, &bias, &g);
            for relu in [false, true] {
                let got = conv2d(&x, &wt, Some(&bias), &g, relu);
                assert_eq!(got.len(), want.len());
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    let b = if relu { b.max(0.0) } else { *b };
                    assert!(
                        (*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()),
                        "{g:?} relu {relu} element {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// dL/dx, dL/dw and dL/dbias of the convolution for output gradient `dy`, as plain f64
    /// sums over every (output element, window tap) pair.
    fn direct_gradients(
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        g: &Conv2dGeom,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut dx = vec![0.0f64; g.input_len()];
        let mut dw = vec![0.0f64; g.weight_len()];
        let mut db = vec![0.0f64; g.out_c];
        for (yi, d) in dy.iter().enumerate() {
            db[yi % g.out_c] += f64::from(*d);
        }
        for_each_tap(g, |yi, xi, wi| {
            let d = f64::from(dy[yi]);
            dx[xi] += d * f64::from(w[wi]);
            dw[wi] += d * f64::from(x[xi]);
        });
        (dx, dw, db)
    }

    /// Asserts `got` equals `want` to f32 rounding of sums of `terms` products.
    fn assert_close(got: &[f32], want: &[f64], terms: usize, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let tol = 1e-5 * (terms as f64).sqrt();
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (*a as f64 - b).abs() < tol * (1.0 + b.abs()),
                "{what} element {i}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn gradients_match_the_direct_sums_for_valid_and_same_odd_and_even_sizes() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut rand = || rng.gen_range(-0.5f32..0.5);
        for (batch, h, w, ic, oc, padding) in [
            (2, 13, 13, 32, 64, Padding::Valid),
            (1, 8, 6, 16, 5, Padding::Same),
            (3, 5, 7, 17, 33, Padding::Same),
            (1, 3, 3, 16, 1, Padding::Valid),
            (2, 4, 9, 20, 16, Padding::Valid),
            (1, 10, 9, 7, 130, Padding::Same),
            (2, 9, 10, 128, 19, Padding::Same),
        ] {
            let g = geom(batch, h, w, ic, oc, padding);
            let x: Vec<f32> = (0..g.input_len()).map(|_| rand()).collect();
            let wt: Vec<f32> = (0..g.weight_len()).map(|_| rand()).collect();
            let dy: Vec<f32> = (0..g.output_len()).map(|_| rand()).collect();
            let (want_dx, want_dw, want_db) = direct_gradients(&x, &wt, &dy, &g);
            let at = format!("{g:?}");
            let dx = conv2d_backward_input(&dy, &wt, &g);
            assert_close(&dx, &want_dx, 9 * oc, &format!("{at} dx"));
            let (dw, db) = conv2d_backward_weight_bias(&x, &dy, &g);
            let pixels = batch * g.out_h() * g.out_w();
            assert_close(&dw, &want_dw, pixels, &format!("{at} dw"));
            assert_close(&db, &want_db, pixels, &format!("{at} db"));
        }
    }

    #[test]
    fn takes_only_3x3_stride_1_convolutions_with_enough_channels_and_pixels() {
        let g = Conv2dGeom {
            batch: 1,
            in_h: 10,
            in_w: 10,
            in_c: 128,
            out_c: 8,
            kh: 3,
            kw: 3,
            stride_h: 1,
            stride_w: 1,
            padding: Padding::Valid,
        };
        assert!(applies(&g));
        assert!(!applies(&Conv2dGeom { stride_w: 2, ..g }));
        assert!(applies(&Conv2dGeom { in_c: 64, ..g }));
        assert!(!applies(&Conv2dGeom { in_c: 32, ..g }));
        // The gradients' thresholds: 16×16 = 256 pixels, in_c 32 (kernel), out_c 64 (input).
        let big = Conv2dGeom {
            in_h: 18,
            in_w: 18,
            in_c: 32,
            out_c: 64,
            ..g
        };
        assert!(applies_to_weight_gradient(&big));
        assert!(applies_to_input_gradient(&big));
        assert!(!applies_to_weight_gradient(&Conv2dGeom { in_c: 16, ..big }));
        assert!(!applies_to_weight_gradient(&Conv2dGeom { in_w: 17, ..big }));
        assert!(!applies_to_input_gradient(&Conv2dGeom { out_c: 32, ..big }));
        assert!(!applies_to_input_gradient(&Conv2dGeom {
            in_h: 15,
            in_w: 17,
            ..big
        }));
        assert!(!applies_to_input_gradient(&Conv2dGeom {
            stride_h: 2,
            ..big
        }));
        assert!(!applies(&Conv2dGeom {
            in_h: 5,
            in_w: 5,
            ..g
        }));
        assert!(!applies(&Conv2dGeom { kh: 5, kw: 5, ..g }));
        assert!(supported(&Conv2dGeom { in_c: 3, ..g }));
        assert!(!supported(&Conv2dGeom { in_h: 2, ..g }));
        assert!(!supported(&Conv2dGeom { kh: 1, kw: 1, ..g }));
    }
}
