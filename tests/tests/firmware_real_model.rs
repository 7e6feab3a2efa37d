//! The committed, trained int8 MNIST blob (`firmware/model/mnist_int8.blob`) on the firmware
//! under QEMU against `shared` on the host: the first MNIST test digits must get the same digit
//! and the same ten int8 scores on both, and the firmware must classify them as well as the
//! host does. (`firmware_qemu.rs` checks the same with a synthetic blob and digits.)
//!
//! `cargo test -p tinyconv-tests --test firmware_real_model -- --nocapture`

mod firmware_harness;

use std::path::{Path, PathBuf};

use firmware_harness::{run_blob_on_qemu, PIXELS};
use shared::mnist::{MnistInt8, MnistScratchI8};

/// Test digits embedded in the firmware.
const DIGITS: usize = 20;

fn data_dir() -> PathBuf {
    std::env::var_os("TINYCONV_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

#[test]
fn committed_blob_on_qemu_matches_host_on_real_digits() {
    let blob_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/model/mnist_int8.blob");
    let blob = std::fs::read(&blob_path).unwrap_or_else(|e| panic!("{}: {e}", blob_path.display()));
    let dir = data_dir();
    let test = host::mnist::load_split(&dir, &host::mnist::TEST_IMAGES, &host::mnist::TEST_LABELS)
        .unwrap_or_else(|e| panic!("MNIST test split under {}: {e}", dir.display()));
    let digits = &test.images[..DIGITS * PIXELS];
    let labels = &test.labels[..DIGITS];

    let Some((_elf, run)) =
        run_blob_on_qemu("committed", &blob, digits).unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    assert_eq!(
        run.blob_len,
        blob.len(),
        "the firmware embedded another blob"
    );
    assert_eq!(run.predictions.len(), DIGITS, "output:\n{}", run.stdout);

    let net = MnistInt8::from_blob(&blob).expect("the committed blob is valid on the host");
    let mut scratch = Box::new(MnistScratchI8::new());
    let mut correct = 0;
    for (i, (device, image)) in run
        .predictions
        .iter()
        .zip(digits.chunks_exact(PIXELS))
        .enumerate()
    {
        let image: &[u8; PIXELS] = image.try_into().unwrap();
        let host = net.predict(image, &mut scratch);
        assert_eq!(
            (device.class, device.scores.clone()),
            (host.digit, host.scores.to_vec()),
            "digit {i}: firmware (left) and host (right) disagree"
        );
        correct += usize::from(device.class == labels[i]);
    }
    // The trained model gets 99.2 % of the test set: on the first 20 digits at most one miss.
    assert!(
        correct >= DIGITS - 1,
        "the firmware classified only {correct} of the first {DIGITS} test digits correctly"
    );
    let ticks: Vec<u64> = run.predictions.iter().map(|p| p.ticks).collect();
    eprintln!(
        "committed blob under QEMU: {correct}/{DIGITS} correct, {:.0} instructions per inference",
        firmware_harness::ticks_to_instructions(ticks[0])
    );
}
