//! Cortex-M4/M7 (ARMv7E-M DSP extension) int8 kernels: `SMLAD` does two 16 x 16-bit
//! multiply-accumulates per instruction on operands unpacked from int8 by `SXTB16` / `SXTAB16`,
//! the CMSIS-NN technique, written with `core::arch::asm!` on stable Rust.
//!
//! Compiled only for `target_arch = "arm"` with the `arm-dsp` feature (the firmware enables it;
//! stable Rust does not expose `target_feature = "dsp"` to `cfg`). Every function returns exactly
//! what the portable kernels return: the sums are the same integers (no intermediate can
//! overflow: |x - zp| ≤ 255, |w| ≤ 128, and a layer's accumulator fits i32 by construction), and
//! the requantization is the same [`Requant::apply`]. The QEMU firmware test checks this against
//! the host bit for bit.
//!
//! Operand packing: for four int8 values `v0..v3` in one little-endian word, `SXTB16` gives the
//! halfword pair `(v0, v2)` and `SXTB16 ..., ROR #8` gives `(v1, v3)`; `SXTAB16` does the same
//! while adding a pair of 16-bit offsets (the input zero-point correction). One `SMLAD` of
//! `(x0, x2)` with `(w0, w2)` plus one of `(x1, x3)` with `(w1, w3)` is four MACs.

use core::arch::asm;

use crate::int8::params::{ConvI8Weights, Requant};

/// Input elements of the largest convolution patch (`K * K * CI`) the convolution supports
/// (the MNIST network's largest, 3 x 3 x 64); larger layers fail to compile.
pub const MAX_PATCH: usize = 576;

/// `acc + a.lo * b.lo + a.hi * b.hi` on signed halfwords.
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: SMLAD reads and writes only the named registers (it may set the sticky Q flag,
    // hence no `preserves_flags`); the DSP extension is present on every ARMv7E-M core, which
    // the `arm-dsp` feature asserts.
    unsafe {
        asm!(
            "smlad {r}, {a}, {b}, {acc}",
            r = lateout(reg) r,
            a = in(reg) a,
            b = in(reg) b,
            acc = in(reg) acc,
            options(pure, nomem, nostack),
        );
    }
    r
}

/// Bytes 0 and 2 of `x`, sign-extended to the two halfwords.
#[inline(always)]
fn sxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction of the DSP extension (see `smlad`).
    unsafe {
        asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// Bytes 1 and 3 of `x`, sign-extended to the two halfwords.
#[inline(always)]
fn sxtb16_ror8(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction of the DSP extension (see `smlad`).
    unsafe {
        asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// `offsets` plus bytes 0 and 2 of `x` sign-extended, halfword by halfword.
#[inline(always)]
fn sxtab16(offsets: u32, x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction of the DSP extension (see `smlad`).
    unsafe {
        asm!("sxtab16 {r}, {o}, {x}", r = lateout(reg) r, o = in(reg) offsets, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// `offsets` plus bytes 1 and 3 of `x` sign-extended, halfword by halfword.
#[inline(always)]
fn sxtab16_ror8(offsets: u32, x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction of the DSP extension (see `smlad`).
    unsafe {
        asm!("sxtab16 {r}, {o}, {x}, ror #8", r = lateout(reg) r, o = in(reg) offsets, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// The same offset in both halfwords (`offset` is in `-127..=128`).
#[inline(always)]
fn offset_pair(offset: i32) -> u32 {
    let h = offset as u32 & 0xFFFF;
    h | (h << 16)
}

/// Little-endian word of the first four bytes of `b` (callers pass 4-byte chunks).
#[inline(always)]
fn word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// `Σ (x[i] + x_offset) * (w[i] as i8)` over `i < min(x.len(), w.len())`: the `SMLAD` version
/// of [`crate::int8::dot::dot_offset`], same result for every input.
#[inline(always)]
pub fn dot_offset(x: &[i8], w: &[u8], x_offset: i32) -> i32 {
    let n = x.len().min(w.len());
    let (x, w) = (&x[..n], &w[..n]);
    let off = offset_pair(x_offset);
    let mut acc = 0i32;
    let mut xc = x.chunks_exact(4);
    let mut wc = w.chunks_exact(4);
    for (xq, wq) in (&mut xc).zip(&mut wc) {
        let xw = u32::from_le_bytes([xq[0] as u8, xq[1] as u8, xq[2] as u8, xq[3] as u8]);
        let ww = word(wq);
        acc = smlad(sxtab16(off, xw), sxtb16(ww), acc);
        acc = smlad(sxtab16_ror8(off, xw), sxtb16_ror8(ww), acc);
    }
    for (&a, &b) in xc.remainder().iter().zip(wc.remainder()) {
        acc = acc.wrapping_add((a as i32 + x_offset) * (b as i8 as i32));
    }
    acc
}

/// One output pixel's input patch in `SMLAD` order: `words[2g]` holds the offset-corrected
/// elements `(4g, 4g + 2)` and `words[2g + 1]` holds `(4g + 1, 4g + 3)`, for the `L / 4` full
/// groups of the patch's `L = K * K * CI` elements (weights order `[ky][kx][ci]`); the `L % 4`
/// last elements stay in `tail`, offset-corrected, as i32.
#[repr(C)]
struct Patch {
    words: [u32; MAX_PATCH / 2],
    tail: [i32; 3],
}

/// Size of a [`Patch`]: the distance from one patch's words to the next one's in a `[Patch; 2]`.
const PATCH_BYTES: usize = core::mem::size_of::<Patch>();

impl Patch {
    const fn new() -> Self {
        Self {
            words: [0; MAX_PATCH / 2],
            tail: [0; 3],
        }
    }

    /// Gathers the patch of output pixel `(oy, ox)`, offset-corrected. Padded positions are 0
    /// (the input zero point after the offset), so they add nothing, as in TFLite.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn fill<const H: usize, const W: usize, const CI: usize, const K: usize, const S: usize>(
        &mut self,
        x: &[i8],
        oy: usize,
        ox: usize,
        pad_top: usize,
        pad_left: usize,
        offset: i32,
    ) {
        let off = offset_pair(offset);
        let mut i = 0; // patch element index, [ky][kx][ci] order
        for ky in 0..K {
            let iy = (oy * S + ky).wrapping_sub(pad_top);
            for kx in 0..K {
                let ix = (ox * S + kx).wrapping_sub(pad_left);
                let inside = iy < H && ix < W;
                if CI % 4 == 0 {
                    // Whole groups: one word of input becomes the two SMLAD operands.
                    let dst = &mut self.words[i / 2..(i + CI) / 2];
                    if inside {
                        let src = &x[(iy * W + ix) * CI..][..CI];
                        for (pair, q) in dst.chunks_exact_mut(2).zip(src.chunks_exact(4)) {
                            let xw = u32::from_le_bytes([
                                q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8,
                            ]);
                            pair[0] = sxtab16(off, xw);
                            pair[1] = sxtab16_ror8(off, xw);
                        }
                    } else {
                        dst.fill(0);
                    }
                } else {
                    for ci in 0..CI {
                        let v = if inside {
                            x[(iy * W + ix) * CI + ci] as i32 + offset
                        } else {
                            0
                        };
                        self.set(i + ci, 4 * (K * K * CI / 4), v);
                    }
                }
                i += CI;
            }
        }
    }

    /// Stores offset-corrected element `i` of the patch in its `SMLAD` slot (`full` is the
    /// number of elements in whole groups of four).
    #[inline(always)]
    fn set(&mut self, i: usize, full: usize, v: i32) {
        if i >= full {
            self.tail[i - full] = v;
            return;
        }
        let shift = 16 * ((i % 4) / 2);
        let w = &mut self.words[2 * (i / 4) + (i % 2)];
        *w = (*w & !(0xFFFF << shift)) | ((v as u32 & 0xFFFF) << shift);
    }
}

/// Dot products of two adjacent patches (`pair[0]`, `pair[1]`) with two consecutive weight
/// rows of `K * K * CI` bytes, 2 pixels x 2 channels:
/// `[a·w0, a·w1, b·w0, b·w1]`.
#[inline(always)]
fn mac_2x2<const K: usize, const CI: usize>(
    pair: &[Patch; 2],
    w: &[u8],
    groups: usize,
    rest: usize,
) -> [i32; 4] {
    const {
        assert!(
            K * K * CI <= 4095,
            "weight row too long for an LDR immediate offset"
        )
    };
    const {
        assert!(
            PATCH_BYTES + 4 <= 4095,
            "patch too long for an LDR immediate offset"
        )
    };
    let len = K * K * CI;
    let (mut a0, mut a1, mut b0, mut b1) = (0i32, 0i32, 0i32, 0i32);
    let w = &w[..2 * len];
    let (a, b) = (&pair[0], &pair[1]);
    if groups > 0 {
        let end = w[4 * groups..].as_ptr();
        // SAFETY: the loop runs `groups` times (groups > 0, `w` advances by 4 up to `end`). It
        // reads weight bytes `w[..4 * groups]` and `w[len..len + 4 * groups]` (inside `w`, whose
        // length 2 * len was checked above, as 4 * groups <= len), and patch words
        // `a.words[..2 * groups]` and, `PATCH_BYTES` further, `b.words[..2 * groups]` (`pair` is
        // one array, so `b` starts exactly `size_of::<Patch>()` after `a`; 2 * groups <= the
        // words' length). Unaligned LDR is allowed on ARMv7-M; LDR/SXTB16/SMLAD touch only the
        // named registers and flags (the CMP), no stack.
        unsafe {
            asm!(
                "2:",
                "ldr {t1}, [{w}, #{len}]",
                "ldr {t0}, [{w}], #4",
                "sxtb16 {e0}, {t0}",
                "sxtb16 {t0}, {t0}, ror #8",
                "sxtb16 {e1}, {t1}",
                "sxtb16 {t1}, {t1}, ror #8",
                "ldr {p}, [{pa}, #{pb}]",
                "smlad {b0}, {p}, {e0}, {b0}",
                "smlad {b1}, {p}, {e1}, {b1}",
                "ldr {p}, [{pa}, #{pb4}]",
                "smlad {b0}, {p}, {t0}, {b0}",
                "smlad {b1}, {p}, {t1}, {b1}",
                "ldr {p}, [{pa}, #4]",
                "smlad {a0}, {p}, {t0}, {a0}",
                "smlad {a1}, {p}, {t1}, {a1}",
                "ldr {p}, [{pa}], #8",
                "smlad {a0}, {p}, {e0}, {a0}",
                "smlad {a1}, {p}, {e1}, {a1}",
                "cmp {w}, {end}",
                "bne 2b",
                w = inout(reg) w.as_ptr() => _,
                pa = inout(reg) a.words.as_ptr() => _,
                end = in(reg) end,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                b0 = inout(reg) b0,
                b1 = inout(reg) b1,
                t0 = out(reg) _,
                t1 = out(reg) _,
                e0 = out(reg) _,
                e1 = out(reg) _,
                p = out(reg) _,
                len = const K * K * CI,
                pb = const PATCH_BYTES,
                pb4 = const PATCH_BYTES + 4,
                options(nostack, readonly),
            );
        }
    }
    for j in 0..rest {
        let (v0, v1) = (
            w[4 * groups + j] as i8 as i32,
            w[len + 4 * groups + j] as i8 as i32,
        );
        a0 = a0.wrapping_add(a.tail[j] * v0);
        a1 = a1.wrapping_add(a.tail[j] * v1);
        b0 = b0.wrapping_add(b.tail[j] * v0);
        b1 = b1.wrapping_add(b.tail[j] * v1);
    }
    [a0, a1, b0, b1]
}

/// Dot product of one patch with one weight row.
#[inline(always)]
fn mac_1x1(a: &Patch, w: &[u8], groups: usize, rest: usize) -> i32 {
    let mut acc = 0i32;
    for (p, q) in a.words[..2 * groups]
        .chunks_exact(2)
        .zip(w[..4 * groups].chunks_exact(4))
    {
        let ww = word(q);
        acc = smlad(p[1], sxtb16_ror8(ww), smlad(p[0], sxtb16(ww), acc));
    }
    for j in 0..rest {
        acc = acc.wrapping_add(a.tail[j] * (w[4 * groups + j] as i8 as i32));
    }
    acc
}

/// Requantizes channel `c`'s accumulator (bias added here).
#[inline(always)]
fn finish<const CO: usize>(rq: &Requant<'_, CO>, c: usize, acc: i32) -> i8 {
    rq.apply(c, rq.bias(c).wrapping_add(acc))
}

/// The int8 convolution of [`crate::layers::Conv2d::forward_i8`] (same arguments, same
/// result), two output pixels by two output channels at a time (CMSIS-NN's
/// `mat_mult_kernel_s8_s16` scheme): each patch is unpacked once per pixel and each weight word
/// once per pixel pair, so the inner loop spends 18 instructions on 16 MACs.
///
/// `x` is the `H x W x CI` input, `out` the `OH x OW x CO` output, both channels-last.
#[allow(clippy::too_many_arguments)]
pub fn conv2d<
    const H: usize,
    const W: usize,
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
>(
    weights: &ConvI8Weights<'_, K, CI, CO>,
    pad_top: usize,
    pad_left: usize,
    x: &[i8],
    out: &mut [i8],
) {
    const {
        assert!(
            K * K * CI <= MAX_PATCH,
            "convolution patch larger than arm_dsp::MAX_PATCH"
        )
    };
    let len = K * K * CI;
    let (groups, rest) = (len / 4, len % 4);
    let kernel = weights.kernel();
    let rq = weights.requant();
    let offset = rq.input_offset();
    let mut pair = [Patch::new(), Patch::new()];
    let pixels = OH * OW;
    let mut p = 0;
    while p < pixels {
        let two = p + 1 < pixels;
        let [pa, pb] = &mut pair;
        pa.fill::<H, W, CI, K, S>(x, p / OW, p % OW, pad_top, pad_left, offset);
        if two {
            pb.fill::<H, W, CI, K, S>(x, (p + 1) / OW, (p + 1) % OW, pad_top, pad_left, offset);
        }
        let mut c = 0;
        while c + 1 < CO {
            let w0 = &kernel[c * len..(c + 1) * len];
            let w1 = &kernel[(c + 1) * len..(c + 2) * len];
            if two {
                let [a0, a1, b0, b1] = mac_2x2::<K, CI>(&pair, &kernel[c * len..], groups, rest);
                out[p * CO + c] = finish(rq, c, a0);
                out[p * CO + c + 1] = finish(rq, c + 1, a1);
                out[(p + 1) * CO + c] = finish(rq, c, b0);
                out[(p + 1) * CO + c + 1] = finish(rq, c + 1, b1);
            } else {
                out[p * CO + c] = finish(rq, c, mac_1x1(&pair[0], w0, groups, rest));
                out[p * CO + c + 1] = finish(rq, c + 1, mac_1x1(&pair[0], w1, groups, rest));
            }
            c += 2;
        }
        if c < CO {
            let w = &kernel[c * len..(c + 1) * len];
            out[p * CO + c] = finish(rq, c, mac_1x1(&pair[0], w, groups, rest));
            if two {
                out[(p + 1) * CO + c] = finish(rq, c, mac_1x1(&pair[1], w, groups, rest));
            }
        }
        p += if two { 2 } else { 1 };
    }
}
