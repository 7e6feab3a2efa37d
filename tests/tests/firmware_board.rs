//! The NUCLEO-F411RE build of the firmware (default features: HAL, defmt, USART2 server): it
//! still builds, so the board code cannot rot unnoticed while CI only runs the QEMU build, and
//! with the committed MNIST blob and the board's one self-test digit it fits the 128 KiB of
//! flash the issue set (the F411RE has 512 KiB; the budget keeps the image small). It needs the
//! `thumbv7em-none-eabihf` target, not QEMU or a board.

mod firmware_harness;

use firmware_harness::{
    board_firmware_memory, firmware_dir, synthetic, work_dir, write_if_changed,
};

/// The flash budget of the MNIST board image.
const FLASH_BUDGET: u64 = 128 * 1024;

#[test]
fn board_firmware_with_the_mnist_blob_fits_128_kib() {
    let blob = firmware_dir().join("model").join("mnist_int8.blob");
    // The board build's default test digits (one, from the MNIST test set) when the data
    // directory is known, as in CI; else one synthetic digit of the same 784 bytes.
    let digits = work_dir().join("board_digit.bin");
    let memory = if std::env::var_os("TINYCONV_DATA_DIR").is_some() {
        board_firmware_memory(&blob, None)
    } else {
        write_if_changed(&digits, &synthetic::digits(1, 1)).unwrap();
        board_firmware_memory(&blob, Some(&digits))
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let blob_len = std::fs::metadata(&blob).unwrap().len();
    eprintln!(
        "board image: flash {} bytes (blob {blob_len}, 1 digit 784, code and constants {}), \
         static RAM {} bytes; budget {FLASH_BUDGET}",
        memory.flash,
        memory.flash - blob_len - 784,
        memory.static_ram
    );
    assert!(
        memory.flash <= FLASH_BUDGET,
        "board image takes {} bytes of flash, over the {FLASH_BUDGET}-byte budget",
        memory.flash
    );
    // The arena (27,040 bytes) and the RTT buffer fit the F411RE's 128 KiB of RAM with room
    // for the stack.
    assert!(memory.static_ram < 64 * 1024, "{memory:?}");
}
