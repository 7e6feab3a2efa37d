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

#[test]
fn predictions_csv_lists_every_test_image_as_the_interpreter_answers() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    host::save::save(&host::zoo::mnist_convnet().build(2).unwrap(), &model_dir).unwrap();
    let out = dir.path().join("blobs");
    let data = data_dir();
    quantize(&[
        "--model",
        model_dir.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--calibration",
        "16",
        "--test-limit",
        "25",
        "--predictions",
        "--offline",
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .unwrap();
    let csv = std::fs::read_to_string(out.join("mnist_int8_predictions.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 26, "header + 25 images");
    assert!(lines[0].starts_with("index,label,class,score0,") && lines[0].ends_with("score9"));
    let blob = std::fs::read(out.join("mnist_int8.blob")).unwrap();
    let net = MnistInt8::from_blob(&blob).unwrap();
    let mut scratch = Box::new(shared::mnist::MnistScratchI8::new());
    let test = quantize_harness::mnist();
    for (i, line) in lines[1..].iter().enumerate() {
        let f: Vec<i32> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let image: &[u8; 784] = test.test.images[i * 784..(i + 1) * 784].try_into().unwrap();
        let p = net.predict(image, &mut scratch);
        assert_eq!(f[0], i as i32);
        assert_eq!(f[1], i32::from(test.test.labels[i]));
        assert_eq!(f[2], i32::from(p.digit), "image {i}");
        let scores: Vec<i32> = p.scores.iter().map(|&s| i32::from(s)).collect();
        assert_eq!(&f[3..], &scores[..], "image {i}");
    }
}
