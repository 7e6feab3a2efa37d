//! Storage of floating-point weights for the f32 kernels.
//!
//! Blob weights are borrowed as bytes straight from the blob (on the device: from flash), so
//! they may be unaligned; they are read with `from_le_bytes`, never by casting pointers.

use crate::blob::WeightFormat;

/// A read-only sequence of weights that the f32 kernels can consume.
pub trait WeightStore: Copy {
    /// The blob weight format this storage decodes.
    const FORMAT: WeightFormat;

    /// Number of weights.
    fn len(&self) -> usize;

    /// Whether there are no weights.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Weight `i` as f32. Callers keep `i < len()`.
    fn get(&self, i: usize) -> f32;

    /// `acc[j] += x * w[start + j]` for every `j < acc.len()`. Callers keep
    /// `start + acc.len() <= len()`.
    fn axpy(&self, start: usize, x: f32, acc: &mut [f32]);
}

impl WeightStore for &[f32] {
    const FORMAT: WeightFormat = WeightFormat::F32;

    fn len(&self) -> usize {
        <[f32]>::len(self)
    }

    #[inline(always)]
    fn get(&self, i: usize) -> f32 {
        self[i]
    }

    #[inline(always)]
    fn axpy(&self, start: usize, x: f32, acc: &mut [f32]) {
        let w = &self[start..start + acc.len()];
        for (a, &w) in acc.iter_mut().zip(w) {
            *a += x * w;
        }
    }
}

/// Little-endian IEEE-754 f32 weights borrowed as bytes.
#[derive(Clone, Copy, Debug)]
pub struct F32Le<'a>(&'a [u8]);

impl<'a> F32Le<'a> {
    /// Wraps `bytes`, whose length must be a multiple of 4; `None` otherwise.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        bytes
            .chunks_exact(4)
            .remainder()
            .is_empty()
            .then_some(Self(bytes))
    }

    /// The underlying bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl WeightStore for F32Le<'_> {
    const FORMAT: WeightFormat = WeightFormat::F32;

    fn len(&self) -> usize {
        self.0.len() / 4
    }

    #[inline(always)]
    fn get(&self, i: usize) -> f32 {
        let b = &self.0[i * 4..i * 4 + 4];
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    #[inline(always)]
    fn axpy(&self, start: usize, x: f32, acc: &mut [f32]) {
        let w = &self.0[start * 4..(start + acc.len()) * 4];
        for (a, b) in acc.iter_mut().zip(w.chunks_exact(4)) {
            *a += x * f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
}

/// Little-endian IEEE-754 binary16 weights borrowed as bytes, widened to f32 on the fly.
#[derive(Clone, Copy, Debug)]
pub struct F16Le<'a>(&'a [u8]);

impl<'a> F16Le<'a> {
    /// Wraps `bytes`, whose length must be even; `None` otherwise.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        bytes
            .chunks_exact(2)
            .remainder()
            .is_empty()
            .then_some(Self(bytes))
    }

    /// The underlying bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl WeightStore for F16Le<'_> {
    const FORMAT: WeightFormat = WeightFormat::F16;

    fn len(&self) -> usize {
        self.0.len() / 2
    }

    #[inline(always)]
    fn get(&self, i: usize) -> f32 {
        let b = &self.0[i * 2..i * 2 + 2];
        f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))
    }

    #[inline(always)]
    fn axpy(&self, start: usize, x: f32, acc: &mut [f32]) {
        let w = &self.0[start * 2..(start + acc.len()) * 2];
        for (a, b) in acc.iter_mut().zip(w.chunks_exact(2)) {
            *a += x * f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]));
        }
    }
}

/// Widens IEEE binary16 bits to f32 exactly (same value as `half::f16::to_f32`, NaNs stay NaN).
///
/// Branch-free so that the f16 kernels vectorize: the exponent and mantissa are moved into f32
/// position and rebiased by multiplying with 2^112, which also normalises subnormals exactly;
/// infinities and NaNs are selected separately.
#[inline(always)]
pub fn f16_bits_to_f32(h: u16) -> f32 {
    let sign = ((h & 0x8000) as u32) << 16;
    let em = (h & 0x7fff) as u32;
    let finite = f32::from_bits(em << 13) * f32::from_bits(0x7780_0000); // × 2^112
    let special = f32::from_bits(0x7f80_0000 | ((em & 0x03ff) << 13));
    let magnitude = if em >= 0x7c00 { special } else { finite };
    f32::from_bits(magnitude.to_bits() | sign)
}

/// Reads little-endian i32 values borrowed as bytes (int8 biases, requantization multipliers).
#[derive(Clone, Copy, Debug)]
pub struct I32Le<'a>(&'a [u8]);

impl<'a> I32Le<'a> {
    /// Wraps `bytes`, whose length must be a multiple of 4; `None` otherwise.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        bytes
            .chunks_exact(4)
            .remainder()
            .is_empty()
            .then_some(Self(bytes))
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Value `i`, `None` when out of range.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Option<i32> {
        let b = self.0.get(i * 4..i * 4 + 4)?;
        Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The underlying bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// Float weight storages that can be borrowed from blob bytes.
pub trait FromBlobBytes<'a>: WeightStore + Sized {
    /// Wraps blob bytes; `None` when the byte length is not a whole number of values.
    fn from_blob_bytes(bytes: &'a [u8]) -> Option<Self>;
}

impl<'a> FromBlobBytes<'a> for F32Le<'a> {
    fn from_blob_bytes(bytes: &'a [u8]) -> Option<Self> {
        Self::new(bytes)
    }
}

impl<'a> FromBlobBytes<'a> for F16Le<'a> {
    fn from_blob_bytes(bytes: &'a [u8]) -> Option<Self> {
        Self::new(bytes)
    }
}
