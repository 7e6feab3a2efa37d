//! tinyconv firmware: classifies images on a Cortex-M4F with the int8 model blob embedded at
//! build time (any blob `host quantize` writes; the MNIST convnet by default).
//!
//! Two platforms, chosen by cargo features (see `build.rs` and `README.md`):
//! - `board` (default): the NUCLEO-F411RE at 100 MHz; defmt log over RTT, LD2 (PA5) status LED,
//!   cycle counts from DWT CYCCNT, then classification requests over USART2 (the ST-LINK virtual
//!   COM port, framing in [`protocol`]).
//! - `qemu`: QEMU's `netduinoplus2` for CI; plain-text results on semihosting, SysTick as the
//!   instruction counter (`-icount shift=0`), exit status through semihosting.
//!
//! Both run the same [`model`] code on the same blob and test inputs.
#![no_std]
#![no_main]
#![warn(missing_docs)]

mod inputs;
mod model;
mod protocol;
mod stack;

#[cfg(platform_board)]
mod board;
#[cfg(platform_qemu)]
mod qemu;

#[cfg(not(any(platform_board, platform_qemu)))]
compile_error!("enable the `board` (default) or the `qemu` feature");

#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    #[cfg(platform_qemu)]
    qemu::run();
    #[cfg(platform_board)]
    board::run();
}
