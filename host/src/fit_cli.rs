//! `host fit`: train the architecture in a JSON file (tinyconv's `model.json` or Keras's
//! `model.to_json()`, see [`crate::arch_file`]) on an IDX pair or an image folder, keeping the
//! best-`val_loss` model, writing `history.json`, the curves and `report.json`.
//!
//! ```text
//! host fit --arch fashion.json --train-images train-images-idx3-ubyte.gz \
//!     --train-labels train-labels-idx1-ubyte.gz --test-images t10k-images-idx3-ubyte.gz \
//!     --test-labels t10k-labels-idx1-ubyte.gz --epochs 10 --output runs/fashion
//! host fit --arch rgb32.json --images cats_vs_dogs_small --augment --output runs/rgb32
//! ```

use std::path::{Path, PathBuf};

use clap::Args;
use kernels::Backend;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::arch_file::{self, ArchFileError};
use crate::backend::{with_backend, BackendChoice, BackendError, BackendJob};
use crate::dataset::Dataset;
use crate::idx::{read_idx, IdxError};
use crate::layers::Shape;
use crate::model::ModelError;
use crate::optim::OptimizerChoice;
use crate::train::FitConfig;
use crate::vision::augment::Augmentation;
use crate::vision::experiment::{fit_and_report, load_split, ExperimentError, Splits};
use crate::vision::image_folder::{to_grayscale, ImageFolder, ImageFolderError};

/// Options of `host fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// The architecture: tinyconv's `model.json` format or Keras's `model.to_json()` output.
    #[arg(long)]
    pub arch: PathBuf,
    /// An image folder with `train/`, `test/` and optionally `validation/`, each holding one
    /// folder per class (as `make-subset` writes it). Images are resized to the model's input
    /// and fed as RGB (or, for a 1-channel input, grayscale) pixels in 0..255, as Keras's
    /// `image_dataset_from_directory` does: put a `Rescaling` layer in the model.
    #[arg(long, conflicts_with_all = ["train_images", "train_labels"])]
    pub images: Option<PathBuf>,
    /// IDX file of training images (`[n, h, w]` or `[n, h, w, c]` bytes, optionally gzip'd).
    #[arg(long, requires_all = ["train_labels", "test_images", "test_labels"])]
    pub train_images: Option<PathBuf>,
    /// IDX file of training labels (`[n]`).
    #[arg(long)]
    pub train_labels: Option<PathBuf>,
    /// IDX file of test images.
    #[arg(long)]
    pub test_images: Option<PathBuf>,
    /// IDX file of test labels.
    #[arg(long)]
    pub test_labels: Option<PathBuf>,
    /// Pixel scale of IDX images: `1/255` (the book's `astype("float32") / 255`) unless the
    /// model starts with a `Rescaling` layer, then 1 (raw pixels).
    #[arg(long)]
    pub input_scale: Option<f32>,
    /// Fraction of the training data held out (seeded shuffle) for validation when there is
    /// no `validation/` folder (IDX data always splits).
    #[arg(long, default_value_t = 0.2)]
    pub validation_split: f32,
    /// Passes over the training data.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Examples per step (Keras's default).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerChoice::Rmsprop)]
    pub optimizer: OptimizerChoice,
    /// Learning rate (default: the optimiser's Keras default, 1e-3).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Augment training batches as the book does (random flip, rotation 0.1, zoom 0.2).
    #[arg(long)]
    pub augment: bool,
    /// Seed of the weights, split, shuffling, dropout and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: `model/` (best val_loss), `history.json`, `loss.png`, `accuracy.png`,
    /// `report.json`.
    #[arg(long, default_value = "runs/fit")]
    pub output: PathBuf,
    /// Backend.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

/// Errors of `host fit`.
#[derive(Debug, thiserror::Error)]
pub enum FitCliError {
    /// The architecture file is unreadable or unsupported (boxed: it is the largest error).
    #[error(transparent)]
    Arch(Box<ArchFileError>),
    /// An IDX file is unreadable.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// An image folder is unreadable.
    #[error(transparent)]
    Images(#[from] ImageFolderError),
    /// The data does not fit the model.
    #[error("{}: {reason}", path.display())]
    Data {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A bad combination of options.
    #[error("{0}")]
    Usage(String),
    /// Building the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Training, checkpointing or reporting failed.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// The backend is not available.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<ArchFileError> for FitCliError {
    fn from(e: ArchFileError) -> Self {
        FitCliError::Arch(Box::new(e))
    }
}

/// The three splits loaded for a run.
#[derive(Debug)]
pub struct FitData {
    /// Training examples.
    pub train: Dataset,
    /// Validation examples.
    pub validation: Dataset,
    /// Test examples.
    pub test: Dataset,
}

/// `host fit`.
pub fn run(args: &FitArgs) -> Result<(), FitCliError> {
    with_backend(args.backend, Job(args))?
}

struct Job<'a>(&'a FitArgs);

impl BackendJob for Job<'_> {
    type Output = Result<(), FitCliError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        fit(&backend, self.0)
    }
}

/// Trains the architecture of `args.arch` on `backend` (see the module docs).
pub fn fit<B: Backend>(backend: &B, args: &FitArgs) -> Result<(), FitCliError> {
    let arch = arch_file::read(&args.arch)?;
    let model = arch.build(args.seed)?;
    println!("{}", crate::summary::summary(&model, "model"));
    let data = load_data(args, model.input_shape(), model.starts_with_rescaling())?;
    println!(
        "training on {} examples, validating on {}, testing on {}",
        data.train.len(),
        data.validation.len(),
        data.test.len()
    );
    let config = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        optimizer: args.optimizer.optimizer(args.lr),
        seed: args.seed,
        shuffle: true,
        verbose: true,
    };
    let augmentation = args.augment.then_some(Augmentation::BOOK);
    let splits = Splits {
        train: &data.train,
        validation: &data.validation,
        test: &data.test,
    };
    let model_dir = args.output.join("model");
    let (report, _) = fit_and_report(
        backend,
        model,
        &splits,
        &config,
        augmentation.as_ref(),
        &args.output,
        &model_dir,
    )?;
    println!(
        "best epoch {} (val_loss {:.4}, val_accuracy {:.4}); test loss {:.4}, test accuracy {:.4}",
        report.best_epoch,
        report.best_val_loss,
        report.best_val_accuracy,
        report.test_loss,
        report.test_accuracy
    );
    println!("saved the best model to {}", model_dir.display());
    Ok(())
}

/// Loads the splits named by `args` for a model taking `input`.
pub fn load_data(args: &FitArgs, input: Shape, rescales: bool) -> Result<FitData, FitCliError> {
    if let Some(dir) = &args.images {
        return load_folders(dir, input, args.validation_split, args.seed);
    }
    let (Some(ti), Some(tl), Some(si), Some(sl)) = (
        &args.train_images,
        &args.train_labels,
        &args.test_images,
        &args.test_labels,
    ) else {
        return Err(FitCliError::Usage(
            "give the data as --images DIR, or as --train-images, --train-labels, \
             --test-images and --test-labels (IDX files)"
                .into(),
        ));
    };
    let scale = args
        .input_scale
        .unwrap_or(if rescales { 1.0 } else { 1.0 / 255.0 });
    let train = idx_dataset(ti, tl, input, scale)?;
    let test = idx_dataset(si, sl, input, scale)?;
    let (train, validation) = split(&train, args.validation_split, args.seed, ti)?;
    Ok(FitData {
        train,
        validation,
        test,
    })
}

/// An IDX image/label pair as a dataset for a model taking `input`.
pub fn idx_dataset(
    images: &Path,
    labels: &Path,
    input: Shape,
    scale: f32,
) -> Result<Dataset, FitCliError> {
    let img = read_idx(images)?;
    let lab = read_idx(labels)?;
    let bad = |path: &Path, reason: String| FitCliError::Data {
        path: path.to_path_buf(),
        reason,
    };
    let shape = match img.dims[..] {
        [_, h, w] => [h, w, 1],
        [_, h, w, c] => [h, w, c],
        _ => {
            return Err(bad(
                images,
                format!(
                    "images of shape {:?}, expected [n, h, w] or [n, h, w, c]",
                    img.dims
                ),
            ))
        }
    };
    let fits = match input {
        Shape::Image { h, w, c } => shape == [h, w, c],
        Shape::Flat(n) => shape.iter().product::<usize>() == n,
    };
    if !fits {
        return Err(bad(
            images,
            format!("images are {shape:?} (h, w, c), the model takes {input}"),
        ));
    }
    if lab.dims.len() != 1 || lab.dims[0] != img.dims[0] {
        return Err(bad(
            labels,
            format!(
                "labels of shape {:?} for {} images (expected [{}])",
                lab.dims, img.dims[0], img.dims[0]
            ),
        ));
    }
    Ok(Dataset {
        shape,
        images: img.data.iter().map(|&p| p as f32 * scale).collect(),
        labels: lab.data.iter().map(|&l| u32::from(l)).collect(),
    })
}

/// Holds out `fraction` of `data` (after a shuffle seeded with `seed`) for validation.
pub fn split(
    data: &Dataset,
    fraction: f32,
    seed: u64,
    source: &Path,
) -> Result<(Dataset, Dataset), FitCliError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(FitCliError::Usage(format!(
            "--validation-split {fraction} must be in (0, 1) when {} has no validation split",
            source.display()
        )));
    }
    let n_val = ((data.len() as f64) * f64::from(fraction)).round() as usize;
    if n_val == 0 || n_val >= data.len() {
        return Err(FitCliError::Data {
            path: source.to_path_buf(),
            reason: format!(
                "{} examples are too few to hold out a fraction {fraction} for validation",
                data.len()
            ),
        });
    }
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5eed_0001));
    let (val_idx, train_idx) = order.split_at(n_val);
    let take = |idx: &[usize]| {
        let (images, labels) = data.gather(idx);
        Dataset {
            shape: data.shape,
            images,
            labels,
        }
    };
    Ok((take(train_idx), take(val_idx)))
}

fn load_folders(
    dir: &Path,
    input: Shape,
    validation_split: f32,
    seed: u64,
) -> Result<FitData, FitCliError> {
    let Shape::Image { h, w, c } = input else {
        return Err(FitCliError::Data {
            path: dir.to_path_buf(),
            reason: format!("an image folder needs a model taking images, not {input}"),
        });
    };
    if c != 1 && c != 3 {
        return Err(FitCliError::Data {
            path: dir.to_path_buf(),
            reason: format!("images are RGB or grayscale; the model takes {c} channels"),
        });
    }
    let load = |name: &str| -> Result<ImageFolder, FitCliError> {
        let mut folder = load_split(&dir.join(name), (h, w), true)?;
        if c == 1 {
            folder.data = grayscale(&folder.data);
        }
        Ok(folder)
    };
    let train = load("train")?;
    let test = load("test")?;
    let val_dir = dir.join("validation");
    check_same_classes(&train, &test, &dir.join("test"))?;
    let (train_data, validation) = if val_dir.is_dir() {
        let val = load("validation")?;
        check_same_classes(&train, &val, &val_dir)?;
        (train.data, val.data)
    } else {
        split(&train.data, validation_split, seed, &dir.join("train"))?
    };
    Ok(FitData {
        train: train_data,
        validation,
        test: test.data,
    })
}

fn check_same_classes(
    train: &ImageFolder,
    other: &ImageFolder,
    path: &Path,
) -> Result<(), FitCliError> {
    if other.class_names != train.class_names {
        return Err(FitCliError::Data {
            path: path.to_path_buf(),
            reason: format!(
                "classes {:?} differ from the training classes {:?}",
                other.class_names, train.class_names
            ),
        });
    }
    Ok(())
}

/// RGB images as one channel ([`to_grayscale`]).
pub fn grayscale(rgb: &Dataset) -> Dataset {
    let [h, w, _] = rgb.shape;
    Dataset {
        shape: [h, w, 1],
        images: to_grayscale(&rgb.images),
        labels: rgb.labels.clone(),
    }
}
