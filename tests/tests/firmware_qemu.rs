//! The firmware under QEMU (`netduinoplus2`, Cortex-M4) against `shared` on the host: the same
//! int8 blob and digits must give the same predictions and the same int8 scores, bit for bit.
//! Also records the firmware's instructions per inference, flash and RAM use.
//!
//! Needs `qemu-system-arm` (Debian: `apt-get install qemu-system-arm`; CI installs it) and the
//! `thumbv7em-none-eabihf` target; without QEMU the tests fail unless `TINYCONV_SKIP_QEMU=1`.
//! Figures: `cargo test -p tinyconv-tests --test firmware_qemu -- --nocapture`, also written to
//! `firmware/target/tinyconv-tests/qemu_int8_metrics.json`.

mod firmware_harness;

use firmware_harness::{
    build_qemu_firmware, build_qemu_firmware_env, elf_memory, mnist_macs, qemu_binary,
    run_blob_on_qemu, run_qemu, synthetic, work_dir, write_if_changed, PIXELS,
};
use shared::mnist::{MnistInt8, MnistScratchI8};

/// Seed of the synthetic blob.
const BLOB_SEED: u64 = 0x7175_616e_7469_7a65;
/// Seed of the synthetic digits.
const DIGIT_SEED: u64 = 0x6d6e_6973_7464_6967;
/// Digits embedded in the firmware.
const DIGITS: usize = 10;

fn qemu_or_skip() -> Option<std::path::PathBuf> {
    qemu_binary().unwrap_or_else(|e| panic!("{e}"))
}

/// Wrapping sum of `bytes`, the protocol's checksum (written here from firmware/README.md).
fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

#[test]
fn qemu_firmware_matches_host_int8_bit_for_bit() {
    let blob = synthetic::int8_blob(BLOB_SEED);
    let digits = synthetic::digits(DIGIT_SEED, DIGITS);
    let Some((elf, run)) =
        run_blob_on_qemu("synthetic", &blob, &digits).unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };

    // The host reference: the same `shared` code compiled for x86-64.
    let net = MnistInt8::from_blob(&blob).expect("the synthetic blob is valid on the host");
    let mut scratch = Box::new(MnistScratchI8::new());
    assert_eq!(
        run.blob_len,
        blob.len(),
        "the firmware embedded another blob"
    );
    assert_eq!(run.predictions.len(), DIGITS, "output:\n{}", run.stdout);
    let mut host_scores = Vec::new();
    for (i, (device, image)) in run
        .predictions
        .iter()
        .zip(digits.chunks_exact(PIXELS))
        .enumerate()
    {
        let image: &[u8; PIXELS] = image.try_into().unwrap();
        let host = net.predict(image, &mut scratch);
        assert_eq!(device.index, i);
        assert_eq!(device.label, None, "raw digits carry no labels");
        assert_eq!(
            (device.class, device.scores.clone()),
            (host.digit, host.scores.to_vec()),
            "digit {i}: firmware (left) and host (right) disagree"
        );
        host_scores.push(host.scores);

        // The serial response frame the firmware built for the same digit (framing from the README).
        let frame = &run.frames[i];
        assert_eq!(frame.len(), 13, "digit {i}: response frame length");
        assert_eq!(frame[0], 0x5A, "digit {i}: response magic");
        assert_eq!(frame[1], host.digit, "digit {i}: response digit");
        let scores: Vec<i8> = frame[2..12].iter().map(|&b| b as i8).collect();
        assert_eq!(scores, host.scores, "digit {i}: response scores");
        assert_eq!(frame[12], sum(&frame[..12]), "digit {i}: response checksum");
    }
    // The comparison means something only if the synthetic network discriminates its inputs.
    host_scores.sort();
    host_scores.dedup();
    assert!(
        host_scores.len() >= DIGITS - 1,
        "synthetic model gives near-constant scores: {host_scores:?}"
    );

    // Figures (a measurement, not a timing: -icount makes them deterministic).
    let dir = work_dir();
    let macs = mnist_macs();
    let instructions: Vec<f64> = run.predictions.iter().map(|p| p.instructions()).collect();
    let mean = instructions.iter().sum::<f64>() / instructions.len() as f64;
    let max = instructions.iter().cloned().fold(0.0, f64::max);
    let memory = elf_memory(&elf.path).unwrap();
    let report = format!(
        "{{\n  \"macs_per_inference\": {macs},\n  \"instructions_per_inference_mean\": {mean:.0},\n  \
         \"instructions_per_inference_max\": {max:.0},\n  \"instructions_per_mac\": {:.3},\n  \
         \"flash_bytes\": {},\n  \"static_ram_bytes\": {},\n  \"peak_stack_bytes\": {},\n  \
         \"ram_bytes\": {},\n  \"blob_bytes\": {},\n  \"embedded_digit_bytes\": {}\n}}\n",
        mean / macs as f64,
        memory.flash,
        memory.static_ram,
        run.peak_stack,
        memory.static_ram + run.peak_stack as u64,
        blob.len(),
        digits.len(),
    );
    println!("firmware (QEMU netduinoplus2, int8):\n{report}");
    write_if_changed(&dir.join("qemu_int8_metrics.json"), report.as_bytes()).unwrap();
    assert!(
        run.peak_stack > 0 && run.peak_stack < 64 * 1024,
        "peak stack {}",
        run.peak_stack
    );
}

#[test]
fn qemu_firmware_reports_a_corrupt_blob_and_exits_with_failure() {
    let Some(qemu) = qemu_or_skip() else { return };
    let dir = work_dir();
    let mut blob = synthetic::int8_blob(BLOB_SEED);
    let middle = blob.len() / 2;
    blob[middle] ^= 0x40; // a flipped bit in a weight: only the CRC can notice
    let digits = synthetic::digits(DIGIT_SEED, 2);
    let blob_path = dir.join("corrupt_int8.blob");
    let digits_path = dir.join("corrupt_digits.bin");
    write_if_changed(&blob_path, &blob).unwrap();
    write_if_changed(&digits_path, &digits).unwrap();

    // The build validates the blob too and refuses a corrupt one, naming it ...
    let err = build_qemu_firmware("corrupt", &blob_path, &digits_path).unwrap_err();
    assert!(
        err.contains("corrupt_int8.blob") && err.contains("checksum"),
        "{err}"
    );
    // ... so the boot-time check is tested with the build's check switched off.
    let elf = build_qemu_firmware_env(
        "corrupt",
        &blob_path,
        &digits_path,
        &[("TINYCONV_BLOB_UNCHECKED", "1")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run_qemu(&qemu, &elf).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !out.success,
        "a corrupt blob must fail the run:\n{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("blob error blob checksum mismatch"),
        "the firmware must say why:\n{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("pred "),
        "no prediction from a corrupt blob:\n{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("panicked"),
        "a bad blob is not a panic:\n{}",
        out.stdout
    );
}
