//! A safe, bounds-checked front for `matrixmultiply::sgemm` on row-major or transposed views.

/// A read-only matrix view of `rows × cols` over a slice with explicit strides
/// (element `(r, c)` is `data[r * row_stride + c * col_stride]`).
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose view (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// The offset of the last element, `None` when it overflows (then it cannot be in bounds).
    fn max_offset(&self) -> Option<usize> {
        let r = (self.rows - 1).checked_mul(self.row_stride)?;
        let c = (self.cols - 1).checked_mul(self.col_stride)?;
        r.checked_add(c)
    }
}

/// `c = a · b + beta · c` with `c` row-major `a.rows × b.cols`, single-threaded.
/// With `beta == 0`, `c` is overwritten (its old contents, even NaN, are ignored).
pub(crate) fn gemm(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner dimensions differ");
    let mn = m.checked_mul(n).expect("gemm: output size overflows");
    assert!(c.len() >= mn, "gemm: output buffer too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == 0.0 {
            c[..mn].fill(0.0);
        } else {
            for v in &mut c[..mn] {
                *v *= beta;
            }
        }
        return;
    }
    // Checked arithmetic: a wrapped offset would pass a plain comparison.
    assert!(
        a.max_offset().is_some_and(|o| o < a.data.len()),
        "gemm: a out of bounds"
    );
    assert!(
        b.max_offset().is_some_and(|o| o < b.data.len()),
        "gemm: b out of bounds"
    );
    // SAFETY: the asserts above show that every element the kernel reads, a[(r, c)] for
    // r < m, c < k and b[(r, c)] for r < k, c < n, lies inside `a.data` / `b.data`, and every
    // element it writes, c[r * n + c] for r < m, c < n, lies inside `c` (len >= m * n). The
    // shared borrows of `a`/`b` and the unique borrow of `c` guarantee that the output does
    // not alias the inputs. `sgemm` (cache-blocked, SIMD micro-kernels) is the hot loop of the
    // convolution and dense layers; matrixmultiply only exposes it through raw pointers.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
