//! Fixed-shape HWC tensor views over borrowed buffers.
//!
//! A view's shape is part of its type (`H`, `W`, `C` const parameters), its length is checked
//! once when the view is built, and the kernels rely on that invariant: no shape error can
//! occur inside a layer. Element `(y, x, c)` lives at `(y * W + x) * C + c` (channels last,
//! like Keras).

/// Shared view of an `H × W × C` tensor stored channels-last.
#[derive(Debug)]
pub struct TensorRef<'a, T, const H: usize, const W: usize, const C: usize> {
    data: &'a [T],
}

impl<T, const H: usize, const W: usize, const C: usize> Clone for TensorRef<'_, T, H, W, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, const H: usize, const W: usize, const C: usize> Copy for TensorRef<'_, T, H, W, C> {}

/// Exclusive view of an `H × W × C` tensor stored channels-last.
#[derive(Debug)]
pub struct TensorMut<'a, T, const H: usize, const W: usize, const C: usize> {
    data: &'a mut [T],
}

impl<'a, T, const H: usize, const W: usize, const C: usize> TensorRef<'a, T, H, W, C> {
    /// Number of elements, `H * W * C`.
    pub const LEN: usize = H * W * C;

    /// Wraps `data`, which must hold exactly `H * W * C` elements; `None` otherwise.
    pub fn new(data: &'a [T]) -> Option<Self> {
        (data.len() == Self::LEN).then_some(Self { data })
    }

    /// Views the first `H * W * C` elements of an arena buffer; the fit is checked at compile time.
    ///
    /// ```compile_fail
    /// use shared::tensor::TensorRef;
    /// let arena = [0i8; 100];
    /// let _ = TensorRef::<i8, 5, 5, 5>::from_arena(&arena); // 125 > 100
    /// ```
    pub fn from_arena<const N: usize>(buf: &'a [T; N]) -> Self {
        const { assert!(H * W * C <= N, "arena buffer too small for this tensor") };
        Self {
            data: &buf[..H * W * C],
        }
    }

    /// The elements, channels-last.
    pub fn data(&self) -> &'a [T] {
        self.data
    }

    /// Element at `(y, x, c)`, `None` when out of range.
    pub fn get(&self, y: usize, x: usize, c: usize) -> Option<&'a T> {
        if y < H && x < W && c < C {
            self.data.get((y * W + x) * C + c)
        } else {
            None
        }
    }
}

impl<'a, T, const H: usize, const W: usize, const C: usize> TensorMut<'a, T, H, W, C> {
    /// Number of elements, `H * W * C`.
    pub const LEN: usize = H * W * C;

    /// Wraps `data`, which must hold exactly `H * W * C` elements; `None` otherwise.
    pub fn new(data: &'a mut [T]) -> Option<Self> {
        if data.len() == Self::LEN {
            Some(Self { data })
        } else {
            None
        }
    }

    /// Views the first `H * W * C` elements of an arena buffer; the fit is checked at compile time.
    pub fn from_arena<const N: usize>(buf: &'a mut [T; N]) -> Self {
        const { assert!(H * W * C <= N, "arena buffer too small for this tensor") };
        Self {
            data: &mut buf[..H * W * C],
        }
    }

    /// The elements, channels-last.
    pub fn data(&self) -> &[T] {
        self.data
    }

    /// The elements, channels-last, mutably.
    pub fn data_mut(&mut self) -> &mut [T] {
        self.data
    }

    /// A shared view of the same tensor.
    pub fn as_ref(&self) -> TensorRef<'_, T, H, W, C> {
        TensorRef { data: self.data }
    }

    /// Turns this view into a shared view with the same lifetime.
    pub fn into_ref(self) -> TensorRef<'a, T, H, W, C> {
        TensorRef { data: self.data }
    }
}

impl<'a, T, const H: usize, const W: usize, const C: usize> TensorMut<'a, T, H, W, C> {
    /// The underlying slice, with the view's lifetime.
    pub fn into_mut_slice(self) -> &'a mut [T] {
        self.data
    }
}

impl<'a, T, const H: usize, const W: usize, const C: usize> TensorRef<'a, T, H, W, C> {
    /// The same elements viewed as `H2 × W2 × C2`; fails to compile unless the element counts
    /// are equal.
    pub fn reshape<const H2: usize, const W2: usize, const C2: usize>(
        self,
    ) -> TensorRef<'a, T, H2, W2, C2> {
        const {
            assert!(
                H * W * C == H2 * W2 * C2,
                "reshape must keep the element count"
            )
        };
        TensorRef { data: self.data }
    }
}

impl<'a, T, const H: usize, const W: usize, const C: usize> TensorMut<'a, T, H, W, C> {
    /// The same elements viewed as `H2 × W2 × C2`; fails to compile unless the element counts
    /// are equal.
    pub fn reshape<const H2: usize, const W2: usize, const C2: usize>(
        self,
    ) -> TensorMut<'a, T, H2, W2, C2> {
        const {
            assert!(
                H * W * C == H2 * W2 * C2,
                "reshape must keep the element count"
            )
        };
        TensorMut { data: self.data }
    }
}
