//! A labelled image dataset from a folder of class subfolders, like Keras's
//! `image_dataset_from_directory`: `dir/cat/*.jpg`, `dir/dog/*.jpg` gives classes
//! `["cat", "dog"]` (sorted folder names) and labels 0 and 1.
//!
//! Images are decoded in parallel (rayon), converted to RGB whatever their colour type (grey,
//! grey+alpha, RGBA, 16-bit), resized with TensorFlow's bilinear rule to the requested size
//! and kept as `f32` HWC values in 0..255: rescaling is the model's first layer, as in the book.
//! Files that are not JPEG or PNG (by extension) are skipped and reported; a JPEG or PNG that
//! fails to decode is an error naming the file.
//!
//! Batching and per-epoch shuffling (Keras's `batch_size=32`, `shuffle=True, seed=...`) are
//! done by the training loop over the returned [`Dataset`].

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::resize::resize_bilinear;
use crate::dataset::Dataset;

/// Extensions decoded (lower case, without the dot).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// Options of [`image_dataset_from_directory`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFolderOptions {
    /// Output size `(height, width)`. The default is the book's 180×180 (Keras's own default
    /// is 256×256).
    pub image_size: (usize, usize),
    /// Expected class folders in label order; `None` takes every subfolder, sorted by name.
    pub class_names: Option<Vec<String>>,
    /// Show a progress bar and print Keras's `Found N files belonging to K classes.` and
    /// warnings for skipped files on stderr.
    pub verbose: bool,
}

impl Default for ImageFolderOptions {
    fn default() -> Self {
        Self {
            image_size: (180, 180),
            class_names: None,
            verbose: false,
        }
    }
}

/// A file that was not loaded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

/// A loaded image folder.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    /// Class names; label `i` is `class_names[i]`.
    pub class_names: Vec<String>,
    /// The source file of every example, in dataset order.
    pub files: Vec<PathBuf>,
    /// Images `[h, w, 3]` in 0..255 and labels.
    pub data: Dataset,
    /// Files skipped (not JPEG/PNG).
    pub skipped: Vec<SkippedFile>,
}

/// Errors of [`image_dataset_from_directory`].
#[derive(Debug, thiserror::Error)]
pub enum ImageFolderError {
    /// The dataset folder does not exist or is not a folder.
    #[error("dataset folder {0} does not exist or is not a folder")]
    NotAFolder(PathBuf),
    /// The dataset folder has no class subfolders.
    #[error("dataset folder {0} has no class subfolders (expected e.g. {0}/cat, {0}/dog)")]
    NoClasses(PathBuf),
    /// A class folder named in the options does not exist.
    #[error("class folder {0} does not exist")]
    MissingClass(PathBuf),
    /// A class folder holds no JPEG or PNG image.
    #[error("class folder {0} holds no JPEG or PNG image")]
    EmptyClass(PathBuf),
    /// The requested image size is zero.
    #[error("image size must be at least 1x1, got {0}x{1}")]
    BadSize(usize, usize),
    /// Reading a folder or file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An image file could not be decoded.
    #[error("decoding image {path}: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, ImageFolderError> {
    let err = |source| ImageFolderError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        v.push(entry.map_err(err)?.path());
    }
    v.sort();
    Ok(v)
}

/// Decodes one JPEG/PNG file to RGB `f32` HWC at its own size: `(pixels, height, width)`.
pub fn decode_rgb(path: &Path) -> Result<(Vec<f32>, usize, usize), ImageFolderError> {
    let dec = |e: image::ImageError| ImageFolderError::Decode {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let reader = image::ImageReader::open(path)
        .map_err(|source| ImageFolderError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| ImageFolderError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let rgb = reader.decode().map_err(dec)?.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    Ok((rgb.into_raw().into_iter().map(f32::from).collect(), h, w))
}

/// RGB pixels (HWC) as one channel, with the ITU-R 601 luma weights of
/// `tf.image.rgb_to_grayscale` (what Keras's `color_mode="grayscale"` gives, up to JPEG decoding).
pub fn to_grayscale(rgb: &[f32]) -> Vec<f32> {
    rgb.chunks_exact(3)
        .map(|p| 0.2989 * p[0] + 0.587 * p[1] + 0.114 * p[2])
        .collect()
}

/// Decodes one image and resizes it to `(out_h, out_w)` (RGB, 0..255).
pub fn load_image(path: &Path, out_h: usize, out_w: usize) -> Result<Vec<f32>, ImageFolderError> {
    let (px, h, w) = decode_rgb(path)?;
    if h == out_h && w == out_w {
        return Ok(px);
    }
    Ok(resize_bilinear(&px, h, w, 3, out_h, out_w))
}

/// Loads `dir/<class>/*.{jpg,jpeg,png}` (see the module docs).
pub fn image_dataset_from_directory(
    dir: &Path,
    opts: &ImageFolderOptions,
) -> Result<ImageFolder, ImageFolderError> {
    let (out_h, out_w) = opts.image_size;
    if out_h == 0 || out_w == 0 {
        return Err(ImageFolderError::BadSize(out_h, out_w));
    }
    if !dir.is_dir() {
        return Err(ImageFolderError::NotAFolder(dir.to_path_buf()));
    }
    let class_names: Vec<String> = match &opts.class_names {
        Some(names) => {
            for n in names {
                if !dir.join(n).is_dir() {
                    return Err(ImageFolderError::MissingClass(dir.join(n)));
                }
            }
            names.clone()
        }
        None => sorted_entries(dir)?
            .into_iter()
            .filter(|p| p.is_dir())
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect(),
    };
    if class_names.is_empty() {
        return Err(ImageFolderError::NoClasses(dir.to_path_buf()));
    }

    let mut files = Vec::new();
    let mut labels = Vec::new();
    let mut skipped = Vec::new();
    for (label, class) in class_names.iter().enumerate() {
        let class_dir = dir.join(class);
        let before = files.len();
        for path in sorted_entries(&class_dir)? {
            if !path.is_file() {
                continue;
            }
            if is_image(&path) {
                files.push(path);
                labels.push(label as u32);
            } else {
                skipped.push(SkippedFile {
                    path,
                    reason: "not a JPEG or PNG file (by extension)".into(),
                });
            }
        }
        if files.len() == before {
            return Err(ImageFolderError::EmptyClass(class_dir));
        }
    }

    if opts.verbose {
        eprintln!(
            "Found {} files belonging to {} classes.",
            files.len(),
            class_names.len()
        );
        for s in &skipped {
            eprintln!("warning: skipping {}: {}", s.path.display(), s.reason);
        }
    }
    let bar = if opts.verbose {
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "decoding {pos}/{len} images [{bar:30}] {elapsed_precise}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let decoded: Vec<Vec<f32>> = files
        .par_iter()
        .map(|p| {
            let r = load_image(p, out_h, out_w);
            bar.inc(1);
            r
        })
        .collect::<Result<_, _>>()?;
    bar.finish_and_clear();

    let mut images = Vec::with_capacity(files.len() * out_h * out_w * 3);
    for img in decoded {
        images.extend_from_slice(&img);
    }
    Ok(ImageFolder {
        class_names,
        files,
        data: Dataset {
            shape: [out_h, out_w, 3],
            images,
            labels,
        },
        skipped,
    })
}
