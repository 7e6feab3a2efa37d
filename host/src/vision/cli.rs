//! The cats-vs-dogs subcommands of `host`: `make-subset`, `train-catsdogs`,
//! `augment-preview`, and `evaluate --images` for saved cats-vs-dogs models.
//!
//! ```text
//! host make-subset --src $TINYCONV_DATA_DIR/cats-vs-dogs/train --dst cats_vs_dogs_small \
//!     --train 0..500 --validation 500..750 --test 750..1000
//! host train-catsdogs --data-dir cats_vs_dogs_small --image-size 180 --epochs 30 \
//!     --output runs/convnet_from_scratch
//! host train-catsdogs --data-dir cats_vs_dogs_small --augment --epochs 100 \
//!     --output runs/convnet_from_scratch_with_augmentation
//! host evaluate --model runs/convnet_from_scratch/model --images cats_vs_dogs_small/test
//! host augment-preview --data-dir cats_vs_dogs_small --output augment_preview.png
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::Args;
use kernels::Backend;

use super::augment::Augmentation;
use super::experiment::{evaluate_saved, train_cats_vs_dogs, CatsDogsConfig, ExperimentError};
use super::image_folder::{load_image, ImageFolderError, IMAGE_EXTENSIONS};
use super::plot::PlotError;
use super::preview::augment_preview;
use super::subset::{make_subset, parse_range, SubsetError, SubsetSpec};
use crate::backend::{with_backend, BackendChoice, BackendError, BackendJob};

/// Errors of the cats-vs-dogs commands.
#[derive(Debug, thiserror::Error)]
pub enum VisionCliError {
    /// Cutting the subset failed.
    #[error(transparent)]
    Subset(#[from] SubsetError),
    /// Loading images failed.
    #[error(transparent)]
    Images(#[from] ImageFolderError),
    /// The experiment failed.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// Writing a picture failed.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// The backend is not available.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Parses `--image-size`: `180` (square) or `180x120` (height x width).
pub fn parse_image_size(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not an image size like 180 or 180x180 (height x width)");
    let (h, w) = match s.split_once(['x', 'X']) {
        Some((h, w)) => (
            h.trim().parse().map_err(|_| bad())?,
            w.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let n: usize = s.trim().parse().map_err(|_| bad())?;
            (n, n)
        }
    };
    if h == 0 || w == 0 {
        return Err(bad());
    }
    if h > crate::layers::MAX_WINDOW || w > crate::layers::MAX_WINDOW {
        return Err(format!(
            "image size {h}x{w} is too large (at most {} per side)",
            crate::layers::MAX_WINDOW
        ));
    }
    Ok((h, w))
}

/// Options of `make-subset`.
#[derive(Debug, Args)]
pub struct MakeSubsetArgs {
    /// Kaggle-style folder of `cat.N.jpg` and `dog.N.jpg` (default:
    /// `<data dir>/cats-vs-dogs/train`, the data dir being `$TINYCONV_DATA_DIR` or the cache).
    #[arg(long)]
    pub src: Option<PathBuf>,
    /// Folder to create with `train/`, `validation/`, `test/` (each with `cat/` and `dog/`).
    #[arg(long, default_value = "cats_vs_dogs_small")]
    pub dst: PathBuf,
    /// Training indices per class, half-open (the book: 0..1000).
    #[arg(long, value_parser = parse_range, default_value = "0..1000")]
    pub train: Range<usize>,
    /// Validation indices per class (the book: 1000..1500).
    #[arg(long, value_parser = parse_range, default_value = "1000..1500")]
    pub validation: Range<usize>,
    /// Test indices per class (the book: 1500..2500).
    #[arg(long, value_parser = parse_range, default_value = "1500..2500")]
    pub test: Range<usize>,
    /// Replace an existing destination.
    #[arg(long)]
    pub force: bool,
}

/// Options of `train-catsdogs`.
#[derive(Debug, Args)]
pub struct TrainCatsDogsArgs {
    /// The subset folder made by `make-subset` (with `train/`, `validation/`, `test/`).
    #[arg(long, default_value = "cats_vs_dogs_small")]
    pub data_dir: PathBuf,
    /// Input size: `180` or `HxW`; images are resized to it (at least 78).
    #[arg(long, value_parser = parse_image_size, default_value = "180")]
    pub image_size: (usize, usize),
    /// Epochs (default: 30, or 100 with --augment, as in the book).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Augment training batches (random flip, rotation 0.1, zoom 0.2) and add Dropout(0.5)
    /// before the classifier.
    #[arg(long)]
    pub augment: bool,
    /// Dropout rate before the classifier (default: 0.5 with --augment, none without; 0 for
    /// none).
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Seed of the weights, shuffling, dropout and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: `model/` (best val_loss), `history.json`, `loss.png`, `accuracy.png`,
    /// `report.json`.
    #[arg(long, default_value = "runs/catsdogs")]
    pub output: PathBuf,
    /// Backend.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

/// Options of `augment-preview`.
#[derive(Debug, Args)]
pub struct AugmentPreviewArgs {
    /// The image to augment (default: the first image of `<data-dir>/train/<first class>`).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// The subset folder, used when --image is not given.
    #[arg(long, default_value = "cats_vs_dogs_small")]
    pub data_dir: PathBuf,
    /// Size the image is resized to before augmenting: `180` or `HxW`.
    #[arg(long, value_parser = parse_image_size, default_value = "180")]
    pub image_size: (usize, usize),
    /// Seed of the nine augmentations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output PNG.
    #[arg(long, default_value = "augment_preview.png")]
    pub output: PathBuf,
    /// Backend.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

/// `host make-subset`.
pub fn run_make_subset(args: &MakeSubsetArgs) -> Result<(), VisionCliError> {
    let src = args.src.clone().unwrap_or_else(|| {
        crate::data_dir::resolve(None)
            .join("cats-vs-dogs")
            .join("train")
    });
    let spec = SubsetSpec::cats_dogs(
        args.train.clone(),
        args.validation.clone(),
        args.test.clone(),
    );
    match make_subset(&src, &args.dst, &spec, args.force) {
        Ok(report) => {
            println!("{report}");
            println!("subset written to {}", args.dst.display());
            Ok(())
        }
        Err(e @ SubsetError::MissingFiles { .. }) => Err(VisionCliError::Usage(format!(
            "{e}\nhint: a folder with 1,000 images per class fits \
             --train 0..500 --validation 500..750 --test 750..1000"
        ))),
        Err(e) => Err(e.into()),
    }
}

fn train_config(args: &TrainCatsDogsArgs) -> CatsDogsConfig {
    let base = CatsDogsConfig {
        data: args.data_dir.clone(),
        output: args.output.clone(),
        image_size: args.image_size,
        batch_size: args.batch_size,
        seed: args.seed,
        verbose: true,
        ..CatsDogsConfig::default()
    };
    let mut cfg = if args.augment { base.augmented() } else { base };
    if let Some(e) = args.epochs {
        cfg.epochs = e;
    }
    if let Some(rate) = args.dropout {
        cfg.dropout = (rate > 0.0).then_some(rate);
    }
    cfg
}

struct TrainJob<'a>(&'a TrainCatsDogsArgs);

impl BackendJob for TrainJob<'_> {
    type Output = Result<(), VisionCliError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        let cfg = train_config(self.0);
        let r = train_cats_vs_dogs(&backend, &cfg)?;
        println!(
            "best epoch {} (val_loss {:.4}, val_accuracy {:.4}); model kept in {}",
            r.best_epoch,
            r.best_val_loss,
            r.best_val_accuracy,
            cfg.output.join("model").display()
        );
        println!("Test loss: {:.4}", r.test_loss);
        println!("Test accuracy: {:.3}", r.test_accuracy);
        println!(
            "curves: {} and {}",
            cfg.output.join("loss.png").display(),
            cfg.output.join("accuracy.png").display()
        );
        Ok(())
    }
}

/// `host train-catsdogs`.
pub fn run_train(args: &TrainCatsDogsArgs) -> Result<(), VisionCliError> {
    with_backend(args.backend, TrainJob(args))?
}

struct EvalJob<'a> {
    model: &'a Path,
    images: &'a Path,
    batch_size: usize,
}

impl BackendJob for EvalJob<'_> {
    type Output = Result<(), VisionCliError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        let e = evaluate_saved(&backend, self.model, self.images, self.batch_size, true)?;
        println!("Test loss: {:.4}", e.loss);
        println!("Test accuracy: {:.3}", e.accuracy);
        Ok(())
    }
}

/// `host evaluate --images DIR`: a saved image model on an image folder.
pub fn run_evaluate_images(
    backend: BackendChoice,
    model: &Path,
    images: &Path,
    batch_size: usize,
) -> Result<(), VisionCliError> {
    with_backend(
        backend,
        EvalJob {
            model,
            images,
            batch_size,
        },
    )?
}

/// The first JPEG/PNG of `dir/train/<first class>` (sorted).
fn first_training_image(dir: &Path) -> Result<PathBuf, VisionCliError> {
    let train = dir.join("train");
    let read = |d: &Path| -> Result<Vec<PathBuf>, VisionCliError> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|source| ImageFolderError::Io {
                path: d.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let class = read(&train)?
        .into_iter()
        .find(|p| p.is_dir())
        .ok_or_else(|| ImageFolderError::NoClasses(train.clone()))?;
    read(&class)?
        .into_iter()
        .find(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .ok_or_else(|| ImageFolderError::EmptyClass(class).into())
}

struct PreviewJob<'a>(&'a AugmentPreviewArgs);

impl BackendJob for PreviewJob<'_> {
    type Output = Result<(), VisionCliError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        let a = self.0;
        let path = match &a.image {
            Some(p) => p.clone(),
            None => first_training_image(&a.data_dir)?,
        };
        let (h, w) = a.image_size;
        let img = load_image(&path, h, w)?;
        augment_preview(&backend, &img, h, w, &Augmentation::BOOK, a.seed, &a.output)?;
        println!(
            "nine augmentations of {} written to {}",
            path.display(),
            a.output.display()
        );
        Ok(())
    }
}

/// `host augment-preview`.
pub fn run_augment_preview(args: &AugmentPreviewArgs) -> Result<(), VisionCliError> {
    with_backend(args.backend, PreviewJob(args))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sizes() {
        assert_eq!(parse_image_size("180"), Ok((180, 180)));
        assert_eq!(parse_image_size("90x120"), Ok((90, 120)));
        assert!(parse_image_size("0").is_err());
        assert!(parse_image_size("big").is_err());
        assert!(parse_image_size("4294967296x4294967296")
            .unwrap_err()
            .contains("too large"));
        assert_eq!(parse_image_size("65536x2"), Ok((65536, 2)));
    }
}
