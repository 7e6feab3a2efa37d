//! The pretrained-VGG16 commands of the `host` binary end to end on a few generated images,
//! with a tiny VGG-shaped weights file (`--widths`): `vgg16-features` (twice: the second run
//! reads the feature cache), `vgg16-frozen`, `vgg16-finetune`, `evaluate --images` on each
//! saved model, `summary --application vgg16`, and a bad weights file.

use std::path::Path;
use std::process::Command;

use image::{Rgb, RgbImage};

const WIDTHS: &str = "2,2,4,4,8";

fn host(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        // A machine without a desktop session: start-up must print no error.
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("host runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `dir/{train,validation,test}/{cat,dog}/*.jpg`, `n` images per class and split.
fn subset(dir: &Path, n: u32) {
    for split in ["train", "validation", "test"] {
        for (class, left) in [("cat", true), ("dog", false)] {
            let d = dir.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..n {
                let img = RgbImage::from_fn(40, 36, |x, _| {
                    let v = if (x < 20) == left { 220 } else { 30 } as u8;
                    Rgb([v, v.wrapping_add(i as u8 * 7), 255 - v])
                });
                img.save(d.join(format!("{class}.{i}.jpg"))).unwrap();
            }
        }
    }
}

/// A weights file for a VGG base with [`WIDTHS`] filters: a saved model's safetensors,
/// which names its tensors `block1_conv1.kernel` ... as the ImageNet file does.
fn tiny_weights(dir: &Path) -> std::path::PathBuf {
    let widths = [2, 2, 4, 4, 8];
    let m = host::applications::vgg16::conv_base(32, 32, widths)
        .build(5)
        .unwrap();
    host::save::save(&m, dir).unwrap();
    dir.join(host::save::WEIGHTS_FILE)
}

fn test_accuracy(stdout: &str) -> f32 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Test accuracy: "))
        .unwrap_or_else(|| panic!("no test accuracy in {stdout}"))
        .parse()
        .unwrap()
}

fn assert_run_files(run: &Path) {
    for f in [
        "model/model.json",
        "model/model.safetensors",
        "history.json",
        "loss.png",
        "accuracy.png",
        "report.json",
    ] {
        assert!(run.join(f).is_file(), "{} missing", run.join(f).display());
    }
}

fn no_error_lines(stderr: &str) {
    assert!(
        !stderr.lines().any(|l| l.starts_with("error")),
        "stderr has errors: {stderr}"
    );
}

#[test]
fn features_frozen_finetune_and_evaluate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("small");
    subset(&data, 3);
    let weights = tiny_weights(&tmp.path().join("weights"));
    let (d, w) = (data.to_str().unwrap(), weights.to_str().unwrap());
    let test_dir = data.join("test");
    let t = test_dir.to_str().unwrap();
    let base = [
        "--data-dir",
        d,
        "--weights",
        w,
        "--widths",
        WIDTHS,
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--backend",
        "cpu",
    ];

    // 1. Fast feature extraction, twice.
    let run1 = tmp.path().join("features");
    let r1 = run1.to_str().unwrap();
    let mut args = vec!["vgg16-features", "--output", r1, "--epochs", "2"];
    args.extend(base);
    let (ok, out, err) = host(&args);
    assert!(ok, "{err}");
    no_error_lines(&err);
    assert!(err.contains("written to cache"), "{err}");
    assert!(
        out.contains("Model: \"vgg16\"") && out.contains("block5_pool"),
        "{out}"
    );
    let acc1 = test_accuracy(&out);
    assert_run_files(&run1);
    assert!(run1.join("classifier/model.json").is_file());
    for split in ["train", "validation", "test"] {
        assert!(run1.join(format!("features/{split}.safetensors")).is_file());
    }
    let (ok, out, err) = host(&args);
    assert!(ok, "{err}");
    assert_eq!(err.matches("read from cache").count(), 3, "{err}");
    assert!(!err.contains("written to cache"), "{err}");
    // Same features, same seed: the same classifier and test accuracy.
    assert_eq!(test_accuracy(&out), acc1);
    // The saved model is the whole network on photos: evaluate gives the same accuracy.
    let m1 = run1.join("model");
    let (ok, out, err) = host(&["evaluate", "--model", m1.to_str().unwrap(), "--images", t]);
    assert!(ok, "{err}");
    no_error_lines(&err);
    assert!((test_accuracy(&out) - acc1).abs() < 1e-3, "{out}");

    // 2. Frozen base with augmentation.
    let run2 = tmp.path().join("frozen");
    let r2 = run2.to_str().unwrap();
    let mut args = vec!["vgg16-frozen", "--output", r2, "--epochs", "1"];
    args.extend(base);
    let (ok, out, err) = host(&args);
    assert!(ok, "{err}");
    // The base is frozen: its parameters are the non-trainable ones.
    let frozen: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("Non-trainable params: "))
        .unwrap_or_else(|| panic!("no summary in {out}"))
        .replace(',', "")
        .parse()
        .unwrap();
    let base_params = host::applications::vgg16::conv_base(32, 32, [2, 2, 4, 4, 8])
        .build(0)
        .unwrap()
        .param_count();
    assert_eq!(frozen, base_params, "{out}");
    assert_run_files(&run2);

    // 3. Fine-tuning the model of step 2.
    let run3 = tmp.path().join("finetune");
    let m2 = run2.join("model");
    let (ok, out, err) = host(&[
        "vgg16-finetune",
        "--data-dir",
        d,
        "--from",
        m2.to_str().unwrap(),
        "--output",
        run3.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--backend",
        "cpu",
    ]);
    assert!(ok, "{err}");
    assert_run_files(&run3);
    test_accuracy(&out);
    let m3 = run3.join("model");
    let (ok, _, err) = host(&["evaluate", "--model", m3.to_str().unwrap(), "--images", t]);
    assert!(ok, "{err}");

    // Fine-tuning something that is not a VGG16 model: a clear error.
    let (ok, _, err) = host(&[
        "vgg16-finetune",
        "--data-dir",
        d,
        "--from",
        run1.join("classifier").to_str().unwrap(),
        "--output",
        tmp.path().join("bad").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("not a VGG16-based model"), "{err}");

    // The real VGG16 widths against the tiny file: the error names the file and tensor.
    let mut args = vec!["vgg16-features", "--output", r1, "--epochs", "1"];
    args.extend(&base[..4]);
    args.extend(["--image-size", "32"]);
    let (ok, _, err) = host(&args);
    assert!(!ok);
    assert!(
        err.contains(w) && err.contains("block1_conv1.kernel") && err.contains("[3, 3, 3, 64]"),
        "{err}"
    );
}

#[test]
fn summary_of_the_vgg16_base() {
    let (ok, out, err) = host(&["summary", "--application", "vgg16"]);
    assert!(ok, "{err}");
    assert!(err.is_empty(), "{err}");
    assert!(out.contains("Model: \"vgg16\""), "{out}");
    assert!(out.contains("block5_pool (MaxPooling2D)"), "{out}");
    assert!(out.contains("(None, 5, 5, 512)"), "{out}");
    assert!(out.contains("Total params: 14,714,688"), "{out}");
    let (ok, out, _) = host(&["summary", "--application", "vgg16", "--image-size", "224"]);
    assert!(ok);
    assert!(out.contains("(None, 7, 7, 512)"), "{out}");
}
