//! Recycling of large tensor buffers.
//!
//! A training step allocates and frees the same few large buffers (activations, gradients,
//! im2col blocks) every batch. Fresh multi-megabyte allocations come from the kernel as zero
//! pages, and the first write to each 4 KiB page takes a page fault: measured with `perf` on
//! the 2-core development VM, page faults took more time than the GEMM in the first conv layer's
//! forward pass. Dropped [`super::CpuTensor`]s and [`super::CpuIndex`]es therefore return their
//! buffers here, and ops take their outputs from here, so steady-state training reuses memory
//! that is already mapped.

use std::sync::Mutex;

/// Buffers smaller than this go straight to the allocator (they are cheap to map).
const MIN_BYTES: usize = 64 * 1024;
/// At most this many bytes are kept for reuse; beyond it, returned buffers are freed.
const MAX_BYTES: usize = 512 * 1024 * 1024;
/// At most this many buffers are kept.
const MAX_BUFFERS: usize = 256;

/// A bin of reusable `Vec<T>`s.
pub(crate) struct Recycler<T> {
    bin: Mutex<Bin<T>>,
}

struct Bin<T> {
    buffers: Vec<Vec<T>>,
    bytes: usize,
}

impl<T: Copy> Recycler<T> {
    /// An empty bin.
    pub const fn new() -> Self {
        Recycler {
            bin: Mutex::new(Bin {
                buffers: Vec::new(),
                bytes: 0,
            }),
        }
    }

    /// A vector (of any length, unspecified contents) with capacity for at least `len`
    /// elements: a kept buffer whose capacity is between `len` and `2 len` when there is one,
    /// else a new, empty allocation.
    fn take_any(&self, len: usize) -> Vec<T> {
        if len * size_of::<T>() >= MIN_BYTES {
            let mut bin = self.bin.lock().unwrap_or_else(|e| e.into_inner());
            let best = bin
                .buffers
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len && b.capacity() <= 2 * len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                // `remove`, not `swap_remove`: the bin stays in the order buffers came back.
                let b = bin.buffers.remove(i);
                bin.bytes -= b.capacity() * size_of::<T>();
                return b;
            }
        }
        Vec::with_capacity(len)
    }

    /// An empty vector with capacity for at least `len` elements (see [`Recycler::take_any`]).
    pub fn take_empty(&self, len: usize) -> Vec<T> {
        let mut v = self.take_any(len);
        v.clear();
        v
    }

    /// A vector of `len` elements with unspecified contents: a reused buffer keeps its old
    /// values (elements beyond its old length are `fill`).
    pub fn take_dirty(&self, len: usize, fill: T) -> Vec<T> {
        let mut v = self.take_any(len);
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, fill);
        }
        v
    }

    /// A vector of `len` copies of `fill` (see [`Recycler::take_empty`]).
    pub fn take(&self, len: usize, fill: T) -> Vec<T> {
        let mut v = self.take_empty(len);
        v.resize(len, fill);
        v
    }

    /// Keeps `v` for reuse (or frees it when it is small or larger than the whole bin). A
    /// full bin frees the buffers that came back longest ago to make room: what the current
    /// steps use replaces what earlier ones did (the last batch of an epoch, the validation
    /// pass and the first call's timing of two ways leave buffers of other sizes). Refusing
    /// `v` instead made the cats-vs-dogs training step take fresh pages for its largest
    /// outputs once the bin had filled with such buffers: page clearing was 11 % of an
    /// epoch's samples.
    pub fn give(&self, v: Vec<T>) {
        let bytes = v.capacity() * size_of::<T>();
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
            return;
        }
        let mut bin = self.bin.lock().unwrap_or_else(|e| e.into_inner());
        while bin.bytes + bytes > MAX_BYTES || bin.buffers.len() >= MAX_BUFFERS {
            let old = bin.buffers.remove(0);
            bin.bytes -= old.capacity() * size_of::<T>();
        }
        bin.bytes += bytes;
        bin.buffers.push(v);
    }
}

/// The bin of `f32` buffers.
pub(crate) static F32: Recycler<f32> = Recycler::new();
/// The bin of `u32` buffers.
pub(crate) static U32: Recycler<u32> = Recycler::new();

/// A zeroed `f32` vector of `len` elements, reusing memory when possible.
pub(crate) fn zeros(len: usize) -> Vec<f32> {
    F32.take(len, 0.0)
}

/// An `f32` vector of `len` elements with unspecified (but initialised) contents, for outputs
/// that the caller overwrites completely: a reused buffer keeps its old values and is not
/// cleared, saving a pass over memory.
pub(crate) fn dirty(len: usize) -> Vec<f32> {
    F32.take_dirty(len, 0.0)
}

/// A `u32` vector of `len` elements with unspecified contents (see [`dirty`]).
pub(crate) fn dirty_u32(len: usize) -> Vec<u32> {
    U32.take_dirty(len, 0)
}

/// Element-wise `a += b`, returning `a` (and `b`'s buffer to the bin): the reduction of
/// per-task partial sums.
pub(crate) fn add_into(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    for (x, y) in a.iter_mut().zip(&b) {
        *x += y;
    }
    F32.give(b);
    a
}

/// A copy of `src` in a possibly reused buffer.
pub(crate) fn copy_of(src: &[f32]) -> Vec<f32> {
    let mut v = F32.take_empty(src.len());
    v.extend_from_slice(src);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first element of each kept buffer, oldest first.
    fn tags(bin: &Recycler<u8>) -> Vec<u8> {
        let bin = bin.bin.lock().unwrap();
        bin.buffers.iter().map(|b| b[0]).collect()
    }

    /// A buffer of `bytes` capacity (not touched: no pages are mapped) holding `[tag]`.
    fn buffer(bytes: usize, tag: u8) -> Vec<u8> {
        let mut v = Vec::with_capacity(bytes);
        v.push(tag);
        v
    }

    #[test]
    fn a_full_bin_frees_the_buffers_that_came_back_longest_ago() {
        let bin: Recycler<u8> = Recycler::new();
        let third = MAX_BYTES / 3;
        for tag in 0..3 {
            bin.give(buffer(third, tag));
        }
        assert_eq!(tags(&bin), [0, 1, 2]);
        // A fourth does not fit: the oldest makes room.
        bin.give(buffer(third, 3));
        assert_eq!(tags(&bin), [1, 2, 3]);
        // Taking one out keeps the others' order; what comes back is the newest.
        let taken = bin.take_any(third);
        assert_eq!(taken[0], 1, "the best fit, the oldest of equal ones");
        bin.give(buffer(third, 4));
        bin.give(taken);
        assert_eq!(tags(&bin), [3, 4, 1]);
        // A buffer larger than the whole bin, or a small one, is not kept and evicts nothing.
        bin.give(buffer(MAX_BYTES + 1, 5));
        bin.give(buffer(MIN_BYTES - 1, 6));
        assert_eq!(tags(&bin), [3, 4, 1]);
        assert_eq!(bin.bin.lock().unwrap().bytes, 3 * third);
    }

    #[test]
    fn at_most_max_buffers_are_kept() {
        let bin: Recycler<u8> = Recycler::new();
        for i in 0..MAX_BUFFERS + 2 {
            bin.give(buffer(MIN_BYTES, (i % 251) as u8));
        }
        let kept = tags(&bin);
        assert_eq!(kept.len(), MAX_BUFFERS);
        assert_eq!(kept[0], 2, "the first two made room");
    }
}
