//! The counter-based dropout generator shared by every backend.
//!
//! A dropout mask must be the same on every backend for the same seed, so the keep decision is
//! a pure function of `(seed, index, rate)` that uses only 32-bit integer operations (GPU
//! shading languages such as WGSL have no 64-bit integers) and one exact float comparison.
//!
//! The exact formula, which GPU kernels replicate:
//!
//! ```text
//! mix(x)  = lowbias32 (Chris Wellons):  x ^= x >> 16; x *= 0x7feb352d;
//!                                       x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
//!           (u32, wrapping multiplication)
//! k1      = mix(seed_hi ^ 0x9e3779b9)          seed_hi = (seed >> 32) as u32
//! k2      = mix(seed_lo ^ k1)                  seed_lo = seed as u32
//! h       = mix(mix(index ^ k2) ^ k1)          index: element index as u32
//! u       = (h >> 8) as f32 * 2^-24            exactly representable, in [0, 1)
//! keep    = u >= rate
//! ```
//!
//! A kept element of the inverted-dropout mask has the value [`dropout_scale`]`(rate)`
//! `= 1 / (1 - rate)` (computed in `f32`), a dropped one 0.

/// The lowbias32 integer hash (Chris Wellons' `hash-prospector`), a bijection on `u32`.
#[inline]
pub fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The two 32-bit keys `(k1, k2)` derived from a 64-bit seed (see the module docs).
#[inline]
pub fn dropout_keys(seed: u64) -> (u32, u32) {
    let k1 = mix32(((seed >> 32) as u32) ^ 0x9e37_79b9);
    let k2 = mix32((seed as u32) ^ k1);
    (k1, k2)
}

/// The uniform number in `[0, 1)` (a multiple of 2⁻²⁴) for element `index` under `seed`.
#[inline]
pub fn dropout_uniform(seed: u64, index: u32) -> f32 {
    let (k1, k2) = dropout_keys(seed);
    uniform_from_keys(k1, k2, index)
}

/// [`dropout_uniform`] with precomputed [`dropout_keys`].
#[inline]
pub fn uniform_from_keys(k1: u32, k2: u32, index: u32) -> f32 {
    let h = mix32(mix32(index ^ k2) ^ k1);
    (h >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Whether element `index` is kept by a dropout of `rate` with `seed`: `uniform >= rate`.
#[inline]
pub fn dropout_keep(seed: u64, index: u32, rate: f32) -> bool {
    dropout_uniform(seed, index) >= rate
}

/// The value of a kept element of an inverted-dropout mask, `1 / (1 - rate)` in `f32`.
#[inline]
pub fn dropout_scale(rate: f32) -> f32 {
    1.0 / (1.0 - rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix32_known_values() {
        // lowbias32 maps 0 to 0 (no constant term) and is a bijection.
        assert_eq!(mix32(0), 0);
        assert_ne!(mix32(1), mix32(2));
    }

    #[test]
    fn rate_zero_keeps_everything_and_uniform_is_in_range() {
        for i in 0..1000 {
            assert!(dropout_keep(7, i, 0.0));
            let u = dropout_uniform(7, i);
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn seeds_differing_in_either_half_change_the_stream() {
        let a: Vec<bool> = (0..256).map(|i| dropout_keep(1, i, 0.5)).collect();
        let b: Vec<bool> = (0..256)
            .map(|i| dropout_keep(1 << 32 | 1, i, 0.5))
            .collect();
        let c: Vec<bool> = (0..256).map(|i| dropout_keep(2, i, 0.5)).collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
