//! A GEMM over operands already packed into register-tile panels, for the convolutions.
//!
//! `matrixmultiply` packs both operands on every call. A convolution block calls it once per
//! im2col block with the same kernel matrix, and the im2col block is itself a fresh copy, so
//! with `perf` on the MNIST training step (one thread) packing took as long as the multiply
//! (35 % each). Here the kernel matrix is packed once per op ([`pack_b`]), the im2col block is
//! packed straight from the cache-resident block ([`pack_a`]), and the multiply
//! ([`gemm_packed`]) is a 6 × 16 register tile written in plain Rust that LLVM vectorises: 12
//! accumulators of 8 lanes, one broadcast per row and two loads of B per step of k.
//!
//! The x86-64 build enables AVX-512F + FMA (two A panels per B panel: 12 accumulators of 16
//! lanes) or AVX2 + FMA for the multiply when the CPU has them (detected at run time; the
//! binary stays baseline x86-64); elsewhere the same code runs with the target's own SIMD (NEON
//! on aarch64, SSE2 on baseline x86-64).

use super::gemm::MatRef;

/// Rows of the register tile (rows of A per panel).
pub(crate) const MR: usize = 6;
/// Columns of the register tile (columns of B per panel).
pub(crate) const NR: usize = 16;

/// One k-step of an A panel: `MR` rows.
pub(crate) type APanelRow = [f32; MR];
/// One k-step of a B panel: `NR` columns.
pub(crate) type BPanelRow = [f32; NR];

/// Packs the `a.rows × a.cols` matrix `a` into `⌈rows / MR⌉` panels of `a.cols` steps each
/// (`out[p * cols + kk][i] = a[p * MR + i][kk]`, zero beyond the last row). `out` is replaced.
///
/// Each panel is written in order, one step of `MR` floats at a time, and each element once:
/// writing it row by row instead (six passes of 4-byte stores 24 bytes apart over a zeroed
/// buffer) made this as slow as the multiply that reads it in Winograd's small products.
#[inline(always)]
pub(crate) fn pack_a(a: MatRef<'_>, out: &mut Vec<APanelRow>) {
    let (m, k) = (a.rows, a.cols);
    let panels = m.div_ceil(MR);
    out.clear();
    out.reserve(panels * k);
    for p in 0..panels {
        let r0 = p * MR;
        let rows = MR.min(m - r0);
        if rows == MR && a.row_stride == 1 {
            // A transposed view (the im2col block in the kernel gradient): each step of k is
            // `MR` contiguous floats.
            out.extend((0..k).map(|kk| {
                let s = r0 + kk * a.col_stride;
                <APanelRow>::try_from(&a.data[s..s + MR]).expect("MR floats")
            }));
        } else if rows == MR && a.col_stride == 1 {
            // Row-major: `MR` contiguous source rows, read side by side.
            let [s0, s1, s2, s3, s4, s5]: [&[f32]; MR] =
                std::array::from_fn(|i| &a.data[(r0 + i) * a.row_stride..][..k]);
            let steps = s0.iter().zip(s1).zip(s2).zip(s3).zip(s4).zip(s5);
            out.extend(
                steps.map(|(((((a0, a1), a2), a3), a4), a5)| [*a0, *a1, *a2, *a3, *a4, *a5]),
            );
        } else {
            // The last, partial panel, or any other strides.
            out.extend((0..k).map(|kk| {
                std::array::from_fn(|i| {
                    if i < rows {
                        a.data[(r0 + i) * a.row_stride + kk * a.col_stride]
                    } else {
                        0.0
                    }
                })
            }));
        }
    }
}

/// Packs the `b.rows × b.cols` matrix `b` into `⌈cols / NR⌉` panels of `b.rows` steps each
/// (`out[p * rows + kk][j] = b[kk][p * NR + j]`, zero beyond the last column). `out` is
/// resized.
pub(crate) fn pack_b(b: MatRef<'_>, out: &mut Vec<BPanelRow>) {
    let (k, n) = (b.rows, b.cols);
    let panels = n.div_ceil(NR);
    out.clear();
    out.resize(panels * k, [0.0; NR]);
    for (p, dst) in out.chunks_exact_mut(k.max(1)).enumerate().take(panels) {
        let cols = NR.min(n - p * NR);
        for (kk, d) in dst.iter_mut().enumerate() {
            let row = kk * b.row_stride + p * NR * b.col_stride;
            if b.col_stride == 1 && cols == NR {
                // A fixed-size move: `copy_from_slice` calls `memcpy` for each 64-byte row
                // (with this and im2col's copies, `memcpy` inside the weight gradient was
                // 4.5 % of the cats-vs-dogs step's samples, 1.3 % after).
                *d = b.data[row..row + NR].try_into().expect("NR floats");
            } else if b.col_stride == 1 {
                d[..cols].copy_from_slice(&b.data[row..row + cols]);
            } else {
                for (j, v) in d.iter_mut().enumerate().take(cols) {
                    *v = b.data[row + j * b.col_stride];
                }
            }
        }
    }
}

/// A convolution's `k × n` kernel matrix `w` packed as B, with `bias` as an extra row `k`
/// when given (the im2col rows then end with a 1, and the GEMM adds the bias).
pub(crate) fn pack_kernel(
    w: &[f32],
    bias: Option<&[f32]>,
    (k, n): (usize, usize),
) -> Vec<BPanelRow> {
    let mut packed = Vec::new();
    match bias {
        Some(b) => {
            let augmented: Vec<f32> = w.iter().chain(b).copied().collect();
            pack_b(MatRef::row_major(&augmented, k + 1, n), &mut packed);
        }
        None => pack_b(MatRef::row_major(w, k, n), &mut packed),
    }
    packed
}

/// `c = a · b + beta · c` for `c` row-major `m × n`, from `a` packed by [`pack_a`] (`m × k`)
/// and `b` packed by [`pack_b`] (`k × n`). With `beta == 0`, `c`'s old contents are ignored.
///
/// # Panics
/// If the panels or `c` are shorter than `m`, `k` and `n` need (a caller's bug).
pub(crate) fn gemm_packed(
    a: &[APanelRow],
    b: &[BPanelRow],
    (m, k, n): (usize, usize, usize),
    beta: f32,
    c: &mut [f32],
) {
    check_lengths(a, b, (m, k, n), c);
    gemm_on(Isa::detect(), a, b, (m, k, n), beta, false, c);
}

/// `c = a · b + beta · c` as [`gemm_packed`], for a `b` (`k × n`) used by this product only
/// (Winograd's kernel gradient, the im2col weight gradient): read in place where its rows are
/// contiguous and `n` is a multiple of [`NR`] (each step of a panel is then 16 contiguous
/// floats, as in a packed panel), else packed into `scratch` first.
///
/// # Panics
/// If the panels, `b` or `c` are shorter than `m`, `k` and `n` need (a caller's bug).
pub(crate) fn gemm_once_b(
    a: &[APanelRow],
    b: MatRef<'_>,
    (m, k, n): (usize, usize, usize),
    beta: f32,
    c: &mut [f32],
    scratch: &mut Vec<BPanelRow>,
) {
    assert!(b.rows == k && b.cols == n, "gemm_once_b: b's shape");
    if b.col_stride != 1 || n % NR != 0 || b.row_stride < n {
        pack_b(b, scratch);
        return gemm_packed(a, scratch, (m, k, n), beta, c);
    }
    assert!(a.len() >= m.div_ceil(MR) * k, "gemm_once_b: a too short");
    assert!(
        k == 0 || b.data.len() >= (k - 1) * b.row_stride + n,
        "gemm_once_b: b too short"
    );
    assert!(c.len() >= m * n, "gemm_once_b: c too short");
    let strided = Strided {
        data: b.data,
        ld: b.row_stride,
    };
    gemm_on(Isa::detect(), a, strided, (m, k, n), beta, false, c);
}

/// Panics unless the panels and `c` are as long as an `m × k` by `k × n` product needs.
fn check_lengths(a: &[APanelRow], b: &[BPanelRow], (m, k, n): (usize, usize, usize), c: &[f32]) {
    assert!(a.len() >= m.div_ceil(MR) * k, "gemm_packed: a too short");
    assert!(b.len() >= n.div_ceil(NR) * k, "gemm_packed: b too short");
    assert!(c.len() >= m * n, "gemm_packed: c too short");
}

/// `c = max(a · b, 0)`: [`gemm_packed`] with beta 0 and a ReLU applied to each result as it
/// is stored (a convolution's activation without a pass over its output).
///
/// # Panics
/// As [`gemm_packed`].
pub(crate) fn gemm_packed_relu(
    a: &[APanelRow],
    b: &[BPanelRow],
    (m, k, n): (usize, usize, usize),
    c: &mut [f32],
) {
    check_lengths(a, b, (m, k, n), c);
    gemm_on(Isa::detect(), a, b, (m, k, n), 0.0, true, c);
}

/// The instruction sets [`gemm_packed`] has a multiply for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// The target's baseline SIMD (SSE2 on x86-64, NEON on aarch64).
    Baseline,
    /// AVX2 + FMA: 6 x 16 tiles in 12 ymm accumulators.
    Avx2,
    /// AVX-512F + AVX2 + FMA: two A panels per B panel, 12 x 16 tiles in 12 zmm accumulators.
    Avx512,
}

impl Isa {
    /// The best one this CPU runs (the binary stays baseline x86-64; the standard library
    /// caches the detection).
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }
}

/// `f()` compiled for the widest vectors this CPU has (AVX-512F or AVX2 + FMA, detected at run
/// time; the target's baseline SIMD elsewhere): a pass over memory whose loops LLVM
/// vectorises, written as an `#[inline(always)]` closure (or one calling `#[inline(always)]`
/// functions only), which is compiled inside each variant.
#[inline(always)]
pub(crate) fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match Isa::detect() {
        // SAFETY: `on_avx512` and `on_avx2` only run `f` compiled with the features their
        // names say; `Isa::detect` returns Avx512 only when the CPU has AVX-512F, AVX2 and
        // FMA, and Avx2 only when it has AVX2 and FMA.
        Isa::Avx512 => return unsafe { on_avx512(f) },
        // SAFETY: as above.
        Isa::Avx2 => return unsafe { on_avx2(f) },
        Isa::Baseline => {}
    }
    f()
}

/// `f()` with AVX-512F, AVX2 and FMA enabled (see [`widest`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn on_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `f()` with AVX2 and FMA enabled (see [`widest`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn on_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// [`gemm_packed`] (with a ReLU on each result when `relu`) with the multiply for `isa`; one
/// this CPU lacks falls back to the best it has below it.
pub(crate) fn gemm_on<'b>(
    isa: Isa,
    a: &[APanelRow],
    b: impl BPanels<'b>,
    dims: (usize, usize, usize),
    beta: f32,
    relu: bool,
    c: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        let best = Isa::detect();
        if isa == Isa::Avx512 && best == Isa::Avx512 {
            // SAFETY: `gemm_avx512` only differs from `gemm_body` in being compiled with
            // AVX-512F, AVX2 and FMA enabled; the CPU was just checked to support them.
            unsafe { gemm_avx512(a, b, dims, beta, relu, c) };
            return;
        }
        if isa != Isa::Baseline && best != Isa::Baseline {
            // SAFETY: `gemm_avx2_fma` only differs from `gemm_body` in being compiled with AVX2
            // and FMA enabled; `detect` returns Avx2 or Avx512 only when the CPU has both.
            unsafe { gemm_avx2_fma(a, b, dims, beta, relu, c) };
            return;
        }
    }
    let _ = isa;
    gemm_body::<{ cfg!(target_arch = "aarch64") }, false>(a, b, dims, beta, relu, c);
}

/// [`gemm_body`] with AVX-512F and FMA enabled (512-bit lanes: one register per tile row), two
/// A panels at a time so that 12 accumulators hide the FMA latency.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn gemm_avx512<'b>(
    a: &[APanelRow],
    b: impl BPanels<'b>,
    dims: (usize, usize, usize),
    beta: f32,
    relu: bool,
    c: &mut [f32],
) {
    gemm_body::<true, true>(a, b, dims, beta, relu, c);
}

/// [`gemm_body`] with AVX2 and FMA enabled (256-bit lanes, fused multiply-add).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gemm_avx2_fma<'b>(
    a: &[APanelRow],
    b: impl BPanels<'b>,
    dims: (usize, usize, usize),
    beta: f32,
    relu: bool,
    c: &mut [f32],
) {
    gemm_body::<true, false>(a, b, dims, beta, relu, c);
}

/// The B operand of the multiply: the steps of each of its panels of [`NR`] columns.
pub(crate) trait BPanels<'a>: Copy {
    /// The `k` steps of panel `q` (columns `q * NR..`).
    fn panel(self, q: usize, k: usize) -> impl Iterator<Item = &'a BPanelRow>;
}

impl<'a> BPanels<'a> for &'a [BPanelRow] {
    fn panel(self, q: usize, k: usize) -> impl Iterator<Item = &'a BPanelRow> {
        self[q * k..(q + 1) * k].iter()
    }
}

/// A row-major matrix read in place as B ([`gemm_once_b`]): row `kk` at `kk * ld`.
#[derive(Clone, Copy)]
struct Strided<'a> {
    data: &'a [f32],
    ld: usize,
}

impl<'a> BPanels<'a> for Strided<'a> {
    fn panel(self, q: usize, k: usize) -> impl Iterator<Item = &'a BPanelRow> {
        self.data[q * NR..]
            .chunks(self.ld)
            .take(k)
            .map(|row| <&BPanelRow>::try_from(&row[..NR]).expect("NR columns"))
    }
}

/// `x * y + acc`: fused where the target has FMA (a call to the C library's `fmaf` elsewhere,
/// far slower than the two operations).
#[inline(always)]
pub(crate) fn madd<const FMA: bool>(x: f32, y: f32, acc: f32) -> f32 {
    if FMA {
        x.mul_add(y, acc)
    } else {
        x * y + acc
    }
}

/// One `MR × NR` tile: the sum over k of `a[kk] ⊗ b[kk]`, kept in registers.
#[inline(always)]
fn tile<'b, const FMA: bool>(
    a: &[APanelRow],
    b: impl Iterator<Item = &'b BPanelRow>,
) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    for (ar, br) in a.iter().zip(b) {
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = madd::<FMA>(ar[i], br[j], acc[i][j]);
            }
        }
    }
    acc
}

/// Two `MR × NR` tiles sharing each B row: the sums over k of `a0[kk] ⊗ b[kk]` and
/// `a1[kk] ⊗ b[kk]`.
#[inline(always)]
fn tile_pair<'b, const FMA: bool>(
    a0: &[APanelRow],
    a1: &[APanelRow],
    b: impl Iterator<Item = &'b BPanelRow>,
) -> [[[f32; NR]; MR]; 2] {
    let mut acc = [[[0.0f32; NR]; MR]; 2];
    for ((r0, r1), br) in a0.iter().zip(a1).zip(b) {
        for i in 0..MR {
            for j in 0..NR {
                acc[0][i][j] = madd::<FMA>(r0[i], br[j], acc[0][i][j]);
                acc[1][i][j] = madd::<FMA>(r1[i], br[j], acc[1][i][j]);
            }
        }
    }
    acc
}

/// Writes tile `acc` (rows from `r0`, columns `j0..j0 + cols` of the `m × n` matrix `c`) as
/// `c = acc + beta · c`, then with `relu` `c = max(c, 0)`.
#[inline(always)]
pub(crate) fn store(
    acc: &[[f32; NR]; MR],
    c: &mut [f32],
    (r0, j0, cols): (usize, usize, usize),
    (m, n): (usize, usize),
    beta: f32,
    relu: bool,
) {
    for (i, acc_row) in acc.iter().enumerate().take(MR.min(m - r0)) {
        let start = (r0 + i) * n + j0;
        if cols == NR {
            // A full row: fixed-length loops, unrolled into whole vectors.
            let row: &mut [f32; NR] = (&mut c[start..start + NR]).try_into().expect("NR");
            store_row(acc_row, row, beta, relu);
        } else {
            store_row(&acc_row[..cols], &mut c[start..start + cols], beta, relu);
        }
    }
}

/// `row = acc + beta · row`, then with `relu` `row = max(row, 0)`.
#[inline(always)]
fn store_row(acc: &[f32], row: &mut [f32], beta: f32, relu: bool) {
    if beta == 0.0 && relu {
        for (cv, av) in row.iter_mut().zip(acc) {
            *cv = av.max(0.0);
        }
        return;
    }
    if beta == 0.0 {
        row.copy_from_slice(acc);
    } else if beta == 1.0 {
        for (cv, av) in row.iter_mut().zip(acc) {
            *cv += av;
        }
    } else {
        for (cv, av) in row.iter_mut().zip(acc) {
            *cv = beta * *cv + av;
        }
    }
    if relu {
        for cv in row.iter_mut() {
            *cv = cv.max(0.0);
        }
    }
}

/// The blocked loops around [`tile`]: for each B panel (which stays in L1 across the A
/// panels), every A panel; with `PAIR`, two A panels at a time ([`tile_pair`]).
#[inline(always)]
fn gemm_body<'b, const FMA: bool, const PAIR: bool>(
    a: &[APanelRow],
    b: impl BPanels<'b>,
    (m, k, n): (usize, usize, usize),
    beta: f32,
    relu: bool,
    c: &mut [f32],
) {
    if k == 0 {
        for v in &mut c[..m * n] {
            *v = if beta == 0.0 { 0.0 } else { beta * *v };
            if relu {
                *v = v.max(0.0);
            }
        }
        return;
    }
    let panels = m.div_ceil(MR);
    for q in 0..n.div_ceil(NR) {
        let j0 = q * NR;
        let cols = NR.min(n - j0);
        let mut p = 0;
        if PAIR {
            while p + 1 < panels {
                let (a0, a1) = (&a[p * k..(p + 1) * k], &a[(p + 1) * k..(p + 2) * k]);
                let [t0, t1] = tile_pair::<FMA>(a0, a1, b.panel(q, k));
                store(&t0, c, (p * MR, j0, cols), (m, n), beta, relu);
                store(&t1, c, ((p + 1) * MR, j0, cols), (m, n), beta, relu);
                p += 2;
            }
        }
        while p < panels {
            let acc = tile::<FMA>(&a[p * k..(p + 1) * k], b.panel(q, k));
            store(&acc, c, (p * MR, j0, cols), (m, n), beta, relu);
            p += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    use super::*;

    /// f64 reference `a · b + beta · c`.
    fn reference(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &[f32]) -> Vec<f64> {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let at = |r: usize, q: usize, x: MatRef<'_>| x.data[r * x.row_stride + q * x.col_stride];
        (0..m * n)
            .map(|idx| {
                let (r, q) = (idx / n, idx % n);
                let dot: f64 = (0..k)
                    .map(|kk| at(r, kk, a) as f64 * at(kk, q, b) as f64)
                    .sum();
                dot + beta as f64 * c[idx] as f64
            })
            .collect()
    }

    #[test]
    fn b_read_in_place_matches_f64_reference() {
        let mut rng = StdRng::seed_from_u64(777);
        let mut rand = || rng.gen_range(-0.5f32..0.5);
        for &(m, k, n, ldb) in &[
            (1, 1, 16, 16),
            (13, 29, 32, 37),
            (37, 0, 16, 16),
            (25, 300, 48, 64),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rand()).collect();
            // Rows of b are `ldb` apart; the floats between them must not be read.
            let b: Vec<f32> = (0..k * ldb)
                .map(|i| if i % ldb < n { rand() } else { f32::NAN })
                .collect();
            let c0: Vec<f32> = (0..m * n).map(|_| rand()).collect();
            let compact: Vec<f32> = (0..k * n).map(|i| b[i / n * ldb + i % n]).collect();
            let am = MatRef::row_major(&a, m, k);
            let want = reference(am, MatRef::row_major(&compact, k, n), 1.0, &c0);
            let mut pa = Vec::new();
            pack_a(am, &mut pa);
            for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
                let mut c = c0.clone();
                gemm_on(
                    isa,
                    &pa,
                    Strided { data: &b, ld: ldb },
                    (m, k, n),
                    1.0,
                    false,
                    &mut c,
                );
                for (got, want) in c.iter().zip(&want) {
                    assert!(
                        (*got as f64 - want).abs() < 1e-5 * (1.0 + k as f64),
                        "{isa:?} {m}x{k}x{n} ldb {ldb}: {got} vs {want}"
                    );
                }
            }
            let mut c = c0.clone();
            let view = MatRef {
                data: &b,
                rows: k,
                cols: n,
                row_stride: ldb,
                col_stride: 1,
            };
            gemm_once_b(&pa, view, (m, k, n), 1.0, &mut c, &mut Vec::new());
            assert!(c
                .iter()
                .zip(&want)
                .all(|(g, w)| (*g as f64 - w).abs() < 1e-5 * (1.0 + k as f64)));
        }
    }

    #[test]
    fn matches_f64_reference_on_ragged_shapes_and_strides() {
        let mut rng = StdRng::seed_from_u64(12345);
        let mut rand = || rng.gen_range(-0.5f32..0.5);
        for &(m, k, n) in &[
            (1, 1, 1),
            (5, 3, 7),
            (6, 16, 16),
            (13, 29, 33),
            (37, 0, 5),
            (8, 300, 10),
            (25, 40, 17),
            (12, 7, 48),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rand()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rand()).collect();
            let c0: Vec<f32> = (0..m * n).map(|_| rand()).collect();
            for transposed in [false, true] {
                // The same matrices stored transposed and read through transposed views.
                let (am, bm, at, bt);
                if transposed {
                    at = (0..k * m)
                        .map(|i| a[(i % m) * k + i / m])
                        .collect::<Vec<_>>();
                    bt = (0..n * k)
                        .map(|i| b[(i % k) * n + i / k])
                        .collect::<Vec<_>>();
                    am = MatRef::row_major(&at, k, m).t();
                    bm = MatRef::row_major(&bt, n, k).t();
                } else {
                    am = MatRef::row_major(&a, m, k);
                    bm = MatRef::row_major(&b, k, n);
                }
                for beta in [0.0, 1.0, 0.5] {
                    let mut pa = Vec::new();
                    pack_a(am, &mut pa);
                    let mut pb = Vec::new();
                    pack_b(bm, &mut pb);
                    let want = reference(am, bm, beta, &c0);
                    // Every multiply this CPU has (one it lacks runs the next below it).
                    for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
                        for relu in [false, true] {
                            let mut c = c0.clone();
                            gemm_on(isa, &pa, &pb[..], (m, k, n), beta, relu, &mut c);
                            for (got, want) in c.iter().zip(&want) {
                                let want = if relu { want.max(0.0) } else { *want };
                                assert!(
                                    (*got as f64 - want).abs() < 1e-5 * (1.0 + k as f64),
                                    "{isa:?} {m}x{k}x{n} beta {beta} relu {relu} transposed {transposed}: {got} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
