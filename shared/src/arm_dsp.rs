//! Cortex-M4/M7 (ARMv7E-M DSP extension) int8 kernels: `SMLAD` does two 16 x 16-bit
//! multiply-accumulates per instruction on operands unpacked from int8 by `SXTB16` / `SXTAB16`,
//! the CMSIS-NN technique, written with `core::arch::asm!` on stable Rust.
//!
//! Compiled only for `target_arch = "arm"` with the `arm-dsp` feature (the firmware enables it;
//! stable Rust does not expose `target_feature = "dsp"` to `cfg`). Every function returns exactly
//! what the portable kernels return: the sums are the same integers (no intermediate can
//! overflow: |x - zp| ≤ 255, |w| ≤ 128, and a layer's accumulator fits i32 by construction), and
//! the requantization reproduces [`Requant::apply`] exactly (`Channel::apply` says why). The
//! QEMU firmware test (`tests/tests/firmware_qemu.rs`) checks this against the host bit for bit.
//!
//! Operand packing: for four int8 values `v0..v3` in one little-endian word, `SXTB16` gives the
//! halfword pair `(v0, v2)` and `SXTB16 ..., ROR #8` gives `(v1, v3)`; `SXTAB16` does the same
//! while adding a pair of 16-bit offsets (the input zero-point correction). One `SMLAD` of
//! `(x0, x2)` with `(w0, w2)` plus one of `(x1, x3)` with `(w1, w3)` is four MACs.

use core::arch::asm;

use crate::int8::params::{ChannelRequant, ConvI8Weights};
use crate::quant::rounding_divide_by_pot;
use crate::window::Window2d;

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

/// `x + offset` in 16-bit arithmetic, as `SXTAB16` computes it (and the portable kernels).
#[inline(always)]
fn add16(x: i8, offset: i32) -> i32 {
    (x as i16).wrapping_add(offset as i16) as i32
}

/// Little-endian word of the first four bytes of `b` (callers pass 4-byte chunks).
#[inline(always)]
fn word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// [`word`] copied as one 4-byte array, which compiles to a single (unaligned) `LDR` in the
/// run-time-shaped dot product, where indexing the four bytes compiled to four `LDRB` and three
/// `ORR` (4.75 -> 3.52 instructions/MAC on the README's deploy model). The const-generic MNIST
/// kernels keep [`word`]: there this form measured 0.4 % slower.
#[inline(always)]
fn word_ldr(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    if let Some(src) = b.get(..4) {
        a.copy_from_slice(src);
    }
    u32::from_le_bytes(a)
}

/// [`word_ldr`] of four int8 activations.
#[inline(always)]
fn word_i8(x: &[i8]) -> u32 {
    let mut a = [0i8; 4];
    if let Some(src) = x.get(..4) {
        a.copy_from_slice(src);
    }
    u32::from_le_bytes(a.map(|v| v as u8))
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
        acc = acc.wrapping_add(add16(a, x_offset) * (b as i8 as i32));
    }
    acc
}

/// Four dot products sharing one activation vector, `[dot_offset(x, w[j], x_offset); 4]` over
/// `i < min(x.len(), w[j].len())`: the `SMLAD` version of
/// [`crate::int8::dot::dot_offset_x4`], same result for every input. Each word of four
/// activations is offset and unpacked once (two `SXTAB16`) for 16 MACs.
#[inline(always)]
pub fn dot_offset_x4(x: &[i8], w: [&[u8]; 4], x_offset: i32) -> [i32; 4] {
    let n = w.iter().fold(x.len(), |n, w| n.min(w.len()));
    let off = offset_pair(x_offset);
    let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
    // Iterators over exact 4-byte chunks: no bounds check in the loop.
    let mut xc = x[..n].chunks_exact(4);
    let mut c0 = w[0][..n].chunks_exact(4);
    let mut c1 = w[1][..n].chunks_exact(4);
    let mut c2 = w[2][..n].chunks_exact(4);
    let mut c3 = w[3][..n].chunks_exact(4);
    for ((((xq, q0), q1), q2), q3) in (&mut xc)
        .zip(&mut c0)
        .zip(&mut c1)
        .zip(&mut c2)
        .zip(&mut c3)
    {
        let xw = word_i8(xq);
        let (lo, hi) = (sxtab16(off, xw), sxtab16_ror8(off, xw));
        let (w0, w1, w2, w3) = (word_ldr(q0), word_ldr(q1), word_ldr(q2), word_ldr(q3));
        a0 = smlad(hi, sxtb16_ror8(w0), smlad(lo, sxtb16(w0), a0));
        a1 = smlad(hi, sxtb16_ror8(w1), smlad(lo, sxtb16(w1), a1));
        a2 = smlad(hi, sxtb16_ror8(w2), smlad(lo, sxtb16(w2), a2));
        a3 = smlad(hi, sxtb16_ror8(w3), smlad(lo, sxtb16(w3), a3));
    }
    let rest = xc
        .remainder()
        .iter()
        .zip(c0.remainder())
        .zip(c1.remainder());
    for (((&xv, &b0), &b1), (&b2, &b3)) in rest.zip(c2.remainder().iter().zip(c3.remainder())) {
        let xa = add16(xv, x_offset);
        a0 = a0.wrapping_add(xa * (b0 as i8 as i32));
        a1 = a1.wrapping_add(xa * (b1 as i8 as i32));
        a2 = a2.wrapping_add(xa * (b2 as i8 as i32));
        a3 = a3.wrapping_add(xa * (b3 as i8 as i32));
    }
    [a0, a1, a2, a3]
}

/// Words of the patch buffer: four patches of up to [`QUAD_PATCH`] elements or two of up to
/// [`MAX_PATCH`] (2,304 bytes of stack either way).
const PATCH_WORDS: usize = MAX_PATCH;
/// Largest patch (`K * K * CI`) processed four pixels at a time.
pub const QUAD_PATCH: usize = MAX_PATCH / 2;

/// The input patches of `N` output pixels (2 or 4), offset-corrected and interleaved in `SMLAD`
/// order: for group `g` of four patch elements (weights order `[ky][kx][ci]`) and pixel `j`,
/// `words[2 (g N + j)]` holds elements `(4g, 4g + 2)` and the next word `(4g + 1, 4g + 3)`, so
/// the kernels read all pixels' words for one weight word sequentially. The `L % 4` last
/// elements of each patch stay in `tail[j]`, as i32.
struct Patches<const WORDS: usize> {
    words: [u32; WORDS],
    tail: [[i32; 3]; 4],
}

impl<const WORDS: usize> Patches<WORDS> {
    const fn new() -> Self {
        Self {
            words: [0; WORDS],
            tail: [[0; 3]; 4],
        }
    }

    /// Gathers the patch of output pixel `(oy, ox)` into slot `j`. Padded positions are 0
    /// (the input zero point after the offset), so they add nothing, as in TFLite.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn fill<
        const H: usize,
        const W: usize,
        const CI: usize,
        const K: usize,
        const S: usize,
        const N: usize,
    >(
        &mut self,
        j: usize,
        x: &[i8],
        (oy, ox): (usize, usize),
        (pad_top, pad_left): (usize, usize),
        offset: i32,
    ) {
        let off = offset_pair(offset);
        // Elements of the current group of four (small-CI path), and how many are set.
        let mut group = [0i32; 4];
        let mut filled = 0;
        let mut g = 0; // next group
        for ky in 0..K {
            let iy = (oy * S + ky).wrapping_sub(pad_top);
            for kx in 0..K {
                let ix = (ox * S + kx).wrapping_sub(pad_left);
                let inside = iy < H && ix < W;
                if CI.is_multiple_of(4) {
                    // Whole groups: one word of input becomes the two SMLAD operands.
                    if inside {
                        let src = &x[(iy * W + ix) * CI..][..CI];
                        for q in src.chunks_exact(4) {
                            let xw = u32::from_le_bytes([
                                q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8,
                            ]);
                            let at = 2 * (g * N + j);
                            self.words[at] = sxtab16(off, xw);
                            self.words[at + 1] = sxtab16_ror8(off, xw);
                            g += 1;
                        }
                    } else {
                        for _ in 0..CI / 4 {
                            let at = 2 * (g * N + j);
                            self.words[at] = 0;
                            self.words[at + 1] = 0;
                            g += 1;
                        }
                    }
                } else {
                    let src = if inside {
                        x.get((iy * W + ix) * CI..(iy * W + ix + 1) * CI)
                    } else {
                        None
                    };
                    for ci in 0..CI {
                        group[filled] = src.map_or(0, |s| add16(s[ci], offset));
                        filled += 1;
                        if filled == 4 {
                            let at = 2 * (g * N + j);
                            self.words[at] = pack(group[0], group[2]);
                            self.words[at + 1] = pack(group[1], group[3]);
                            g += 1;
                            filled = 0;
                        }
                    }
                }
            }
        }
        self.tail[j] = [group[0], group[1], group[2]];
    }
}

impl<const WORDS: usize> Patches<WORDS> {
    /// [`Patches::fill`] for four pixels over a run-time geometry (the interpreter's layers),
    /// for patches of up to `WORDS / 2` elements.
    #[inline(always)]
    fn fill_dyn(
        &mut self,
        j: usize,
        x: &[i8],
        g: &Window2d,
        (oy, ox): (usize, usize),
        offset: i32,
    ) {
        const N: usize = 4;
        let ci = g.c;
        let off = offset_pair(offset);
        let mut group = [0i32; 4];
        let mut filled = 0;
        let mut gi = 0; // next group
        for ky in 0..g.k {
            let iy = (oy * g.stride + ky).wrapping_sub(g.pad_top);
            for kx in 0..g.k {
                let ix = (ox * g.stride + kx).wrapping_sub(g.pad_left);
                let src = if iy < g.h && ix < g.w {
                    x.get((iy * g.w + ix) * ci..(iy * g.w + ix + 1) * ci)
                } else {
                    None
                };
                if ci.is_multiple_of(4) {
                    match src {
                        Some(src) => {
                            for q in src.chunks_exact(4) {
                                let xw = u32::from_le_bytes([
                                    q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8,
                                ]);
                                let at = 2 * (gi * N + j);
                                self.words[at] = sxtab16(off, xw);
                                self.words[at + 1] = sxtab16_ror8(off, xw);
                                gi += 1;
                            }
                        }
                        None => {
                            for _ in 0..ci / 4 {
                                let at = 2 * (gi * N + j);
                                self.words[at] = 0;
                                self.words[at + 1] = 0;
                                gi += 1;
                            }
                        }
                    }
                } else {
                    for c in 0..ci {
                        group[filled] = src.map_or(0, |s| add16(s[c], offset));
                        filled += 1;
                        if filled == 4 {
                            let at = 2 * (gi * N + j);
                            self.words[at] = pack(group[0], group[2]);
                            self.words[at + 1] = pack(group[1], group[3]);
                            gi += 1;
                            filled = 0;
                        }
                    }
                }
            }
        }
        self.tail[j] = [group[0], group[1], group[2]];
    }
}

/// Two 16-bit values in one word, `lo` in the low halfword.
#[inline(always)]
fn pack(lo: i32, hi: i32) -> u32 {
    (lo as u32 & 0xFFFF) | ((hi as u32) << 16)
}

/// One group step of [`mac_4x1`]: a weight word (4 MACs) against four pixels' patch words.
macro_rules! mac_4x1_step {
    () => {
        concat!(
            "ldr {t}, [{w}], #4\n",
            "sxtb16 {e}, {t}\n",
            "sxtb16 {t}, {t}, ror #8\n",
            "ldrd {p0}, {p1}, [{pa}], #8\n",
            "smlad {a0}, {p0}, {e}, {a0}\n",
            "smlad {a0}, {p1}, {t}, {a0}\n",
            "ldrd {p0}, {p1}, [{pa}], #8\n",
            "smlad {a1}, {p0}, {e}, {a1}\n",
            "smlad {a1}, {p1}, {t}, {a1}\n",
            "ldrd {p0}, {p1}, [{pa}], #8\n",
            "smlad {a2}, {p0}, {e}, {a2}\n",
            "smlad {a2}, {p1}, {t}, {a2}\n",
            "ldrd {p0}, {p1}, [{pa}], #8\n",
            "smlad {a3}, {p0}, {e}, {a3}\n",
            "smlad {a3}, {p1}, {t}, {a3}\n",
        )
    };
}

/// Dot products of four patches (`N = 4` layout) with one weight row `w` of `K * K * CI`
/// bytes: `[a·w, b·w, c·w, d·w]`.
#[inline(always)]
fn mac_4x1<const WORDS: usize>(
    p: &Patches<WORDS>,
    w: &[u8],
    groups: usize,
    rest: usize,
) -> [i32; 4] {
    let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
    let w = &w[..4 * groups + rest];
    if groups > 0 {
        let words = &p.words[..8 * groups];
        let mut wp = w.as_ptr();
        let mut pp = words.as_ptr();
        // SAFETY (both blocks): together they run `groups` group steps (one here when `groups` is
        // odd, then two per loop iteration until `wp` reaches `end`), each reading the next weight
        // word of `w[..4 * groups]` (unaligned LDR is allowed on ARMv7-M) and the next 8 patch
        // words of `words` (u32-aligned, as LDRD needs on ARMv7-M), both bounds-checked by the
        // slicing above. Only the named registers and the flags (CMP) change; no stack use.
        if groups % 2 == 1 {
            // SAFETY: see above.
            unsafe {
                asm!(
                    mac_4x1_step!(),
                    w = inout(reg) wp,
                    pa = inout(reg) pp,
                    a0 = inout(reg) a0,
                    a1 = inout(reg) a1,
                    a2 = inout(reg) a2,
                    a3 = inout(reg) a3,
                    t = out(reg) _,
                    e = out(reg) _,
                    p0 = out(reg) _,
                    p1 = out(reg) _,
                    options(nostack, readonly),
                );
            }
        }
        if groups >= 2 {
            let end = w[4 * groups..].as_ptr();
            // SAFETY: see above.
            unsafe {
                asm!(
                    "2:",
                    mac_4x1_step!(),
                    mac_4x1_step!(),
                    "cmp {w}, {end}",
                    "bne 2b",
                    w = inout(reg) wp => _,
                    pa = inout(reg) pp => _,
                    end = in(reg) end,
                    a0 = inout(reg) a0,
                    a1 = inout(reg) a1,
                    a2 = inout(reg) a2,
                    a3 = inout(reg) a3,
                    t = out(reg) _,
                    e = out(reg) _,
                    p0 = out(reg) _,
                    p1 = out(reg) _,
                    options(nostack, readonly),
                );
            }
        }
    }
    for k in 0..rest {
        let v = w[4 * groups + k] as i8 as i32;
        a0 = a0.wrapping_add(p.tail[0][k] * v);
        a1 = a1.wrapping_add(p.tail[1][k] * v);
        a2 = a2.wrapping_add(p.tail[2][k] * v);
        a3 = a3.wrapping_add(p.tail[3][k] * v);
    }
    [a0, a1, a2, a3]
}

/// One group step of [`mac_2x2`]: two channels' weight words (`len` bytes apart) against two
/// pixels' patch words.
macro_rules! mac_2x2_step {
    () => {
        concat!(
            "ldr {t1}, [{w}, #{len}]\n",
            "ldr {t0}, [{w}], #4\n",
            "sxtb16 {e0}, {t0}\n",
            "sxtb16 {t0}, {t0}, ror #8\n",
            "sxtb16 {e1}, {t1}\n",
            "sxtb16 {t1}, {t1}, ror #8\n",
            "ldr {p}, [{pa}, #8]\n",
            "smlad {b0}, {p}, {e0}, {b0}\n",
            "smlad {b1}, {p}, {e1}, {b1}\n",
            "ldr {p}, [{pa}, #12]\n",
            "smlad {b0}, {p}, {t0}, {b0}\n",
            "smlad {b1}, {p}, {t1}, {b1}\n",
            "ldr {p}, [{pa}, #4]\n",
            "smlad {a0}, {p}, {t0}, {a0}\n",
            "smlad {a1}, {p}, {t1}, {a1}\n",
            "ldr {p}, [{pa}], #16\n",
            "smlad {a0}, {p}, {e0}, {a0}\n",
            "smlad {a1}, {p}, {e1}, {a1}\n",
        )
    };
}

/// Dot products of two patches (`N = 2` layout) with two consecutive weight rows of
/// `K * K * CI` bytes starting at `w` (2 pixels x 2 channels): `[a·w0, a·w1, b·w0, b·w1]`.
#[inline(always)]
fn mac_2x2<const K: usize, const CI: usize, const WORDS: usize>(
    p: &Patches<WORDS>,
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
    let len = K * K * CI;
    let (mut a0, mut a1, mut b0, mut b1) = (0i32, 0i32, 0i32, 0i32);
    let w = &w[..2 * len];
    if groups > 0 {
        let words = &p.words[..4 * groups];
        let mut wp = w.as_ptr();
        let mut pp = words.as_ptr();
        // SAFETY (both blocks): together they run `groups` group steps (one here when `groups` is
        // odd, then two per loop iteration until `wp` reaches `end`). Each reads the next weight
        // words of `w[..4 * groups]` and `w[len..len + 4 * groups]` (inside `w`, whose length
        // 2 * len is checked by the slicing above, as 4 * groups <= len; unaligned LDR is allowed
        // on ARMv7-M) and the next 4 patch words of `words`. Only the named registers and the
        // flags (CMP, SMLAD's Q) change; no stack use.
        if groups % 2 == 1 {
            // SAFETY: see above.
            unsafe {
                asm!(
                    mac_2x2_step!(),
                    w = inout(reg) wp,
                    pa = inout(reg) pp,
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
                    options(nostack, readonly),
                );
            }
        }
        if groups >= 2 {
            let end = w[4 * groups..].as_ptr();
            // SAFETY: see above.
            unsafe {
                asm!(
                    "2:",
                    mac_2x2_step!(),
                    mac_2x2_step!(),
                    "cmp {w}, {end}",
                    "bne 2b",
                    w = inout(reg) wp => _,
                    pa = inout(reg) pp => _,
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
                    options(nostack, readonly),
                );
            }
        }
    }
    for k in 0..rest {
        let (v0, v1) = (
            w[4 * groups + k] as i8 as i32,
            w[len + 4 * groups + k] as i8 as i32,
        );
        a0 = a0.wrapping_add(p.tail[0][k] * v0);
        a1 = a1.wrapping_add(p.tail[0][k] * v1);
        b0 = b0.wrapping_add(p.tail[1][k] * v0);
        b1 = b1.wrapping_add(p.tail[1][k] * v1);
    }
    [a0, a1, b0, b1]
}

/// Dot product of patch `j` (of an `N`-pixel layout) with one weight row.
#[inline(always)]
fn mac_1x1<const N: usize, const WORDS: usize>(
    p: &Patches<WORDS>,
    j: usize,
    w: &[u8],
    groups: usize,
    rest: usize,
) -> i32 {
    let mut acc = 0i32;
    for (g, q) in w[..4 * groups].chunks_exact(4).enumerate() {
        let at = 2 * (g * N + j);
        let ww = word(q);
        acc = smlad(
            p.words[at + 1],
            sxtb16_ror8(ww),
            smlad(p.words[at], sxtb16(ww), acc),
        );
    }
    for k in 0..rest {
        acc = acc.wrapping_add(p.tail[j][k] * (w[4 * groups + k] as i8 as i32));
    }
    acc
}

/// Channel `c`'s requantization constants, read once per pixel pair.
#[derive(Clone, Copy, Default)]
struct Channel {
    bias: i32,
    multiplier: i32,
    left: u32,
    right: i32,
    /// `2^(right - 1)`, or 0 when `right == 0`.
    round: i32,
    /// -1 when `right > 0` (negative values then round one further down), else 0.
    neg_fix: i32,
}

impl Channel {
    #[inline(always)]
    fn of(rq: &ChannelRequant<'_>, c: usize) -> Self {
        let (multiplier, shift) = rq.multiplier_and_shift(c);
        let shift = shift.clamp(-31, 30);
        let right = (-shift).max(0);
        Self {
            bias: rq.bias(c),
            multiplier,
            left: shift.max(0) as u32,
            right,
            round: if right > 0 { 1 << (right - 1) } else { 0 },
            neg_fix: if right > 0 { -1 } else { 0 },
        }
    }

    /// [`Requant::apply`] of `bias + acc`, exactly, for the validated multipliers (`>= 0`, so
    /// the doubling high multiply never saturates).
    ///
    /// With `p = v * m`, gemmlowp's `(p + (p >= 0 ? 2^30 : 1 - 2^30)) / 2^31` (division
    /// truncating toward zero) equals `(p + 2^30) >> 31` (arithmetic shift) for every `p`. When
    /// `|v| < 2^30` (every accumulator of a sensibly scaled layer) that is `SMMULR(2v, m)`, the
    /// result has `|high| < 2^30`, and the rounding right shift (half away from zero) is
    /// `(high + 2^(r-1) - [high < 0]) >> r` without overflow; other values take the 64-bit path.
    #[inline(always)]
    fn apply(self, acc: i32, zero_point: i32, lo: i32, hi: i32) -> i8 {
        let v = self.bias.wrapping_add(acc).wrapping_shl(self.left);
        if (v as u32).wrapping_add(1 << 30) < (1 << 31) {
            let high = smmulr(v << 1, self.multiplier);
            let r = (high + self.round + ((high >> 31) & self.neg_fix)) >> self.right;
            (r + zero_point).clamp(lo, hi) as i8
        } else {
            let high = ((v as i64 * self.multiplier as i64 + (1 << 30)) >> 31) as i32;
            let r = rounding_divide_by_pot(high, self.right);
            r.saturating_add(zero_point).clamp(lo, hi) as i8
        }
    }
}

/// [`ChannelRequant::apply`] with `SMMULR` (same result for every accumulator): what the
/// run-time-shaped kernels of [`crate::int8::kernels`] requantize with on the Cortex-M4.
#[inline(always)]
pub fn requant(rq: &ChannelRequant<'_>, c: usize, acc: i32) -> i8 {
    let ch = Channel {
        bias: 0,
        ..Channel::of(rq, c)
    };
    let (lo, hi) = rq.activation_range();
    ch.apply(acc, rq.output_zero_point(), lo, hi)
}

/// `(a * b + 2^31) >> 32`: the rounded high word of the signed 64-bit product.
#[inline(always)]
fn smmulr(a: i32, b: i32) -> i32 {
    let r: i32;
    // SAFETY: SMMULR (DSP extension, see `smlad`) reads and writes only the named registers and
    // no flags.
    unsafe {
        asm!(
            "smmulr {r}, {a}, {b}",
            r = lateout(reg) r,
            a = in(reg) a,
            b = in(reg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    r
}

/// The int8 convolution of [`crate::layers::Conv2d::forward_i8`] (same arguments, same
/// result). Each output pixel's patch is gathered and unpacked to offset-corrected 16-bit pairs
/// once, then, for patches of up to [`QUAD_PATCH`] elements, four pixels share each unpacked
/// weight word (16 instructions per 16 MACs, the loop unrolled twice; tiny layers take
/// [`conv2d_small`]'s variant), and for larger ones two pixels by two channels share loads
/// (CMSIS-NN's `mat_mult_kernel_s8_s16` scheme, 19 instructions per 16 MACs).
///
/// `x` is the `H x W x CI` input, `out` the `OH x OW x CO` output, both channels-last. Not
/// inlined, so that each layer's 2,304-byte patch buffer lives in its own stack frame.
#[inline(never)]
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
    if K * K * CI <= SMALL_PATCH && CO <= SMALL_CHANNELS {
        conv2d_small::<H, W, CI, CO, K, S, OH, OW>(weights, (pad_top, pad_left), x, out);
    } else if K * K * CI <= QUAD_PATCH {
        conv2d_quad::<H, W, CI, CO, K, S, OH, OW>(weights, (pad_top, pad_left), x, out);
    } else {
        conv2d_pair::<H, W, CI, CO, K, S, OH, OW>(weights, (pad_top, pad_left), x, out);
    }
}

/// Largest patch handled by [`conv2d_small`].
pub const SMALL_PATCH: usize = 16;
/// Most output channels handled by [`conv2d_small`].
pub const SMALL_CHANNELS: usize = 32;

/// Tiny patches and few channels (e.g. a 3 x 3 x 1 first layer, where each output has only a
/// few MACs): four pixels per weight word as [`conv2d_quad`], but all channels' sums are taken
/// first and requantized afterwards channel by channel, so neither loop runs out of registers.
#[inline(always)]
fn conv2d_small<
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
    pad: (usize, usize),
    x: &[i8],
    out: &mut [i8],
) {
    const SMALL_WORDS: usize = SMALL_PATCH * 2;
    let len = K * K * CI;
    let (groups, rest) = (len / 4, len % 4);
    let kernel = weights.kernel();
    let rq = weights.requant();
    let offset = rq.input_offset();
    let zp = rq.output_zero_point();
    let (lo, hi) = rq.activation_range();
    let mut patches = Patches::<SMALL_WORDS>::new();
    let mut sums = [[0i32; 4]; SMALL_CHANNELS];
    let mut channels = [Channel::default(); SMALL_CHANNELS];
    for (c, ch) in channels.iter_mut().enumerate().take(CO) {
        *ch = Channel::of(rq, c);
    }
    let pixels = OH * OW;
    let mut p = 0;
    while p < pixels {
        let n = (pixels - p).min(4);
        for j in 0..n {
            patches.fill::<H, W, CI, K, S, 4>(j, x, at::<OW>(p + j), pad, offset);
        }
        for (sum, w) in sums.iter_mut().zip(kernel.chunks_exact(len)) {
            *sum = if n == 4 {
                mac_4x1(&patches, w, groups, rest)
            } else {
                let mut s = [0i32; 4];
                for (j, v) in s.iter_mut().enumerate().take(n) {
                    *v = mac_1x1::<4, SMALL_WORDS>(&patches, j, w, groups, rest);
                }
                s
            };
        }
        for (j, row) in out[p * CO..(p + n) * CO].chunks_exact_mut(CO).enumerate() {
            for ((o, sum), ch) in row.iter_mut().zip(&sums).zip(&channels) {
                *o = ch.apply(sum[j], zp, lo, hi);
            }
        }
        p += n;
    }
}

/// Output pixel `p`'s coordinates.
#[inline(always)]
fn at<const OW: usize>(p: usize) -> (usize, usize) {
    (p / OW, p % OW)
}

/// Four pixels by one channel (patches of up to [`QUAD_PATCH`] elements).
#[inline(always)]
fn conv2d_quad<
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
    pad: (usize, usize),
    x: &[i8],
    out: &mut [i8],
) {
    let len = K * K * CI;
    let (groups, rest) = (len / 4, len % 4);
    let kernel = weights.kernel();
    let rq = weights.requant();
    let offset = rq.input_offset();
    let zp = rq.output_zero_point();
    let (lo, hi) = rq.activation_range();
    let mut patches = Patches::<PATCH_WORDS>::new();
    let pixels = OH * OW;
    let mut p = 0;
    while p < pixels {
        let n = (pixels - p).min(4);
        for j in 0..n {
            patches.fill::<H, W, CI, K, S, 4>(j, x, at::<OW>(p + j), pad, offset);
        }
        for c in 0..CO {
            let ch = Channel::of(rq, c);
            let w = &kernel[c * len..(c + 1) * len];
            if n == 4 {
                let acc = mac_4x1(&patches, w, groups, rest);
                for (j, a) in acc.into_iter().enumerate() {
                    out[(p + j) * CO + c] = ch.apply(a, zp, lo, hi);
                }
            } else {
                for j in 0..n {
                    let a = mac_1x1::<4, PATCH_WORDS>(&patches, j, w, groups, rest);
                    out[(p + j) * CO + c] = ch.apply(a, zp, lo, hi);
                }
            }
        }
        p += n;
    }
}

/// Two pixels by two channels (patches of up to [`MAX_PATCH`] elements).
#[inline(always)]
fn conv2d_pair<
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
    pad: (usize, usize),
    x: &[i8],
    out: &mut [i8],
) {
    let len = K * K * CI;
    let (groups, rest) = (len / 4, len % 4);
    let kernel = weights.kernel();
    let rq = weights.requant();
    let offset = rq.input_offset();
    let zp = rq.output_zero_point();
    let (lo, hi) = rq.activation_range();
    let mut patches = Patches::<PATCH_WORDS>::new();
    let pixels = OH * OW;
    let mut p = 0;
    while p < pixels {
        let two = p + 1 < pixels;
        patches.fill::<H, W, CI, K, S, 2>(0, x, at::<OW>(p), pad, offset);
        if two {
            patches.fill::<H, W, CI, K, S, 2>(1, x, at::<OW>(p + 1), pad, offset);
        }
        let mut c = 0;
        while c + 1 < CO {
            let (k0, k1) = (Channel::of(rq, c), Channel::of(rq, c + 1));
            if two {
                let [a0, a1, b0, b1] =
                    mac_2x2::<K, CI, PATCH_WORDS>(&patches, &kernel[c * len..], groups, rest);
                out[p * CO + c] = k0.apply(a0, zp, lo, hi);
                out[p * CO + c + 1] = k1.apply(a1, zp, lo, hi);
                out[(p + 1) * CO + c] = k0.apply(b0, zp, lo, hi);
                out[(p + 1) * CO + c + 1] = k1.apply(b1, zp, lo, hi);
            } else {
                let w0 = &kernel[c * len..(c + 1) * len];
                let w1 = &kernel[(c + 1) * len..(c + 2) * len];
                out[p * CO + c] = k0.apply(
                    mac_1x1::<2, PATCH_WORDS>(&patches, 0, w0, groups, rest),
                    zp,
                    lo,
                    hi,
                );
                out[p * CO + c + 1] = k1.apply(
                    mac_1x1::<2, PATCH_WORDS>(&patches, 0, w1, groups, rest),
                    zp,
                    lo,
                    hi,
                );
            }
            c += 2;
        }
        if c < CO {
            let k = Channel::of(rq, c);
            let w = &kernel[c * len..(c + 1) * len];
            out[p * CO + c] = k.apply(
                mac_1x1::<2, PATCH_WORDS>(&patches, 0, w, groups, rest),
                zp,
                lo,
                hi,
            );
            if two {
                out[(p + 1) * CO + c] = k.apply(
                    mac_1x1::<2, PATCH_WORDS>(&patches, 1, w, groups, rest),
                    zp,
                    lo,
                    hi,
                );
            }
        }
        p += if two { 2 } else { 1 };
    }
}

// `quad_dyn` and `small_dyn` repeat the pixel loops of `conv2d_quad` and `conv2d_small` with
// the run-time geometry. Sharing the loops (one body, the patch gather passed as a closure)
// was measured: the MNIST fast path went from 1.701 to 1.711 instructions/MAC under QEMU, as
// the compiled layers lost their constant patch length, so the copies stay.

/// [`conv2d_quad`]'s four-pixel scheme over a run-time geometry: what the blob interpreter's
/// convolutions with patches (`k * k * c`) of up to [`MAX_PATCH`] elements run on the
/// Cortex-M4 ([`crate::int8::kernels::conv2d`] calls it). Same arguments and result as that
/// function. Tiny layers (patches of up to [`SMALL_PATCH`] elements, at most [`SMALL_CHANNELS`]
/// filters) take [`conv2d_small`]'s variant; patches of up to [`QUAD_PATCH`] elements use the
/// 2,304-byte patch buffer of the compiled layers; larger ones a 4,608-byte one (four pixels'
/// patches either way).
pub fn conv2d_quad_dyn(
    g: &Window2d,
    co: usize,
    kernel: &[u8],
    rq: &ChannelRequant<'_>,
    x: &[i8],
    out: &mut [i8],
) {
    let len = g.k * g.k * g.c;
    if len <= SMALL_PATCH && co <= SMALL_CHANNELS {
        small_dyn(g, co, kernel, rq, x, out)
    } else if len <= QUAD_PATCH {
        quad_dyn::<PATCH_WORDS>(g, co, kernel, rq, x, out)
    } else {
        quad_dyn::<{ 2 * PATCH_WORDS }>(g, co, kernel, rq, x, out)
    }
}

/// [`conv2d_quad_dyn`] with a patch buffer of `WORDS` words (patches of up to `WORDS / 2`
/// elements; larger ones write nothing). Not inlined: one copy per buffer size serves every
/// layer, and each buffer lives only in its own stack frame.
#[inline(never)]
fn quad_dyn<const WORDS: usize>(
    g: &Window2d,
    co: usize,
    kernel: &[u8],
    rq: &ChannelRequant<'_>,
    x: &[i8],
    out: &mut [i8],
) {
    let len = g.k * g.k * g.c;
    if len == 0 || 2 * len > WORDS {
        return;
    }
    let (groups, rest) = (len / 4, len % 4);
    let offset = rq.input_offset();
    let zp = rq.output_zero_point();
    let (lo, hi) = rq.activation_range();
    let mut patches = Patches::<WORDS>::new();
    let pixels = g.oh * g.ow;
    let mut p = 0;
    while p < pixels {
        let n = (pixels - p).min(4);
        for j in 0..n {
            let q = p + j;
            patches.fill_dyn(j, x, g, (q / g.ow, q % g.ow), offset);
        }
        for (c, w) in kernel.chunks_exact(len).take(co).enumerate() {
            let ch = Channel::of(rq, c);
            if n == 4 {
                let acc = mac_4x1(&patches, w, groups, rest);
                for (j, a) in acc.into_iter().enumerate() {
                    out[(p + j) * co + c] = ch.apply(a, zp, lo, hi);
                }
            } else {
                for j in 0..n {
                    let a = mac_1x1::<4, WORDS>(&patches, j, w, groups, rest);
                    out[(p + j) * co + c] = ch.apply(a, zp, lo, hi);
                }
            }
        }
        p += n;
    }
}

/// [`conv2d_small`] over a run-time geometry: every channel's four sums first, then the
/// requantization channel by channel, with each channel's constants computed once per layer.
#[inline(never)]
fn small_dyn(
    g: &Window2d,
    co: usize,
    kernel: &[u8],
    rq: &ChannelRequant<'_>,
    x: &[i8],
    out: &mut [i8],
) {
    const SMALL_WORDS: usize = SMALL_PATCH * 2;
    let len = g.k * g.k * g.c;
    if len == 0 || len > SMALL_PATCH || co > SMALL_CHANNELS {
        return;
    }
    let (groups, rest) = (len / 4, len % 4);
    let offset = rq.input_offset();
    let zp = rq.output_zero_point();
    let (lo, hi) = rq.activation_range();
    let mut patches = Patches::<SMALL_WORDS>::new();
    let mut sums = [[0i32; 4]; SMALL_CHANNELS];
    let mut channels = [Channel::default(); SMALL_CHANNELS];
    for (c, ch) in channels.iter_mut().enumerate().take(co) {
        *ch = Channel::of(rq, c);
    }
    let pixels = g.oh * g.ow;
    let mut p = 0;
    while p < pixels {
        let n = (pixels - p).min(4);
        for j in 0..n {
            let q = p + j;
            patches.fill_dyn(j, x, g, (q / g.ow, q % g.ow), offset);
        }
        for (sum, w) in sums.iter_mut().zip(kernel.chunks_exact(len)).take(co) {
            *sum = if n == 4 {
                mac_4x1(&patches, w, groups, rest)
            } else {
                let mut s = [0i32; 4];
                for (j, v) in s.iter_mut().enumerate().take(n) {
                    *v = mac_1x1::<4, SMALL_WORDS>(&patches, j, w, groups, rest);
                }
                s
            };
        }
        for (j, row) in out[p * co..(p + n) * co].chunks_exact_mut(co).enumerate() {
            for ((o, sum), ch) in row.iter_mut().zip(&sums).zip(&channels) {
                *o = ch.apply(sum[j], zp, lo, hi);
            }
        }
        p += n;
    }
}
