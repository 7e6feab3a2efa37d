//! The committed int8 model `firmware/model/mnist_int8.blob` (what the firmware embeds by
//! default) decodes, binds to `shared`'s MNIST network, matches the SHA-256 in its manifest
//! `mnist_int8.json`, and classifies the MNIST test set exactly as well as the manifest
//! records (the int8 path is integer-only, so the count of correct digits is reproducible
//! bit for bit on every machine).
//!
//! Regenerate both files: see `firmware/model/README.md`.

mod quantize_harness;

use std::path::PathBuf;

use host::quantize::evaluate::predict_blob;
use host::quantize::manifest::{sha256_hex, Manifest};
use host::quantize::ExportFormat;
use quantize_harness::mnist;
use shared::mnist::MnistInt8;

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("firmware")
        .join("model")
}

#[test]
fn committed_int8_blob_matches_its_recorded_accuracy() {
    let blob_path = model_dir().join("mnist_int8.blob");
    let blob = std::fs::read(&blob_path).unwrap_or_else(|e| panic!("{}: {e}", blob_path.display()));
    let manifest = Manifest::read(&model_dir().join("mnist_int8.json")).unwrap();
    assert_eq!(manifest.format, ExportFormat::Int8);
    assert_eq!(manifest.blob, "mnist_int8.blob");
    assert_eq!(manifest.bytes, blob.len());
    assert_eq!(
        manifest.sha256,
        sha256_hex(&blob),
        "blob and manifest disagree"
    );
    MnistInt8::from_blob(&blob).expect("the committed blob binds to the MNIST network");

    let recorded = manifest
        .accuracy
        .expect("the manifest records the test accuracy");
    let test = &mnist().test;
    assert_eq!(recorded.images, test.len(), "recorded on the full test set");
    let predictions = predict_blob(&blob, &test.images).unwrap();
    let correct = predictions
        .iter()
        .zip(&test.labels)
        .filter(|(&p, &l)| p == u32::from(l))
        .count();
    assert_eq!(correct, recorded.correct, "int8 test accuracy changed");
    assert!(
        recorded.blob >= 0.99,
        "the committed model should be the full 5-epoch run: {recorded:?}"
    );
    assert!(recorded.agreement_with_float >= 0.995, "{recorded:?}");
    assert!(
        recorded.blob >= recorded.float_model - 0.003,
        "{recorded:?}"
    );
}
