//! The NUCLEO-F411RE build of the firmware (default features: HAL, defmt, USART2 server) still
//! type-checks, so the board code cannot rot unnoticed while CI only runs the QEMU build. It
//! needs the `thumbv7em-none-eabihf` target, not QEMU or a board.

mod firmware_harness;

use firmware_harness::{firmware_cargo, synthetic, work_dir, write_if_changed};

#[test]
fn board_firmware_type_checks() {
    let dir = work_dir();
    let blob_path = dir.join("board_check.blob");
    let digits_path = dir.join("board_check_digits.bin");
    write_if_changed(&blob_path, &synthetic::int8_blob(1)).unwrap();
    write_if_changed(&digits_path, &synthetic::digits(1, 2)).unwrap();
    firmware_cargo(&["check", "--release"], &blob_path, &digits_path)
        .unwrap_or_else(|e| panic!("{e}"));
}
