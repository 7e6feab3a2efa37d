//! Training on generated images: the augmented trainer learns a trivially separable pair,
//! the best-val_loss checkpoint keeps the right epoch, and the whole experiment writes its files.

use std::path::Path;

use host::callback::{BestCheckpoint, Callback};
use host::history::EpochLogs;
use host::layers::Activation::{Relu, Sigmoid};
use host::layers::{Conv2D, Dense, Flatten, MaxPooling2D, Rescaling, Shape};
use host::sequential::Sequential;
use host::train::{evaluate, FitConfig};
use host::vision::image_folder::{image_dataset_from_directory, ImageFolderOptions};
use host::vision::{fit_augmented, train_cats_vs_dogs, Augmentation, CatsDogsConfig};
use image::{Rgb, RgbImage};
use kernels::CpuBackend;
use rand::{Rng, SeedableRng};

/// `n` images per class: class `a` bright on the left half, class `b` bright on the right,
/// with noise, as PNG files in `dir/a` and `dir/b`.
fn halves(dir: &Path, n: usize, side: u32, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for (class, bright_left) in [("a", true), ("b", false)] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..n {
            let img = RgbImage::from_fn(side, side, |x, _| {
                let left = x < side / 2;
                let base = if left == bright_left { 200.0 } else { 40.0 };
                let v = (base + rng.gen_range(-30.0..30.0f32)).clamp(0.0, 255.0) as u8;
                Rgb([v, v, v])
            });
            img.save(dir.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
}

#[test]
fn augmented_training_learns_left_versus_right() {
    let tmp = tempfile::tempdir().unwrap();
    halves(&tmp.path().join("train"), 24, 16, 1);
    halves(&tmp.path().join("val"), 8, 16, 2);
    let opts = ImageFolderOptions {
        image_size: (16, 16),
        ..Default::default()
    };
    let train = image_dataset_from_directory(&tmp.path().join("train"), &opts).unwrap();
    let val = image_dataset_from_directory(&tmp.path().join("val"), &opts).unwrap();
    assert_eq!(train.class_names, vec!["a", "b"]);
    let mut model = Sequential::new(Shape::image(16, 16, 3))
        .add(Rescaling::new(1.0 / 255.0, 0.0))
        .add(Conv2D::new(8, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Flatten)
        .add(Dense::new(1).activation(Sigmoid))
        .build(3)
        .unwrap();
    let be = CpuBackend::new();
    let before = evaluate(&be, &model, &val.data, 16).unwrap();
    let cfg = FitConfig {
        epochs: 8,
        batch_size: 8,
        seed: 4,
        verbose: false,
        ..Default::default()
    };
    // No flip: flipping would turn one class into the other.
    let aug = Augmentation {
        flip_horizontal: false,
        rotation: 0.02,
        zoom: 0.1,
    };
    let history = fit_augmented(
        &be,
        &mut model,
        &train.data,
        Some(&val.data),
        &cfg,
        Some(&aug),
        &mut [],
    )
    .unwrap();
    assert_eq!(history.val_accuracy.len(), 8);
    let after = evaluate(&be, &model, &val.data, 16).unwrap();
    assert!(
        after.accuracy >= 0.9,
        "val accuracy {} (before {})",
        after.accuracy,
        before.accuracy
    );
    assert!(after.loss < before.loss);
    assert!((history.val_accuracy[7] - after.accuracy).abs() < 1e-6);
}

#[test]
fn checkpoint_keeps_the_best_validation_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("best");
    let mut cb = BestCheckpoint::new(&dir);
    let build = |seed: u64| {
        Sequential::new(Shape::Flat(3))
            .add(Dense::new(1).activation(Sigmoid))
            .build(seed)
            .unwrap()
    };
    // Non-monotone: the minimum (0.41) is at epoch index 3, after a rise.
    let val_losses = [0.70, 0.52, 0.60, 0.41, 0.45, 0.80];
    for (epoch, &vl) in val_losses.iter().enumerate() {
        let logs = EpochLogs {
            loss: 0.1,
            accuracy: 0.9,
            val_loss: Some(vl),
            val_accuracy: Some(0.5),
            seconds: 0.0,
        };
        let snapshot = || build(100 + epoch as u64);
        cb.on_epoch_end(epoch, &logs, &snapshot).unwrap();
    }
    assert_eq!(cb.best_epoch, Some(3));
    assert_eq!(cb.best, Some(0.41));
    let saved = host::save::load(&dir).unwrap();
    assert_eq!(saved.params(), build(103).params());
    assert_ne!(saved.params(), build(101).params());
}

#[test]
fn experiment_writes_model_history_plots_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Small images; the loader upsamples them to the model's minimum input size.
    halves(&data.join("train"), 6, 20, 1);
    halves(&data.join("validation"), 3, 20, 2);
    halves(&data.join("test"), 3, 20, 3);
    for split in ["train", "validation", "test"] {
        for (from, to) in [("a", "cat"), ("b", "dog")] {
            std::fs::rename(data.join(split).join(from), data.join(split).join(to)).unwrap();
        }
    }
    let out = tmp.path().join("run");
    let side = host::vision::model::MIN_IMAGE_SIDE;
    let cfg = CatsDogsConfig {
        data: data.clone(),
        output: out.clone(),
        image_size: (side, side),
        epochs: 2,
        batch_size: 4,
        verbose: false,
        ..CatsDogsConfig::default().augmented()
    };
    let report = train_cats_vs_dogs(&CpuBackend::new(), &cfg).unwrap();
    assert_eq!(report.history.loss.len(), 2);
    assert_eq!(
        (
            report.train_examples,
            report.validation_examples,
            report.test_examples
        ),
        (12, 6, 6)
    );
    let best = report.best_epoch - 1;
    let min = report
        .history
        .val_loss
        .iter()
        .cloned()
        .fold(f32::INFINITY, f32::min);
    assert_eq!(report.history.val_loss[best], min);
    for f in [
        "model/model.json",
        "model/model.safetensors",
        "history.json",
        "loss.png",
        "accuracy.png",
        "report.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let png = image::open(out.join("accuracy.png")).unwrap();
    assert_eq!(png.width(), host::vision::plot::PLOT_WIDTH);
    let h: host::history::History =
        serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap()).unwrap();
    assert_eq!(h, report.history);
    // The saved model is the augmented variant (dropout before the classifier).
    let m = host::save::load(&out.join("model")).unwrap();
    assert!(m.layers().iter().any(|l| l.kind.class_name() == "Dropout"));
    // The test metrics are those of the kept (best) model.
    let e = host::vision::experiment::evaluate_saved(
        &CpuBackend::new(),
        &out.join("model"),
        &data.join("test"),
        4,
        false,
    )
    .unwrap();
    assert!((e.accuracy - report.test_accuracy).abs() < 1e-6);
    assert!((e.loss - report.test_loss).abs() < 1e-5);
    // A too-small image size is refused before any work.
    let small = CatsDogsConfig {
        image_size: (32, 32),
        ..cfg
    };
    assert!(train_cats_vs_dogs(&CpuBackend::new(), &small).is_err());
}

#[test]
fn without_augmentation_it_trains_exactly_like_fit() {
    let tmp = tempfile::tempdir().unwrap();
    halves(&tmp.path().join("train"), 10, 12, 5);
    let opts = ImageFolderOptions {
        image_size: (12, 12),
        ..Default::default()
    };
    let train = image_dataset_from_directory(&tmp.path().join("train"), &opts).unwrap();
    let build = || {
        Sequential::new(Shape::image(12, 12, 3))
            .add(Rescaling::new(1.0 / 255.0, 0.0))
            .add(Conv2D::new(4, 3).activation(Relu))
            .add(Flatten)
            .add(host::layers::Dropout::new(0.3))
            .add(Dense::new(1).activation(Sigmoid))
            .build(9)
            .unwrap()
    };
    let be = CpuBackend::new();
    let cfg = FitConfig {
        epochs: 3,
        batch_size: 6,
        seed: 2,
        verbose: false,
        ..Default::default()
    };
    let (mut a, mut b) = (build(), build());
    let ha = host::train::fit(&be, &mut a, &train.data, Some(&train.data), &cfg, &mut []).unwrap();
    let hb = fit_augmented(
        &be,
        &mut b,
        &train.data,
        Some(&train.data),
        &cfg,
        None,
        &mut [],
    )
    .unwrap();
    assert_eq!(ha.loss, hb.loss);
    assert_eq!(ha.accuracy, hb.accuracy);
    assert_eq!(ha.val_loss, hb.val_loss);
    assert_eq!(a.params(), b.params());
}
