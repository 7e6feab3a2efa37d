//! The kernel and bias gradients of a 3×3 stride-1 convolution by the transpose of
//! Winograd's F(4×4, 3×3) (see the module above), with the forward pass's input transform.
//!
//! F(4×4) replaced F(2×2, 3×3) here as in the forward pass (36 sums per 4×4 tile instead of
//! 16 per 2×2: 2.25 multiply-adds per pixel and channel pair instead of 4). Measured in the
//! README (`host bench --backend cpu --model catsdogs`, Zen 4, 2026-12-04).

use rayon::prelude::*;

use super::forward::{input_channels, map4, six_rows, G};
use super::{input_patch, supported, tile_slices, Frame, Scratch, SCRATCH};
use crate::cpu::gemm::MatRef;
use crate::cpu::panel::{gemm_once_b, pack_a, widest};
use crate::cpu::recycle;
use crate::geometry::Conv2dGeom;

/// Floats of both transforms per task in the kernel gradient (4 MiB: a chunk of tiles stays
/// in L3; smaller chunks cost more than they save there, as each chunk's GEMMs read and write
/// the `36 × in_c × out_c` sums; by F(2×2, 3×3), 20×20×128→256 took 39 ms at this size vs
/// 44-50 at a quarter or an eighth of it).
const CHUNK_FLOATS: usize = 1024 * 1024;

/// Arguments of [`gradient_tile_rows`].
type GradientArgs<'a> = (&'a [f32], &'a [f32], &'a Frame, &'a [f32]);

/// dL/dw (HWIO) and dL/dbias of a [`supported`] convolution by the transpose of the forward
/// algorithm (lengths checked by `conv`). The forward tile is the trilinear form
/// `Σ dY ⊙ Y = Σ (A dY Aᵀ) ⊙ (G g Gᵀ) ⊙ (Bᵀ d B)`, so its kernel gradient is
/// `Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)] G`: per tile, the forward's input transform of the 6×6
/// input patch and a 4×4 → 6×6 transform of the tile's `dY`; over tiles, 36 GEMMs
/// `M_e[in_c × out_c] += (Bᵀ d B)_eᵀ · (A dY Aᵀ)_e` whose reduction runs over the tiles (long,
/// unlike the forward's over the channels); one 6×6 → 3×3 transform at the end. Every `dY`
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
    let (th, tw) = (f.out_h.div_ceil(4), f.out_w.div_ceil(4));
    let rows = f.batch * th;
    // Tasks of about `CHUNK_FLOATS` of both transforms, and at least four per thread.
    let balanced = rows.div_ceil(4 * rayon::current_num_threads());
    let per_task = (CHUNK_FLOATS / (36 * tw * (ic + oc))).min(balanced).max(1);
    let zero = vec![0.0f32; ic.max(oc)];
    let len = 36 * ic * oc + oc;
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
    // dW[ky][kx] = Σ_ij G[i][ky] M[6 i + j] G[j][kx]: per tap, a pass over the `in_c × out_c`
    // sums for each nonzero coefficient, the nine taps in parallel.
    let n = ic * oc;
    let mut dw = vec![0.0f32; 9 * n];
    dw.par_chunks_mut(n).enumerate().for_each(|(tap, out)| {
        let (ky, kx) = (tap / 3, tap % 3);
        widest(
            #[inline(always)]
            || {
                for e in 0..36 {
                    let k = G[e / 6][ky] * G[e % 6][kx];
                    if k != 0.0 {
                        for (o, m) in out.iter_mut().zip(&sums[e * n..(e + 1) * n]) {
                            *o += k * m;
                        }
                    }
                }
            },
        )
    });
    let db = sums[36 * n..].to_vec();
    recycle::F32.give(sums);
    (dw, db)
}

/// One row (or column) of the 4 → 6 transform `A ·` of the kernel gradient (`A = (Aᵀ)ᵀ` of
/// the forward's output transform), for four vectors `q`, one pass over the channels per
/// output.
#[inline(always)]
fn gradient_line([q0, q1, q2, q3]: [&[f32]; 4], [r0, r1, r2, r3, r4, r5]: [&mut [f32]; 6]) {
    r0.copy_from_slice(&q0[..r0.len()]);
    map4(r1, [q0, q1, q2, q3], |a, b, c, d| (a + c) + (b + d));
    map4(r2, [q0, q1, q2, q3], |a, b, c, d| (a + c) - (b + d));
    map4(r3, [q0, q1, q2, q3], |a, b, c, d| {
        (a + 4.0 * c) + 2.0 * (b + 4.0 * d)
    });
    map4(r4, [q0, q1, q2, q3], |a, b, c, d| {
        (a + 4.0 * c) - 2.0 * (b + 4.0 * d)
    });
    r5.copy_from_slice(&q3[..r5.len()]);
}

/// The transform `A dY Aᵀ` of one tile's 4×4 output gradient `p` (`p[i][j]`, zeros outside
/// the output), for every output channel, into `v[e]` (row-major 6×6); adds the 16 pixels to
/// `db`. `t` (24 × `oc`) holds `A dY` column by column.
#[inline(always)]
fn gradient_channels(
    p: &[[&[f32]; 4]; 4],
    v: &mut [&mut [f32]; 36],
    db: &mut [f32],
    t: &mut [f32],
) {
    let oc = db.len();
    let t = &mut t[..24 * oc];
    for (s, col) in t.chunks_exact_mut(6 * oc).enumerate() {
        gradient_line(std::array::from_fn(|i| p[i][s]), six_rows(col, oc));
    }
    let t = &*t;
    for (j, vj) in v.chunks_exact_mut(6).enumerate() {
        let mut outs = vj.iter_mut();
        let o: [&mut [f32]; 6] = std::array::from_fn(|_| &mut **outs.next().expect("6"));
        gradient_line(
            std::array::from_fn(|s| &t[(s * 6 + j) * oc..(s * 6 + j + 1) * oc]),
            o,
        );
    }
    // Element (1, 1) is the sum of the 16 pixels (row 1 of `A` is all ones).
    for (db, s) in db.iter_mut().zip(v[7].iter()) {
        *db += s;
    }
}

/// The kernel-gradient sums of tile rows `span` (tile row `r` is row `r % th` of image
/// `r / th`) added into `acc` (`36 × in_c × out_c` products, then `out_c` bias sums).
/// `(x, dy, g, zero)`: the input, the output gradient, their frame, and a zero pixel. The
/// transforms are compiled for the widest vectors this CPU has, as in the forward pass.
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
    let (th, tw) = (oh.div_ceil(4), ow.div_ceil(4));
    let nt = span.len() * tw;
    s.v.resize(36 * nt * ic, 0.0);
    s.t.resize(36 * ic.max(oc), 0.0);
    s.m.resize(36 * nt * oc, 0.0);
    let (sums, db) = acc.split_at_mut(36 * ic * oc);
    for (r, row) in span.enumerate() {
        let (b, ty) = (row / th, row % th);
        let img = &dy[b * oh * ow * oc..(b + 1) * oh * ow * oc];
        for tx in 0..tw {
            let t = r * tw + tx;
            let patch = input_patch::<6>(x, g, (b, ty, tx), zero);
            input_channels(
                &patch,
                &mut tile_slices::<36>(&mut s.v, nt, t, ic),
                &mut s.t,
                ic,
            );
            let pixels: [[&[f32]; 4]; 4] = std::array::from_fn(|i| {
                std::array::from_fn(|j| {
                    let (oy, ox) = (4 * ty + i, 4 * tx + j);
                    if oy < oh && ox < ow {
                        &img[(oy * ow + ox) * oc..(oy * ow + ox + 1) * oc]
                    } else {
                        &zero[..oc]
                    }
                })
            });
            let v = &mut tile_slices::<36>(&mut s.m, nt, t, oc);
            gradient_channels(&pixels, v, db, &mut s.t);
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
