//! The cats-vs-dogs commands of the `host` binary, end to end on a tiny generated folder.

mod common;

use common::host;

use std::path::Path;

use image::{Rgb, RgbImage};

/// A Kaggle-style folder: `cat.N.jpg` bright on the left, `dog.N.jpg` bright on the right.
fn kaggle(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        for (class, left) in [("cat", true), ("dog", false)] {
            let img = RgbImage::from_fn(20, 20, |x, _| {
                let v = if (x < 10) == left { 220 } else { 30 } as u8;
                Rgb([v, v.wrapping_add(i as u8), v])
            });
            img.save(dir.join(format!("{class}.{i}.jpg"))).unwrap();
        }
    }
}

fn test_accuracy(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Test accuracy: "))
        .unwrap_or_else(|| panic!("no test accuracy in {stdout}"))
        .to_string()
}

#[test]
fn make_subset_train_evaluate_and_preview() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("kaggle");
    kaggle(&src, 8);
    let dst = tmp.path().join("small");
    let (s, d) = (src.to_str().unwrap(), dst.to_str().unwrap());
    let ranges = ["--train", "0..4", "--validation", "4..6", "--test", "6..8"];

    let mut args = vec!["make-subset", "--src", s, "--dst", d];
    args.extend(ranges);
    let (ok, out, err) = host(&args);
    assert!(ok, "{err}");
    assert!(out.contains("train/cat: 4 images"), "{out}");
    let (ok, _, err) = host(&args);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    // The book's default ranges do not fit 8 images per class: the error names a file.
    let (ok, _, err) = host(&["make-subset", "--src", s, "--dst", &format!("{d}2")]);
    assert!(!ok);
    assert!(
        err.contains("cat.8.jpg") && err.contains("--train 0..500"),
        "{err}"
    );

    let run = tmp.path().join("run");
    let r = run.to_str().unwrap();
    let (ok, out, err) = host(&[
        "train-catsdogs",
        "--data-dir",
        d,
        "--image-size",
        "78",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--augment",
        "--output",
        r,
        "--backend",
        "cpu",
    ]);
    assert!(ok, "{err}");
    let acc = test_accuracy(&out);
    for f in [
        "model/model.json",
        "history.json",
        "loss.png",
        "accuracy.png",
        "report.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }

    let model = run.join("model");
    let test = dst.join("test");
    let (ok, out, err) = host(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--images",
        test.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(ok, "{err}");
    assert_eq!(test_accuracy(&out), acc);

    let png = tmp.path().join("preview.png");
    let (ok, _, err) = host(&[
        "augment-preview",
        "--data-dir",
        d,
        "--image-size",
        "78",
        "--output",
        png.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(ok, "{err}");
    let img = image::open(&png).unwrap();
    assert_eq!(img.width(), 3 * 78 * 2 + 24);
}
