//! The images a quantizer calibrates and evaluates on, as a board receives them: 8-bit pixels,
//! HWC, image after image, with their labels. From MNIST in the data directory (the default),
//! an IDX image/label pair, or an image folder (`train/` and `test/`, one subfolder per class,
//! decoded and resized to the model's input like `host fit` does).

use std::path::{Path, PathBuf};

use clap::Args;
use shared::blob::Shape;

use crate::data_dir;
use crate::idx::read_idx;
use crate::mnist;
use crate::quantize::QuantizeError;
use crate::vision::experiment::load_split;
use crate::vision::image_folder::to_grayscale;

/// Images as 8-bit pixels with labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PixelSet {
    /// `len * h * w * c` pixels.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u32>,
}

impl PixelSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `n` images of `per` pixels (all of them when `n` is larger).
    pub fn first(&self, n: usize, per: usize) -> PixelSet {
        let n = n
            .min(self.len())
            .min(self.pixels.len().checked_div(per).unwrap_or(0));
        PixelSet {
            pixels: self.pixels[..n * per].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }
}

/// Calibration (training) and test images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PixelData {
    /// Training images, sampled for calibration.
    pub train: PixelSet,
    /// Test images, for evaluation.
    pub test: PixelSet,
}

/// Where the calibration and test images come from (MNIST in the data directory by default).
#[derive(Clone, Debug, Default, Args)]
pub struct DataArgs {
    /// Data directory holding `mnist/*-ubyte[.gz]` (the default data).
    #[arg(long, env = "TINYCONV_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Never download missing MNIST files.
    #[arg(long)]
    pub offline: bool,
    /// An image folder with `train/` and `test/` (one subfolder per class) instead of MNIST.
    #[arg(long, conflicts_with_all = ["train_images", "test_images"])]
    pub images: Option<PathBuf>,
    /// IDX file of training (calibration) images instead of MNIST.
    #[arg(long, requires_all = ["train_labels", "test_images", "test_labels"])]
    pub train_images: Option<PathBuf>,
    /// IDX file of training labels.
    #[arg(long, requires = "train_images")]
    pub train_labels: Option<PathBuf>,
    /// IDX file of test images.
    #[arg(long, requires = "train_images")]
    pub test_images: Option<PathBuf>,
    /// IDX file of test labels.
    #[arg(long, requires = "train_images")]
    pub test_labels: Option<PathBuf>,
}

impl DataArgs {
    /// Loads the images for a model taking `input`.
    pub fn load(&self, input: Shape) -> Result<PixelData, QuantizeError> {
        if let Some(dir) = &self.images {
            return folder(dir, input);
        }
        if let (Some(ti), Some(tl), Some(si), Some(sl)) = (
            &self.train_images,
            &self.train_labels,
            &self.test_images,
            &self.test_labels,
        ) {
            return Ok(PixelData {
                train: idx_pair(ti, tl, input)?,
                test: idx_pair(si, sl, input)?,
            });
        }
        let dir = data_dir::resolve(self.data_dir.clone());
        if input != shared::mnist::MNIST_INPUT {
            return Err(QuantizeError::Input {
                path: dir,
                reason: format!(
                    "the default data is MNIST (28×28×1) but the model takes {}×{}×{}; give \
                     --images DIR or --train-images/--train-labels/--test-images/--test-labels",
                    input.h, input.w, input.c
                ),
            });
        }
        if !self.offline {
            let mirrors: Vec<String> = mnist::DEFAULT_MIRRORS
                .iter()
                .map(|s| s.to_string())
                .collect();
            mnist::ensure_downloaded(&dir, &mirrors, true)?;
        }
        let data = mnist::load(&dir)?;
        let set = |s: &mnist::MnistSplit| PixelSet {
            pixels: s.images.clone(),
            labels: s.labels.iter().map(|&l| u32::from(l)).collect(),
        };
        Ok(PixelData {
            train: set(&data.train),
            test: set(&data.test),
        })
    }
}

fn input_err(path: &Path, reason: String) -> QuantizeError {
    QuantizeError::Input {
        path: path.to_path_buf(),
        reason,
    }
}

/// An IDX image file (`[n, h, w]` or `[n, h, w, c]`) and its labels (`[n]`).
pub fn idx_pair(images: &Path, labels: &Path, input: Shape) -> Result<PixelSet, QuantizeError> {
    let img = read_idx(images).map_err(|e| input_err(images, e.to_string()))?;
    let lab = read_idx(labels).map_err(|e| input_err(labels, e.to_string()))?;
    let shape = match img.dims[..] {
        [_, h, w] => [h, w, 1],
        [_, h, w, c] => [h, w, c],
        _ => {
            return Err(input_err(
                images,
                format!(
                    "images of shape {:?}, expected [n, h, w] or [n, h, w, c]",
                    img.dims
                ),
            ))
        }
    };
    if shape != [input.h as usize, input.w as usize, input.c as usize] {
        return Err(input_err(
            images,
            format!(
                "images are {shape:?} (h, w, c), the model takes [{}, {}, {}]",
                input.h, input.w, input.c
            ),
        ));
    }
    if lab.dims.len() != 1 || lab.dims[0] != img.dims[0] {
        return Err(input_err(
            labels,
            format!("labels of shape {:?} for {} images", lab.dims, img.dims[0]),
        ));
    }
    Ok(PixelSet {
        pixels: img.data,
        labels: lab.data.iter().map(|&l| u32::from(l)).collect(),
    })
}

/// `train/` and `test/` of an image folder, resized to the model's input and rounded to 8-bit
/// pixels (grayscale for a one-channel model).
pub fn folder(dir: &Path, input: Shape) -> Result<PixelData, QuantizeError> {
    if input.c != 1 && input.c != 3 {
        return Err(input_err(
            dir,
            format!(
                "images are RGB or grayscale; the model takes {} channels",
                input.c
            ),
        ));
    }
    let load = |name: &str| -> Result<(Vec<String>, PixelSet), QuantizeError> {
        let path = dir.join(name);
        let split = load_split(&path, (input.h as usize, input.w as usize), false)
            .map_err(|e| input_err(&path, e.to_string()))?;
        let values = if input.c == 1 {
            to_grayscale(&split.data.images)
        } else {
            split.data.images
        };
        let set = PixelSet {
            pixels: values
                .iter()
                .map(|&v| v.round().clamp(0.0, 255.0) as u8)
                .collect(),
            labels: split.data.labels,
        };
        Ok((split.class_names, set))
    };
    let (train_classes, train) = load("train")?;
    let (test_classes, test) = load("test")?;
    if test_classes != train_classes {
        return Err(input_err(
            &dir.join("test"),
            format!("classes {test_classes:?} differ from the training classes {train_classes:?}"),
        ));
    }
    Ok(PixelData { train, test })
}
