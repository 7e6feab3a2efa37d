//! `host quantize` end to end through the command line parser: a saved model in, blobs and
//! manifests out, accuracies recorded; the `export` alias and bad paths.

mod quantize_harness;

use clap::Parser;
use host::cli::{run, Cli};
use host::quantize::manifest::Manifest;
use host::quantize::ExportFormat;
use quantize_harness::data_dir;
use shared::mnist::{MnistF16, MnistF32, MnistInt8};

fn quantize(args: &[&str]) -> Result<(), host::cli::CliError> {
    let mut argv = vec!["host", "quantize"];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv).expect("the arguments parse"))
}

#[test]
fn quantize_writes_every_format_with_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    host::save::save(&host::zoo::mnist_convnet().build(1).unwrap(), &model_dir).unwrap();
    let out = dir.path().join("blobs");
    let data = data_dir();
    quantize(&[
        "--model",
        model_dir.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--format",
        "all",
        "--calibration",
        "32",
        "--test-limit",
        "200",
        "--offline",
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .unwrap();
    for format in ExportFormat::ALL {
        let blob = std::fs::read(out.join(format.file_name())).unwrap();
        match format {
            ExportFormat::Int8 => MnistInt8::from_blob(&blob).map(drop),
            ExportFormat::F32 => MnistF32::from_blob(&blob).map(drop),
            ExportFormat::F16 => MnistF16::from_blob(&blob).map(drop),
        }
        .unwrap();
        let m = Manifest::read(&out.join(format!("mnist_{format}.json"))).unwrap();
        assert_eq!((m.format, m.bytes), (format, blob.len()));
        let a = m.accuracy.expect("evaluated");
        assert_eq!(a.images, 200);
        assert_eq!(a.blob, a.correct as f64 / 200.0);
        if format == ExportFormat::Int8 {
            assert_eq!(m.calibration.as_deref(), Some("32 images, min/max"));
        }
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 6);
}

#[test]
fn export_alias_writes_a_named_file_and_bad_paths_fail() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    host::save::save(&host::zoo::mnist_convnet().build(2).unwrap(), &model_dir).unwrap();
    let file = dir.path().join("digits.blob");
    let data = data_dir();
    let argv = [
        "host",
        "export",
        "--model",
        model_dir.to_str().unwrap(),
        "--output",
        file.to_str().unwrap(),
        "--format",
        "f16",
        "--no-evaluate",
        "--offline",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    run(Cli::try_parse_from(argv).unwrap()).unwrap();
    MnistF16::from_blob(&std::fs::read(&file).unwrap()).unwrap();
    let m = Manifest::read(&dir.path().join("digits.json")).unwrap();
    assert!(m.accuracy.is_none());

    let missing = dir.path().join("no-such-model");
    let err = quantize(&[
        "--model",
        missing.to_str().unwrap(),
        "--offline",
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("no-such-model"), "{err}");
}
