//! Matrix products `C[m, n] = Σ_k A(m, k) B(k, n) (+ bias[n])` with strided operands, so that
//! transposed views cost nothing: `A(i, p) = a[i * a_rs + p * a_cs]`,
//! `B(p, j) = b[p * b_rs + j * b_cs]`, `C` row-major `[m, n]`.
//!
//! Two kernels:
//! - [`gemm_tile`]: every invocation accumulates a `TM × TN` register tile; portable.
//! - [`gemm_plane`]: the lanes of a plane (subgroup) of `P` lanes share one `TM`-row band: each
//!   lane loads the A values of a different `k` and hands them to the others with
//!   `plane_broadcast`, and keeps `TN` columns of its own, so one loaded A value feeds
//!   `P · TN` multiply-adds. On lavapipe, where every buffer load is expensive and the 8 lanes
//!   of a subgroup are one SIMD register, this is the fast path. It needs the plane size to be
//!   exactly `P`, and is enabled only after a self-test on the device (see [`super::GpuBackend`]).
//!
//! Out-of-range rows and columns load clamped (valid) addresses and are masked at the store,
//! so every lane of a plane runs the same instructions.

// Kernel code: CubeCL's frontend translates `/` and `%` but not `div_ceil` or
// `is_multiple_of`.
#![allow(clippy::manual_div_ceil, clippy::manual_is_multiple_of)]

use cubecl::prelude::*;

use super::conv::ConvDims;

/// A operand of [`gemm_plane`]: a strided matrix, `A(i, p) = a[i · a_rs + p · a_cs]`.
pub(crate) const A_MATRIX: u32 = 0;
/// A operand of [`gemm_plane`]: the im2col patch matrix of the NHWC input `a` (convolution
/// forward), formed on the fly: `A((b, oy, ox), (ky, kx, c)) = a[b, oy·sh + ky - pt, ...]`.
pub(crate) const A_PATCHES: u32 = 1;
/// A operand of [`gemm_plane`]: the transposed patch matrix, `A((ky, kx, c), (b, oy, ox))`
/// (convolution weight gradient).
pub(crate) const A_PATCHES_T: u32 = 2;
/// A operand of [`gemm_plane`] for the input gradient of a stride-1 convolution, a full
/// correlation of `dy` with the flipped kernel: `A((b, iy, ix), (ky, kx, o)) =
/// dy[b, iy + pt - ky, ix + pl - kx, o]` (0 outside), and `B((ky, kx, o), c) = w[ky, kx, c, o]`
/// (`b_rs` = `b_cs` = `out_c`).
pub(crate) const A_GRAD_PATCHES: u32 = 3;

/// Strided GEMM operands and sizes, as passed to the kernels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GemmShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_rs: usize,
    pub a_cs: usize,
    pub b_rs: usize,
    pub b_cs: usize,
}

/// Register tile of [`gemm_tile`]: rows per invocation.
pub(crate) const TILE_M: usize = 4;
/// Register tile of [`gemm_tile`]: columns per invocation.
pub(crate) const TILE_N: usize = 4;
/// Cube of [`gemm_tile`]: invocations along columns and rows.
pub(crate) const TILE_CUBE: (u32, u32) = (8, 8);

/// Rows per plane in [`gemm_plane`] for planes of fewer than 32 lanes.
pub(crate) const PLANE_M: usize = 32;
/// Rows per plane in [`gemm_plane`] for planes of 32 lanes or more.
pub(crate) const PLANE_M_WIDE: usize = 8;
/// Most columns per lane in [`gemm_plane`].
pub(crate) const PLANE_N: usize = 8;
/// Planes per cube in [`gemm_plane`] (stacked along rows).
pub(crate) const PLANES_PER_CUBE: u32 = 4;

/// Portable register-tiled GEMM. Cube `(x: column tiles, y: row tiles, z: k splits)`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_tile<F: Float + CubeElement>(
    a: &Array<F>,
    b: &Array<F>,
    bias: &Array<F>,
    c: &mut Array<F>,
    m: u32,
    n: u32,
    k: u32,
    k_chunk: u32,
    a_rs: u32,
    a_cs: u32,
    b_rs: u32,
    b_cs: u32,
    #[comptime] tm: usize,
    #[comptime] tn: usize,
    #[comptime] has_bias: bool,
) {
    let row_cube = CUBE_POS_Y;
    // Split-k: this cube reduces k in [k_lo, k_hi) into output slice CUBE_POS_Z.
    let k_lo = CUBE_POS_Z * k_chunk;
    let k_hi = select(k_lo + k_chunk < k, k_lo + k_chunk, k);
    let c_off = CUBE_POS_Z * m * n;
    let row0 = (row_cube * CUBE_DIM_Y + UNIT_POS_Y) * (tm as u32);
    let col0 = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) * (tn as u32);
    if row0 >= m || col0 >= n {
        terminate!();
    }

    let mut acc = Array::<F>::new(comptime!(tm * tn));
    #[unroll]
    for t in 0..comptime!(tm * tn) {
        acc[t] = F::new(0.0);
    }
    // Clamped operand offsets: rows/columns past the edge read the last valid one.
    let mut a_off = Array::<u32>::new(tm);
    #[unroll]
    for i in 0..tm {
        let r = select(row0 + (i as u32) < m, row0 + (i as u32), m - 1);
        a_off[i] = r * a_rs;
    }
    let mut b_off = Array::<u32>::new(tn);
    #[unroll]
    for j in 0..tn {
        let cc = select(col0 + (j as u32) < n, col0 + (j as u32), n - 1);
        b_off[j] = cc * b_cs;
    }
    let mut av = Array::<F>::new(tm);
    let mut bv = Array::<F>::new(tn);

    for p in k_lo..k_hi {
        let ak = p * a_cs;
        let bk = p * b_rs;
        #[unroll]
        for i in 0..tm {
            av[i] = a[(a_off[i] + ak) as usize];
        }
        #[unroll]
        for j in 0..tn {
            bv[j] = b[(bk + b_off[j]) as usize];
        }
        #[unroll]
        for i in 0..tm {
            #[unroll]
            for j in 0..tn {
                acc[i * tn + j] += av[i] * bv[j];
            }
        }
    }

    #[unroll]
    for i in 0..tm {
        let r = row0 + (i as u32);
        #[unroll]
        for j in 0..tn {
            let cc = col0 + (j as u32);
            if r < m && cc < n {
                let mut v = acc[i * tn + j];
                if has_bias {
                    v += bias[cc as usize];
                }
                c[(c_off + r * n + cc) as usize] = v;
            }
        }
    }
}

/// Plane-sharing GEMM (see the module docs). Cube: `P` lanes along x (one plane) times
/// `PLANES_PER_CUBE` planes along y; cube x indexes column blocks of `P · TN`, cube y row
/// bands of `PLANES_PER_CUBE · TM`, cube z k splits. Lane `l` owns columns `col0 + j · P + l`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_plane<F: Float + CubeElement>(
    a: &Array<F>,
    b: &Array<F>,
    bias: &Array<F>,
    c: &mut Array<F>,
    m: u32,
    n: u32,
    k: u32,
    k_chunk: u32,
    a_rs: u32,
    a_cs: u32,
    b_rs: u32,
    b_cs: u32,
    d: ConvDims,
    #[comptime] p: usize,
    #[comptime] tm: usize,
    #[comptime] tn: usize,
    #[comptime] has_bias: bool,
    #[comptime] a_mode: u32,
) {
    let lane = UNIT_POS_X;
    let row_cube = CUBE_POS_Y;
    // Split-k: this cube reduces k in [k_lo, k_hi) into output slice CUBE_POS_Z.
    let k_lo = CUBE_POS_Z * k_chunk;
    let k_hi = select(k_lo + k_chunk < k, k_lo + k_chunk, k);
    let c_off = CUBE_POS_Z * m * n;
    // Uniform over the plane: safe to leave before any plane operation.
    let row0 = (row_cube * CUBE_DIM_Y + UNIT_POS_Y) * (tm as u32);
    if row0 >= m {
        terminate!();
    }
    let col0 = CUBE_POS_X * ((p * tn) as u32) + lane;

    let mut acc = Array::<F>::new(comptime!(tm * tn));
    #[unroll]
    for t in 0..comptime!(tm * tn) {
        acc[t] = F::new(0.0);
    }
    // Per-row constants of the A operand (see [`A_MATRIX`], [`A_PATCHES`],
    // [`A_PATCHES_T`]).
    let mut q0 = Array::<u32>::new(tm);
    let mut q1 = Array::<u32>::new(tm);
    let mut q2 = Array::<u32>::new(tm);
    #[unroll]
    for i in 0..tm {
        let r = select(row0 + (i as u32) < m, row0 + (i as u32), m - 1);
        if comptime!(a_mode == A_MATRIX) {
            q0[i] = r * a_rs;
        } else if comptime!(a_mode == A_PATCHES) {
            // r = (b, oy, ox): top-left input corner of its window (wrapping in the padding).
            let ox = r % d.out_w;
            let t = r / d.out_w;
            q0[i] = (t % d.out_h) * d.stride_h - d.pad_top;
            q1[i] = ox * d.stride_w - d.pad_left;
            q2[i] = (t / d.out_h) * d.in_h;
        } else if comptime!(a_mode == A_GRAD_PATCHES) {
            // r = (b, iy, ix): dy rows/cols read are iy + pt - ky, ix + pl - kx.
            let ix = r % d.in_w;
            let t = r / d.in_w;
            q0[i] = (t % d.in_h) + d.pad_top;
            q1[i] = ix + d.pad_left;
            q2[i] = (t / d.in_h) * d.out_h;
        } else {
            // r = (ky, kx, c).
            q2[i] = r % d.in_c;
            let t = r / d.in_c;
            q1[i] = t % d.kw;
            q0[i] = t / d.kw;
        }
    }
    let mut b_off = Array::<u32>::new(tn);
    #[unroll]
    for j in 0..tn {
        let cj = col0 + ((j * p) as u32);
        let cc = select(cj < n, cj, n - 1);
        b_off[j] = cc * b_cs;
    }
    let mut av = Array::<F>::new(tm);
    let mut bv = Array::<F>::new(tn);

    let chunks = (k_hi - k_lo + (p as u32) - 1) / (p as u32);
    for chunk in 0..chunks {
        let k0 = k_lo + chunk * (p as u32);
        // This lane's k; past the end it reads a valid address and contributes zero.
        let kl = k0 + lane;
        let valid = kl < k_hi;
        let kv = select(valid, kl, k_hi - 1);
        if comptime!(a_mode == A_MATRIX) {
            let kc = kv * a_cs;
            #[unroll]
            for i in 0..tm {
                av[i] = select(valid, a[(q0[i] + kc) as usize], F::new(0.0));
            }
        } else if comptime!(a_mode == A_PATCHES) {
            // kv = (ky, kx, c).
            let c = kv % d.in_c;
            let t = kv / d.in_c;
            let kx = t % d.kw;
            let ky = t / d.kw;
            #[unroll]
            for i in 0..tm {
                let iy = q0[i] + ky;
                let ix = q1[i] + kx;
                let ok = valid && iy < d.in_h && ix < d.in_w;
                let addr = select(ok, ((q2[i] + iy) * d.in_w + ix) * d.in_c + c, 0u32);
                av[i] = select(ok, a[addr as usize], F::new(0.0));
            }
        } else if comptime!(a_mode == A_GRAD_PATCHES) {
            // kv = (ky, kx, o); out_c is carried in b_rs.
            let o = kv % b_rs;
            let t = kv / b_rs;
            let kx = t % d.kw;
            let ky = t / d.kw;
            #[unroll]
            for i in 0..tm {
                // Unsigned: rows above the output wrap and fail `< out_h`.
                let oy = q0[i] - ky;
                let ox = q1[i] - kx;
                let ok = valid && oy < d.out_h && ox < d.out_w;
                let addr = select(ok, ((q2[i] + oy) * d.out_w + ox) * b_rs + o, 0u32);
                av[i] = select(ok, a[addr as usize], F::new(0.0));
            }
        } else {
            // kv = (b, oy, ox).
            let ox = kv % d.out_w;
            let t = kv / d.out_w;
            let y0 = (t % d.out_h) * d.stride_h - d.pad_top;
            let x0 = ox * d.stride_w - d.pad_left;
            let b0 = (t / d.out_h) * d.in_h;
            #[unroll]
            for i in 0..tm {
                let iy = y0 + q0[i];
                let ix = x0 + q1[i];
                let ok = valid && iy < d.in_h && ix < d.in_w;
                let addr = select(ok, ((b0 + iy) * d.in_w + ix) * d.in_c + q2[i], 0u32);
                av[i] = select(ok, a[addr as usize], F::new(0.0));
            }
        }
        // (ky·kw + kx, o) of k0, for the kernel operand of A_GRAD_PATCHES.
        let mut g_kyx = 0u32;
        let mut g_o = 0u32;
        if comptime!(a_mode == A_GRAD_PATCHES) {
            g_kyx = k0 / b_rs;
            g_o = k0 % b_rs;
        }
        #[unroll]
        for s in 0..p {
            let kk = select(k0 + (s as u32) < k_hi, k0 + (s as u32), k_hi - 1);
            let mut ks = kk * b_rs;
            if comptime!(a_mode == A_GRAD_PATCHES) {
                // B(k = (ky, kx, o), c) = w[ky, kx, c, o]: (ky, kx) block, then o; the column
                // offset c · out_c is in b_off. (g_kyx, g_o) walks k0 + s without dividing;
                // past k_hi it reads weight 0's block (finite, multiplied by a zero A).
                ks = select(k0 + (s as u32) < k_hi, g_kyx * (d.in_c * b_rs) + g_o, 0u32);
                g_o += 1;
                while g_o >= b_rs {
                    g_o -= b_rs;
                    g_kyx += 1;
                }
            }
            // Uniform over the plane (k0 is): the tail chunk skips the loads and
            // multiply-adds of k past the end (conv1 has k = 9: 7 of 16 steps).
            if k0 + (s as u32) < k_hi {
                #[unroll]
                for j in 0..tn {
                    bv[j] = b[(ks + b_off[j]) as usize];
                }
                #[unroll]
                for i in 0..tm {
                    let a_s = plane_broadcast(av[i], s as u32);
                    #[unroll]
                    for j in 0..tn {
                        acc[i * tn + j] += a_s * bv[j];
                    }
                }
            }
        }
    }

    #[unroll]
    for i in 0..tm {
        let r = row0 + (i as u32);
        #[unroll]
        for j in 0..tn {
            let cc = col0 + ((j * p) as u32);
            if r < m && cc < n {
                let mut v = acc[i * tn + j];
                if has_bias {
                    v += bias[cc as usize];
                }
                c[(c_off + r * n + cc) as usize] = v;
            }
        }
    }
}

/// `out[i] = Σ_s partial[s · len + i] (+ bias[i % n])`: the second pass of a split-k GEMM.
#[cube(launch)]
pub(crate) fn sum_splits<F: Float + CubeElement>(
    partial: &Array<F>,
    bias: &Array<F>,
    out: &mut Array<F>,
    splits: u32,
    n: u32,
    #[comptime] has_bias: bool,
) {
    let stride = CUBE_COUNT * (CUBE_DIM as usize);
    let len = out.len();
    let mut i = ABSOLUTE_POS;
    while i < len {
        let mut v = F::new(0.0);
        for s in 0..splits {
            v += partial[(s as usize) * len + i];
        }
        if has_bias {
            v += bias[((i as u32) % n) as usize];
        }
        out[i] = v;
        i += stride;
    }
}
