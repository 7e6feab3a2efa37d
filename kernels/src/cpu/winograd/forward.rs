//! The forward pass and the input gradient by Winograd's F(4×4, 3×3) (see the module above):
//! per task of whole tile rows, the input transform of each tile's 6×6 patch (passes over the
//! channels), 36 GEMMs with the transformed kernel, and the output transform with bias and
//! ReLU, written straight into the output where the tile is whole.
//!
//! F(4×4) replaced F(2×2, 3×3) here (which the kernel gradient keeps): per output pixel its
//! GEMMs do 36/16 = 2.25 multiply-adds per channel pair instead of 4, and its transforms make
//! fewer passes (72 + 40 per 16 pixels instead of 32 + 12 per 4) over less memory. Measured
//! on the Zen 4 VM (AVX-512), 2026-12-04, `host bench --backend cpu --model catsdogs`, one
//! thread, batch 32, two runs alternating, F(2×2) -> F(4×4): 87×87×64 from 89×89×32 forward
//! 78-79 -> 56 ms, input gradient 84-90 -> 60-61; 41×41×128 from 43×43×64 50 -> 38 and 54 ->
//! 38; 18×18×256 from 20×20×128 31 -> 27.5 and 40 -> 28-28.5; the training step 669-681 ->
//! 591-592 ms (two threads: 349 -> 319). The kernel transform runs in parallel over its 36
//! elements (done in one thread, it had made VGG16's 11×11×512 layers slower than by F(2×2):
//! 88 -> 41 ms once parallel).

use rayon::prelude::*;

use super::{input_patch, supported, tile_slices, Frame, Scratch, SCRATCH};
use crate::cpu::gemm::MatRef;
use crate::cpu::panel::{gemm_packed, pack_a, widest, BPanelRow, NR};
use crate::cpu::recycle;
use crate::geometry::Conv2dGeom;

/// Floats of the transformed input and its products per task in the forward pass and the
/// input gradient (1 MiB: a chunk's transforms and products stay in L2 between the input
/// transform, the GEMMs and the output transform). Measured against chunks of 4 MiB of
/// transformed input alone (then the products, twice as large for 64 → 128 channels, spilled
/// to L3), Zen 4 with AVX-512, one thread, batch 32, best of 7, two runs: 43×43×64→128
/// forward 67-71 ms -> 50-56, 20×20×128→256 40-50 -> 32-38, the input gradients unchanged.
const FORWARD_CHUNK_FLOATS: usize = 256 * 1024;

/// Floats of the transformed kernel (`36 × in_c × out_c`) above which it no longer stays in
/// L3 between tasks (16 MiB: half of the 32 MiB L3 of the Zen 4 VM), so that each task reads
/// it from memory again. VGG16's 512-channel layers (37.7 MB) at 180×180, two threads, batch
/// 32, with a task of one tile row (6 tiles) vs at least 48 tiles: 22×22×512 240-260 vs
/// 167 ms, 11×11×512 63-70 vs 42-53; at least 48 tiles for the 256-channel layers (9.4 MB)
/// made them slower (45×45×256 192-196 vs 219-226 ms and 161-164 vs 182-187), hence the
/// bound.
const LARGE_KERNEL_FLOATS: usize = 4 * 1024 * 1024;

/// Tiles per task, at least, where the transformed kernel is larger than
/// [`LARGE_KERNEL_FLOATS`] (a read of it per 48 tiles).
const MIN_TILES_PER_TASK: usize = 48;

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
    let u = transform_kernel(w, g.in_c, g.out_c);
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
    // flipped[ky][kx][o][c] = w[2 - ky][2 - kx][c][o]: its input channels are the layer's
    // output channels.
    let mut flipped = recycle::dirty(9 * ic * oc);
    for t in 0..9 {
        let (src, dst) = (&w[(8 - t) * ic * oc..], &mut flipped[t * ic * oc..]);
        for c in 0..ic {
            for o in 0..oc {
                dst[o * ic + c] = src[c * oc + o];
            }
        }
    }
    let u = transform_kernel(&flipped, oc, ic);
    recycle::F32.give(flipped);
    convolve(dy, &u, None, &Frame::input_gradient(g), false)
}

/// The output rows of one tile row (`y` rows `4 ty` to `4 ty + 3` of image `b`, those that
/// exist), with the tile row's coordinates.
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

/// `Bᵀ`, the input transform of F(4×4, 3×3) (interpolation points 0, ±1, ±2 and ∞).
#[cfg(test)]
const BT: [[f32; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// `G`, the kernel transform of F(4×4, 3×3).
pub(super) const G: [[f32; 3]; 6] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `Aᵀ`, the output transform of F(4×4, 3×3).
#[cfg(test)]
const AT: [[f32; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// The 36 transformed kernels `U_e = (G g Gᵀ)[e / 6][e % 6]` of the HWIO
/// 3×3 kernel `w` (`3 × 3 × ic × oc`), each `ic × oc`, packed as B: `U_e[c][o] = Σ G[i][ky]
/// G[j][kx] w[ky][kx][c][o]` for `e = 6 i + j`, a pass over each kernel row per nonzero
/// coefficient, written straight into the panels; in parallel over `e`.
fn transform_kernel(w: &[f32], ic: usize, oc: usize) -> Vec<Vec<BPanelRow>> {
    let panels = oc.div_ceil(NR);
    (0..36)
        .into_par_iter()
        .map(|e| {
            let coef: [f32; 9] = std::array::from_fn(|t| G[e / 6][t / 3] * G[e % 6][t % 3]);
            let mut packed = vec![[0.0f32; NR]; panels * ic];
            let mut row = vec![0.0f32; panels * NR];
            widest(
                #[inline(always)]
                || {
                    for c in 0..ic {
                        row.fill(0.0);
                        for (t, &k) in coef.iter().enumerate() {
                            if k != 0.0 {
                                let src = &w[(t * ic + c) * oc..(t * ic + c + 1) * oc];
                                for (r, v) in row.iter_mut().zip(src) {
                                    *r += k * v;
                                }
                            }
                        }
                        for (p, chunk) in row.chunks_exact(NR).enumerate() {
                            packed[p * ic + c] = chunk.try_into().expect("NR floats");
                        }
                    }
                },
            );
            packed
        })
        .collect()
}

/// `o[i] = f(a[i], b[i], c[i])` over `o`'s length (a loop LLVM vectorises).
#[inline(always)]
fn map3(o: &mut [f32], [a, b, c]: [&[f32]; 3], f: impl Fn(f32, f32, f32) -> f32) {
    let n = o.len();
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    for i in 0..n {
        o[i] = f(a[i], b[i], c[i]);
    }
}

/// `o[i] = f(a[i], b[i], c[i], d[i])` over `o`'s length.
#[inline(always)]
pub(super) fn map4(
    o: &mut [f32],
    [a, b, c, d]: [&[f32]; 4],
    f: impl Fn(f32, f32, f32, f32) -> f32,
) {
    let n = o.len();
    let (a, b, c, d) = (&a[..n], &b[..n], &c[..n], &d[..n]);
    for i in 0..n {
        o[i] = f(a[i], b[i], c[i], d[i]);
    }
}

/// One row (or column) of `Bᵀ d B` of F(4×4, 3×3): `r = Bᵀ d` for six vectors `d`, one pass
/// over the channels per output.
#[inline(always)]
fn input_line([d0, d1, d2, d3, d4, d5]: [&[f32]; 6], [r0, r1, r2, r3, r4, r5]: [&mut [f32]; 6]) {
    map3(r0, [d0, d2, d4], |a, c, e| 4.0 * a - 5.0 * c + e);
    map4(r1, [d1, d2, d3, d4], |b, c, d, e| (d + e) - 4.0 * (b + c));
    map4(r2, [d1, d2, d3, d4], |b, c, d, e| (e - d) + 4.0 * (b - c));
    map4(r3, [d1, d2, d3, d4], |b, c, d, e| (e - c) + 2.0 * (d - b));
    map4(r4, [d1, d2, d3, d4], |b, c, d, e| (e - c) - 2.0 * (d - b));
    map3(r5, [d1, d3, d5], |b, d, f| 4.0 * b - 5.0 * d + f);
}

/// `o = Aᵀ m`, plus `bias` when given, for six vectors `m`: one row (or column) of F(4×4,
/// 3×3)'s output transform, one pass over the channels per output; with `relu` each result
/// is clamped at 0.
#[inline(always)]
fn output_line(
    [m0, m1, m2, m3, m4, m5]: [&[f32]; 6],
    bias: Option<&[f32]>,
    [o0, o1, o2, o3]: [&mut [f32]; 4],
    relu: bool,
) {
    let n = o0.len();
    let (m0, m1, m2, m3, m4, m5) = (&m0[..n], &m1[..n], &m2[..n], &m3[..n], &m4[..n], &m5[..n]);
    let finish = |v: f32, i: usize, bias: &[f32]| {
        let v = if bias.is_empty() { v } else { v + bias[i] };
        if relu {
            v.max(0.0)
        } else {
            v
        }
    };
    // Without a bias, an empty one: `finish` then skips it (compiled as a separate loop).
    let bias = bias.map_or(&[][..], |b| &b[..n]);
    for i in 0..n {
        o0[i] = finish(m0[i] + m1[i] + m2[i] + m3[i] + m4[i], i, bias);
    }
    for i in 0..n {
        o1[i] = finish((m1[i] - m2[i]) + 2.0 * (m3[i] - m4[i]), i, bias);
    }
    for i in 0..n {
        o2[i] = finish((m1[i] + m2[i]) + 4.0 * (m3[i] + m4[i]), i, bias);
    }
    for i in 0..n {
        o3[i] = finish((m1[i] - m2[i]) + 8.0 * (m3[i] - m4[i]) + m5[i], i, bias);
    }
}

/// Six `&mut` rows of `block` (`6 × width`).
#[inline(always)]
pub(super) fn six_rows(block: &mut [f32], width: usize) -> [&mut [f32]; 6] {
    let mut rows = block.chunks_exact_mut(width);
    std::array::from_fn(|_| rows.next().expect("6 rows"))
}

/// The input transform `Bᵀ d B` of one 6×6 patch `p` (`p[dy][dx]`: `ic` channels) into
/// `v[e]` (row-major 6×6); `t` (36 × `ic`) holds `Bᵀ d` column by column.
#[inline(always)]
pub(super) fn input_channels(
    p: &[[&[f32]; 6]; 6],
    v: &mut [&mut [f32]; 36],
    t: &mut [f32],
    ic: usize,
) {
    let t = &mut t[..36 * ic];
    for (s, col) in t.chunks_exact_mut(6 * ic).enumerate() {
        input_line(std::array::from_fn(|r| p[r][s]), six_rows(col, ic));
    }
    let t = &*t;
    for (r, vr) in v.chunks_exact_mut(6).enumerate() {
        let mut outs = vr.iter_mut();
        let o: [&mut [f32]; 6] = std::array::from_fn(|_| &mut **outs.next().expect("6"));
        input_line(
            std::array::from_fn(|s| &t[(s * 6 + r) * ic..(s * 6 + r + 1) * ic]),
            o,
        );
    }
}

/// The convolution of `x` (shaped as `f`) by the transformed kernel `u`, plus
/// `bias`, then with `relu` `max(·, 0)`.
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
    let tw = ow.div_ceil(4);
    let th = oh.div_ceil(4);
    // Every output pixel belongs to exactly one tile and is written by it.
    let mut y = recycle::dirty(f.batch * oh * ow * oc);
    let mut rows = Vec::with_capacity(f.batch * th);
    {
        let mut rest: &mut [f32] = &mut y;
        for b in 0..f.batch {
            for ty in 0..th {
                let len = (4.min(oh - 4 * ty)) * ow * oc;
                let (head, tail) = rest.split_at_mut(len);
                rows.push(TileRow { b, ty, y: head });
                rest = tail;
            }
        }
    }
    let balanced = rows.len().div_ceil(4 * rayon::current_num_threads());
    // With a transformed kernel too large to stay in L3 across tasks, enough tiles per task
    // to amortise reading it.
    let min_rows = if 36 * ic * oc > LARGE_KERNEL_FLOATS {
        MIN_TILES_PER_TASK.div_ceil(tw)
    } else {
        1
    };
    let tile_rows_per_task = (FORWARD_CHUNK_FLOATS / (36 * tw * (ic + oc)))
        .max(min_rows)
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

/// The tiles of `task` (whole tile rows): input transform, 36 GEMMs, output transform.
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
    let tw = ow.div_ceil(4);
    let nt = task.len() * tw;
    s.v.resize(36 * nt * ic, 0.0);
    s.t.resize(36 * ic.max(oc), 0.0);
    s.m.resize(36 * nt * oc, 0.0);

    for (r, row) in task.iter().enumerate() {
        for tx in 0..tw {
            let t = r * tw + tx;
            let patch = input_patch::<6>(x, g, (row.b, row.ty, tx), zero);
            input_channels(
                &patch,
                &mut tile_slices::<36>(&mut s.v, nt, t, ic),
                &mut s.t,
                ic,
            );
        }
    }

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

    // Output transform, bias and activation: `Aᵀ m` column by column into `s.t` (6 × 4
    // rows), then each output row of the tile straight into `y` when the tile is whole, else
    // through `s.out`.
    s.out.resize(16 * oc, 0.0);
    for (r, row) in task.iter_mut().enumerate() {
        let rows_here = 4.min(oh - 4 * row.ty);
        for tx in 0..tw {
            let t = r * tw + tx;
            let cols_here = 4.min(ow - 4 * tx);
            let m = |e: usize| &s.m[(e * nt + t) * oc..(e * nt + t + 1) * oc];
            let tt = &mut s.t[..24 * oc];
            for (c, col) in tt.chunks_exact_mut(4 * oc).enumerate() {
                let mut outs = col.chunks_exact_mut(oc);
                let o: [&mut [f32]; 4] = std::array::from_fn(|_| outs.next().expect("4"));
                output_line(std::array::from_fn(|i| m(i * 6 + c)), None, o, false);
            }
            let tt = &s.t[..24 * oc];
            let line = |i: usize| -> [&[f32]; 6] {
                std::array::from_fn(|c| &tt[(c * 4 + i) * oc..(c * 4 + i + 1) * oc])
            };
            for i in 0..rows_here {
                if cols_here == 4 {
                    let at = (i * ow + 4 * tx) * oc;
                    let mut px = row.y[at..at + 4 * oc].chunks_exact_mut(oc);
                    let o: [&mut [f32]; 4] = std::array::from_fn(|_| px.next().expect("4"));
                    output_line(line(i), Some(bias), o, relu);
                } else {
                    let mut px = s.out[..4 * oc].chunks_exact_mut(oc);
                    let o: [&mut [f32]; 4] = std::array::from_fn(|_| px.next().expect("4"));
                    output_line(line(i), Some(bias), o, relu);
                    let at = (i * ow + 4 * tx) * oc;
                    row.y[at..at + cols_here * oc].copy_from_slice(&s.out[..cols_here * oc]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` in f64 with this file's (f32) matrices.
    fn winograd_tile(d: &[[f64; 6]; 6], g: &[[f64; 3]; 3]) -> [[f64; 4]; 4] {
        let (bt, gm, at) = (
            BT.map(|r| r.map(f64::from)),
            G.map(|r| r.map(f64::from)),
            AT.map(|r| r.map(f64::from)),
        );
        let u: [[f64; 6]; 6] = std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                (0..3)
                    .flat_map(|a| (0..3).map(move |b| (a, b)))
                    .map(|(a, b)| gm[i][a] * g[a][b] * gm[j][b])
                    .sum()
            })
        });
        let v: [[f64; 6]; 6] = std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                (0..6)
                    .flat_map(|a| (0..6).map(move |b| (a, b)))
                    .map(|(a, b)| bt[i][a] * d[a][b] * bt[j][b])
                    .sum()
            })
        });
        std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                (0..6)
                    .flat_map(|a| (0..6).map(move |b| (a, b)))
                    .map(|(a, b)| at[i][a] * u[a][b] * v[a][b] * at[j][b])
                    .sum()
            })
        })
    }

    #[test]
    fn the_matrices_compute_a_4x4_block_of_a_3x3_correlation() {
        let d: [[f64; 6]; 6] =
            std::array::from_fn(|i| std::array::from_fn(|j| ((i * 7 + j * 3) % 11) as f64 - 5.0));
        let g: [[f64; 3]; 3] =
            std::array::from_fn(|i| std::array::from_fn(|j| ((i * 5 + j) % 7) as f64 - 3.0));
        let y = winograd_tile(&d, &g);
        for (i, row) in y.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let want: f64 = (0..3)
                    .flat_map(|a| (0..3).map(move |b| (a, b)))
                    .map(|(a, b)| d[i + a][j + b] * g[a][b])
                    .sum();
                // G's sixths and twenty-fourths are rounded to f32.
                assert!(
                    (v - want).abs() < 1e-6 * want.abs().max(1.0),
                    "({i}, {j}): {v} vs {want}"
                );
            }
        }
    }

    #[test]
    fn the_line_transforms_are_the_matrices() {
        // Column k of Bᵀ (Aᵀ) is the transform of the unit vector e_k; two channels, the
        // second scaled by 3.
        for k in 0..6 {
            let unit: [Vec<f32>; 6] =
                std::array::from_fn(|i| if i == k { vec![1.0, 3.0] } else { vec![0.0; 2] });
            let mut r = [[0.0f32; 2]; 6];
            {
                let [r0, r1, r2, r3, r4, r5] = &mut r;
                let outs: [&mut [f32]; 6] = [r0, r1, r2, r3, r4, r5];
                input_line(std::array::from_fn(|i| &unit[i][..]), outs);
            }
            for (i, ri) in r.iter().enumerate() {
                assert_eq!(*ri, [BT[i][k], 3.0 * BT[i][k]], "Bᵀ[{i}][{k}]");
            }
            let bias = [0.5f32, -0.5];
            for relu in [false, true] {
                let mut o = [[0.0f32; 2]; 4];
                {
                    let [o0, o1, o2, o3] = &mut o;
                    let outs: [&mut [f32]; 4] = [o0, o1, o2, o3];
                    output_line(
                        std::array::from_fn(|i| &unit[i][..]),
                        Some(&bias),
                        outs,
                        relu,
                    );
                }
                for (i, oi) in o.iter().enumerate() {
                    let want = [AT[i][k] + 0.5, 3.0 * AT[i][k] - 0.5].map(|v| {
                        if relu {
                            v.max(0.0)
                        } else {
                            v
                        }
                    });
                    assert_eq!(*oi, want, "Aᵀ[{i}][{k}], relu {relu}");
                }
            }
        }
    }

    #[test]
    fn the_kernel_transform_is_g_w_gt_in_panels() {
        let (ic, oc) = (3, 20);
        let w: Vec<f32> = (0..9 * ic * oc)
            .map(|i| ((i * 37) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let u = transform_kernel(&w, ic, oc);
        assert_eq!(u.len(), 36);
        for (e, ue) in u.iter().enumerate() {
            let (i, j) = (e / 6, e % 6);
            for c in 0..ic {
                for o in 0..oc.div_ceil(NR) * NR {
                    let got = ue[(o / NR) * ic + c][o % NR];
                    let want: f64 = if o < oc {
                        (0..9)
                            .map(|t| {
                                f64::from(G[i][t / 3])
                                    * f64::from(G[j][t % 3])
                                    * f64::from(w[(t * ic + c) * oc + o])
                            })
                            .sum()
                    } else {
                        0.0
                    };
                    assert!(
                        (f64::from(got) - want).abs() < 1e-6,
                        "U_{e}[{c}][{o}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}
