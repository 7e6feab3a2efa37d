//! Curves and the augmentation preview are written as valid PNGs of the expected size.

use host::vision::plot::{PLOT_HEIGHT, PLOT_WIDTH};
use host::vision::{augment_preview, plot_curves, Augmentation};
use kernels::CpuBackend;

#[test]
fn curves_png_is_written_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plots").join("loss.png");
    let train = [0.69, 0.62, 0.55, 0.41, 0.30, 0.18];
    let val = [0.68, 0.64, 0.60, 0.58, 0.61, 0.70];
    plot_curves(&path, "loss", &train, &val).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (PLOT_WIDTH, PLOT_HEIGHT));
    // Blue marks are drawn (dots and line), not just a blank canvas.
    let blue = img
        .pixels()
        .filter(|p| p[2] > 200 && p[0] < 60 && p[1] < 60)
        .count();
    assert!(blue > 200, "{blue} blue pixels");
    // Text is drawn in black (title, ticks, legend).
    let dark = img
        .pixels()
        .filter(|p| p[0] < 60 && p[1] < 60 && p[2] < 60)
        .count();
    assert!(dark > 500, "{dark} dark pixels");
    // Only the PNG is left in the folder (atomic write, no temporaries).
    assert_eq!(
        std::fs::read_dir(dir.path().join("plots")).unwrap().count(),
        1
    );
}

#[test]
fn single_epoch_and_empty_series() {
    let dir = tempfile::tempdir().unwrap();
    plot_curves(&dir.path().join("a.png"), "accuracy", &[0.5], &[0.5]).unwrap();
    assert!(image::open(dir.path().join("a.png")).is_ok());
    assert!(plot_curves(&dir.path().join("b.png"), "accuracy", &[], &[]).is_err());
    assert!(!dir.path().join("b.png").exists());
}

#[test]
fn augmentation_preview_is_a_three_by_three_grid() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (20, 30);
    let img: Vec<f32> = (0..h * w * 3).map(|i| ((i * 7) % 256) as f32).collect();
    let path = dir.path().join("preview.png");
    augment_preview(
        &CpuBackend::new(),
        &img,
        h,
        w,
        &Augmentation::BOOK,
        3,
        &path,
    )
    .unwrap();
    let png = image::open(&path).unwrap();
    // Tiles enlarged by 160 / 30 = 5: 3 * 150 + 4 * 6 gaps wide, 3 * 100 + 24 high.
    assert_eq!((png.width(), png.height()), (3 * 150 + 24, 3 * 100 + 24));
}
