//! Peak stack use, measured by painting: the free stack is filled with a pattern at boot and
//! the deepest overwritten word is found later. Static RAM (`.data`, `.bss`) comes from the ELF;
//! this gives the rest of the firmware's RAM use.

use core::ptr::{addr_of, addr_of_mut};

/// Fill pattern of unused stack.
const PAINT: u32 = 0x5AC3_5AC3;
/// Bytes below the current stack pointer left unpainted (the painting function's own frame).
const MARGIN: usize = 64;

extern "C" {
    /// Lowest address the stack may reach (end of `.bss`/`.uninit`), from cortex-m-rt.
    static mut _stack_end: u32;
    /// Initial stack pointer (top of RAM), from cortex-m-rt.
    static _stack_start: u32;
}

/// Paints the stack between its lowest address and the current stack pointer (less a margin).
/// Call once, early, from `main`.
#[inline(never)]
pub fn paint() {
    let sp = cortex_m::register::msp::read() as usize - MARGIN;
    let mut addr = addr_of_mut!(_stack_end) as usize;
    while addr < sp {
        // SAFETY: [_stack_end, sp - MARGIN) is RAM reserved for the stack that no frame uses yet
        // (the stack grows down from `_stack_start` and this frame lies above `sp - MARGIN`);
        // `addr` is 4-aligned (cortex-m-rt asserts it for `_stack_end`) and inside that range.
        unsafe { (addr as *mut u32).write_volatile(PAINT) };
        addr += 4;
    }
}

/// Bytes of stack used since [`paint`] at most: from the top of RAM to the deepest word that no
/// longer holds the pattern.
pub fn peak() -> usize {
    let top = addr_of!(_stack_start) as usize;
    let mut addr = addr_of!(_stack_end) as usize;
    // SAFETY: `addr` is a 4-aligned address inside the stack region [_stack_end, _stack_start),
    // which is always mapped RAM.
    while addr < top && unsafe { (addr as *const u32).read_volatile() } == PAINT {
        addr += 4;
    }
    top - addr
}
