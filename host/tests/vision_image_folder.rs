//! `image_dataset_from_directory` on generated images of mixed sizes, colour types and formats.

use std::path::Path;

use host::vision::image_folder::decode_rgb;
use host::vision::resize::resize_bilinear;
use host::vision::{image_dataset_from_directory, ImageFolderError, ImageFolderOptions};
use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};

fn opts(h: usize, w: usize) -> ImageFolderOptions {
    ImageFolderOptions {
        image_size: (h, w),
        ..Default::default()
    }
}

/// Writes a small mixed folder: cat/ has an RGB PNG (4x6), a grey PNG (5x5) and an RGBA PNG
/// (3x2); dog/ has an RGB JPEG (8x8), a grey JPEG (7x9) and a text file.
fn mixed_folder(root: &Path) {
    let cat = root.join("cat");
    let dog = root.join("dog");
    std::fs::create_dir_all(&cat).unwrap();
    std::fs::create_dir_all(&dog).unwrap();
    RgbImage::from_fn(6, 4, |x, y| Rgb([(x * 40) as u8, (y * 60) as u8, 7]))
        .save(cat.join("a.png"))
        .unwrap();
    GrayImage::from_pixel(5, 5, Luma([200]))
        .save(cat.join("b.png"))
        .unwrap();
    RgbaImage::from_pixel(2, 3, Rgba([10, 20, 30, 0]))
        .save(cat.join("c.PNG"))
        .unwrap();
    RgbImage::from_pixel(8, 8, Rgb([250, 10, 10]))
        .save(dog.join("d.jpg"))
        .unwrap();
    GrayImage::from_pixel(9, 7, Luma([90]))
        .save(dog.join("e.jpeg"))
        .unwrap();
    std::fs::write(dog.join("notes.txt"), "not an image").unwrap();
}

#[test]
fn loads_mixed_sizes_and_colour_types() {
    let dir = tempfile::tempdir().unwrap();
    mixed_folder(dir.path());
    let f = image_dataset_from_directory(dir.path(), &opts(4, 6)).unwrap();
    assert_eq!(f.class_names, vec!["cat", "dog"]);
    assert_eq!(f.data.labels, vec![0, 0, 0, 1, 1]);
    assert_eq!(f.data.shape, [4, 6, 3]);
    assert_eq!(f.data.images.len(), 5 * 4 * 6 * 3);
    assert_eq!(f.skipped.len(), 1);
    assert!(f.skipped[0].path.ends_with("dog/notes.txt"));

    let img = |i: usize| &f.data.images[i * 72..(i + 1) * 72];
    // a.png is already 4x6: exact pixels, RGB order, HWC layout, 0..255 range.
    let a = img(0);
    for y in 0..4 {
        for x in 0..6 {
            let p = &a[(y * 6 + x) * 3..][..3];
            assert_eq!(p, &[(x * 40) as f32, (y * 60) as f32, 7.0]);
        }
    }
    // Grey 200 -> (200, 200, 200) everywhere after resize (a constant stays constant).
    assert!(img(1).iter().all(|&v| (v - 200.0).abs() < 1e-3));
    // RGBA: alpha dropped, colour kept.
    for p in img(2).chunks(3) {
        assert!(
            (p[0] - 10.0).abs() < 1e-3 && (p[1] - 20.0).abs() < 1e-3 && (p[2] - 30.0).abs() < 1e-3
        );
    }
    // JPEG of a flat red: close to (250, 10, 10) (lossy).
    for p in img(3).chunks(3) {
        assert!(
            (p[0] - 250.0).abs() < 8.0 && p[1] < 20.0 && p[2] < 20.0,
            "{p:?}"
        );
    }
    // Grey JPEG: three equal channels near 90.
    for p in img(4).chunks(3) {
        assert!(
            p[0] == p[1] && p[1] == p[2] && (p[0] - 90.0).abs() < 4.0,
            "{p:?}"
        );
    }
    assert_eq!(f.files.len(), 5);
}

#[test]
fn resizing_matches_the_bilinear_reference() {
    let dir = tempfile::tempdir().unwrap();
    let cls = dir.path().join("only");
    std::fs::create_dir_all(&cls).unwrap();
    let src = RgbImage::from_fn(7, 5, |x, y| {
        Rgb([(x * 30) as u8, (y * 50) as u8, ((x + y) * 10) as u8])
    });
    src.save(cls.join("x.png")).unwrap();
    let f = image_dataset_from_directory(dir.path(), &opts(11, 3)).unwrap();
    let (px, h, w) = decode_rgb(&cls.join("x.png")).unwrap();
    assert_eq!((h, w), (5, 7));
    assert_eq!(f.data.images, resize_bilinear(&px, 5, 7, 3, 11, 3));
    // Independent f64 check of one output pixel: (y=4, x=1) of 11x3 from 5x7.
    let sy = ((4.0 + 0.5) * 5.0 / 11.0 - 0.5f64).max(0.0);
    let sx = ((1.0 + 0.5) * 7.0 / 3.0 - 0.5f64).max(0.0);
    let (y0, x0) = (sy.floor() as u32, sx.floor() as u32);
    let (fy, fx) = (sy - y0 as f64, sx - x0 as f64);
    let g = |x: u32, y: u32| src.get_pixel(x.min(6), y.min(4))[0] as f64;
    let want = (1.0 - fy) * ((1.0 - fx) * g(x0, y0) + fx * g(x0 + 1, y0))
        + fy * ((1.0 - fx) * g(x0, y0 + 1) + fx * g(x0 + 1, y0 + 1));
    let got = f.data.images[(4 * 3 + 1) * 3] as f64;
    assert!((got - want).abs() < 1e-3, "{got} vs {want}");
}

#[test]
fn empty_class_folder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    mixed_folder(dir.path());
    let empty = dir.path().join("horse");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("readme.md"), "no images here").unwrap();
    let err = image_dataset_from_directory(dir.path(), &opts(4, 4)).unwrap_err();
    assert!(
        matches!(&err, ImageFolderError::EmptyClass(p) if p.ends_with("horse")),
        "{err}"
    );
    assert!(err.to_string().contains("horse"));
}

#[test]
fn missing_class_folder_and_missing_root_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    mixed_folder(dir.path());
    let o = ImageFolderOptions {
        image_size: (4, 4),
        class_names: Some(vec!["cat".into(), "bird".into()]),
        verbose: false,
    };
    let err = image_dataset_from_directory(dir.path(), &o).unwrap_err();
    assert!(err.to_string().contains("bird"), "{err}");
    let err = image_dataset_from_directory(&dir.path().join("nope"), &opts(4, 4)).unwrap_err();
    assert!(matches!(err, ImageFolderError::NotAFolder(_)));
    let bare = tempfile::tempdir().unwrap();
    let err = image_dataset_from_directory(bare.path(), &opts(4, 4)).unwrap_err();
    assert!(matches!(err, ImageFolderError::NoClasses(_)));
}

#[test]
fn explicit_class_order_sets_the_labels() {
    let dir = tempfile::tempdir().unwrap();
    mixed_folder(dir.path());
    let o = ImageFolderOptions {
        image_size: (4, 4),
        class_names: Some(vec!["dog".into(), "cat".into()]),
        verbose: false,
    };
    let f = image_dataset_from_directory(dir.path(), &o).unwrap();
    assert_eq!(f.data.labels, vec![0, 0, 1, 1, 1]);
}

#[test]
fn a_corrupt_jpeg_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    mixed_folder(dir.path());
    std::fs::write(
        dir.path().join("cat").join("broken.jpg"),
        b"\xFF\xD8\xFF\xE0 truncated",
    )
    .unwrap();
    let err = image_dataset_from_directory(dir.path(), &opts(4, 4)).unwrap_err();
    assert!(
        matches!(&err, ImageFolderError::Decode { path, .. } if path.ends_with("broken.jpg")),
        "{err}"
    );
}
