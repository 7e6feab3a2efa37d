//! The int8 multiply-accumulate core, kept in one place so that it can be specialised per
//! target (e.g. Cortex-M4 `SMLAD`, two 16-bit MACs per cycle, after sign-extending pairs of
//! int8 with `SXTB16`/`SXTAB16` as CMSIS-NN does).
//!
//! The portable version is the reference: any specialisation must return the same value for
//! every input.

/// `Σ (x[i] + x_offset) * (w[i] as i8)` over `i < min(x.len(), w.len())`, accumulated with
/// wrapping i32 arithmetic (as the hardware MAC does).
///
/// `x` are int8 activations, `x_offset` is minus the input zero point (in `-127..=128`, so
/// `x + x_offset` fits 16 bits, as on the Cortex-M4's `SXTAB16` path; offsets outside that
/// range are truncated to i16), `w` are int8 weights stored as bytes (two's complement).
#[inline(always)]
pub fn dot_offset(x: &[i8], w: &[u8], x_offset: i32) -> i32 {
    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
    return crate::arm_dsp::dot_offset(x, w, x_offset);
    #[cfg(not(all(target_arch = "arm", feature = "arm-dsp")))]
    dot_offset_portable(x, w, x_offset)
}

/// The portable body of [`dot_offset`].
#[cfg_attr(all(target_arch = "arm", feature = "arm-dsp"), allow(dead_code))]
#[inline(always)]
fn dot_offset_portable(x: &[i8], w: &[u8], x_offset: i32) -> i32 {
    let offset = x_offset as i16;
    let mut acc = 0i32;
    for (&a, &b) in x.iter().zip(w) {
        // 16 x 16 -> 32-bit products summed in 32 bits (the shape of SMLAD / PMADDWD).
        let xa = (a as i16).wrapping_add(offset);
        acc = acc.wrapping_add(xa as i32 * (b as i8 as i32));
    }
    acc
}

/// Four dot products sharing one activation vector: `[dot_offset(x, w[j], x_offset); 4]`
/// over `i < min(x.len(), w[j].len())` (register blocking over output channels: each
/// activation is loaded and offset once for four MACs).
#[inline(always)]
pub fn dot_offset_x4(x: &[i8], w: [&[u8]; 4], x_offset: i32) -> [i32; 4] {
    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
    return crate::arm_dsp::dot_offset_x4(x, w, x_offset);
    #[cfg(not(all(target_arch = "arm", feature = "arm-dsp")))]
    dot_offset_x4_portable(x, w, x_offset)
}

/// The portable body of [`dot_offset_x4`].
#[cfg_attr(all(target_arch = "arm", feature = "arm-dsp"), allow(dead_code))]
#[inline(always)]
fn dot_offset_x4_portable(x: &[i8], w: [&[u8]; 4], x_offset: i32) -> [i32; 4] {
    let n = w.iter().fold(x.len(), |n, w| n.min(w.len()));
    let (x, w0, w1, w2, w3) = (&x[..n], &w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    let offset = x_offset as i16;
    let mut acc = [0i32; 4];
    for i in 0..n {
        let xa = (x[i] as i16).wrapping_add(offset) as i32;
        acc[0] = acc[0].wrapping_add(xa * (w0[i] as i8 as i32));
        acc[1] = acc[1].wrapping_add(xa * (w1[i] as i8 as i32));
        acc[2] = acc[2].wrapping_add(xa * (w2[i] as i8 as i32));
        acc[3] = acc[3].wrapping_add(xa * (w3[i] as i8 as i32));
    }
    acc
}
