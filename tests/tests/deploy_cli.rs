//! `host deploy` end to end through the command line parser, as a user runs it: a Keras
//! architecture file trained with `host fit` on a small CIFAR cat/dog folder, then deployed
//! with `--qemu`: blob, manifest, per-layer report, firmware image, and the firmware's
//! answers bit-exact with the host's interpreter (recorded in `<blob>.qemu.json`). Also the
//! errors: a float format, a non-MNIST model without its data.

mod firmware_harness;
mod quantize_harness;

use std::path::{Path, PathBuf};

use clap::Parser;
use host::cli::{run, Cli, CliError};
use host::deploy_cli::QemuReport;
use host::quantize::Report;
use host::vision::{make_subset, SubsetSpec};
use quantize_harness::data_dir;

fn host(args: &[&str]) -> Result<(), CliError> {
    let mut argv = vec!["host"];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv).expect("the arguments parse"))
}

fn arch() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/tests/fixtures/keras/rgb32_sequential.json")
}

/// A Keras-JSON model trained one epoch on a 200 + 40 + 40 image folder.
fn trained(dir: &Path) -> (PathBuf, PathBuf) {
    let images = dir.join("cd32");
    make_subset(
        &data_dir().join("cats-vs-dogs").join("train"),
        &images,
        &SubsetSpec::cats_dogs(0..100, 100..120, 120..140),
        false,
    )
    .unwrap_or_else(|e| panic!("the CIFAR cat/dog images (set TINYCONV_DATA_DIR): {e}"));
    let run_dir = dir.join("rgb32");
    host(&[
        "fit",
        "--arch",
        arch().to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--epochs",
        "1",
        "--output",
        run_dir.to_str().unwrap(),
    ])
    .unwrap();
    (run_dir.join("model"), images)
}

#[test]
fn deploy_builds_runs_and_matches_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, images) = trained(tmp.path());
    let out = tmp.path().join("deployed");
    let qemu = firmware_harness::qemu_binary().unwrap_or_else(|e| panic!("{e}"));
    let mut args = vec![
        "deploy",
        "--model",
        model.to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--calibration",
        "100",
        "--inputs",
        "4",
    ];
    let qemu_path;
    match &qemu {
        Some(q) => {
            qemu_path = q.to_string_lossy().into_owned();
            args.extend(["--qemu", "--qemu-binary", &qemu_path]);
        }
        None => args.push("--no-build"),
    }
    host(&args).unwrap();

    let blob = std::fs::read(out.join("model_int8.blob")).unwrap();
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(out.join("model_int8.report.json")).unwrap())
            .unwrap();
    assert_eq!(report.flash_bytes, blob.len());
    assert!(!report.mnist_fast_path);
    // The Keras file's layers, Rescaling folded and Dropout dropped: 8 device layers, and
    // Keras's parameter count for them.
    assert_eq!(report.layers.len(), 8);
    assert_eq!(report.params, 23_617);
    // The largest input + output of a layer, by hand: conv2d_1 reads 32×32×16 and writes
    // 16×16×32 bytes.
    assert_eq!(report.arena_bytes, 32 * 32 * 16 + 16 * 16 * 32);
    assert!(out.join("model_int8.json").is_file(), "the manifest");
    if qemu.is_none() {
        return;
    }
    let q: QemuReport =
        serde_json::from_str(&std::fs::read_to_string(out.join("model_int8.qemu.json")).unwrap())
            .unwrap();
    assert_eq!((q.inputs, q.bit_exact), (4, 4), "{q:?}");
    assert!(q.instructions_per_mac > 1.0 && q.peak_stack > 0, "{q:?}");
    assert!(out.join("model_int8_inputs.bin").is_file());
}

#[test]
fn deploy_errors_say_what_to_change() {
    let err = host(&["deploy", "--format", "f32", "--no-build"]).unwrap_err();
    assert!(err.to_string().contains("int8"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    host::save::save(
        &host::arch_file::read(&arch()).unwrap().build(0).unwrap(),
        &dir,
    )
    .unwrap();
    let data = data_dir();
    let err = host(&[
        "deploy",
        "--model",
        dir.to_str().unwrap(),
        "--offline",
        "--data-dir",
        data.to_str().unwrap(),
        "--no-build",
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("32×32×3") && err.contains("--images"), "{err}");
}
