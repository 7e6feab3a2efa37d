//! The `host` command line: `train`, `evaluate`, `summary`, `bench`.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use kernels::Backend;

use crate::backend::{with_backend, BackendChoice, BackendError, BackendJob};
use crate::bench;
use crate::dataset::Dataset;
use crate::mnist::{self, Mnist, MnistError};
use crate::model::ModelError;
pub use crate::optim::OptimizerChoice;
use crate::save::{self, SaveError};
use crate::train::{self, FitConfig, TrainError};
use crate::{data_dir, summary, zoo};

/// tinyconv on the host: train, evaluate and inspect the book's convnets.
#[derive(Debug, Parser)]
#[command(name = "host", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the MNIST convnet (RMSprop, 5 epochs, batch 64), print the test accuracy and save
    /// the model.
    Train(TrainArgs),
    /// Load a saved model and print its test loss and accuracy on MNIST.
    Evaluate(EvaluateArgs),
    /// Print the MNIST convnet's summary table (or a saved model's, with --model).
    Summary(SummaryArgs),
    /// Measure training throughput and per-op time of the MNIST convnet.
    Bench(crate::bench::BenchArgs),
    /// Quantize a trained model into the blob the firmware runs (int8; also f32, f16), print
    /// a per-layer report and the test-set accuracy of each blob.
    #[command(alias = "export")]
    Quantize(crate::quantize::command::QuantizeArgs),
    /// Cut the book's cats-vs-dogs train/validation/test subset from a Kaggle-style folder.
    MakeSubset(crate::vision::cli::MakeSubsetArgs),
    /// Train the cats-vs-dogs convnet (from scratch, or with --augment and dropout), keep the
    /// best-val_loss model, plot the curves and print the test accuracy.
    #[command(alias = "train-cats-vs-dogs")]
    TrainCatsdogs(crate::vision::cli::TrainCatsDogsArgs),
    /// Write a 3x3 grid of random augmentations of one image (PNG).
    AugmentPreview(crate::vision::cli::AugmentPreviewArgs),
    /// Pretrained VGG16, fast feature extraction: run the ImageNet base once over the
    /// cats-vs-dogs splits (features cached on disk) and train the classifier on them.
    Vgg16Features(crate::vision::transfer_cli::FeaturesArgs),
    /// Pretrained VGG16, feature extraction with augmentation: augmentation, frozen base and
    /// the classifier trained end to end.
    Vgg16Frozen(crate::vision::transfer_cli::FrozenArgs),
    /// Pretrained VGG16, fine-tuning: unfreeze the base's last block of a `vgg16-frozen`
    /// model and train on at a low learning rate.
    Vgg16Finetune(crate::vision::transfer_cli::FinetuneArgs),
    /// Train your own architecture (tinyconv's model.json or Keras's model.to_json()) on an
    /// IDX pair or an image folder; keep the best-val_loss model, curves and a report.
    Fit(crate::fit_cli::FitArgs),
    /// Send images to the board over its serial port and print its class and scores.
    Classify(crate::classify_cli::ClassifyArgs),
    /// Saved model + data to the device in one command: calibrate, quantize, evaluate float
    /// vs int8, write the blob and per-layer report, build the firmware (board, or --qemu and
    /// run it), print flash and RAM.
    Deploy(crate::deploy_cli::DeployArgs),
}

/// Where the MNIST files come from.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Data directory holding `mnist/*-ubyte[.gz]` (or the files directly); default: the
    /// per-user cache folder (~/.cache/tinyconv).
    #[arg(long, env = "TINYCONV_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Never download missing files.
    #[arg(long)]
    pub offline: bool,
    /// Base URL of a mirror to download missing files from (repeatable; default: the
    /// canonical MNIST mirrors).
    #[arg(long = "mirror")]
    pub mirrors: Vec<String>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub test_limit: Option<usize>,
}

/// Options of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Passes over the training data.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Examples per step.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Learning rate (default: the optimiser's Keras default, 1e-3).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerChoice::Rmsprop)]
    pub optimizer: OptimizerChoice,
    /// Seed of the weight initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directory the model (model.json, model.safetensors) and history.json are written to.
    #[arg(long, default_value = "runs/mnist")]
    pub output: PathBuf,
    /// Backend.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Train on the first N training images only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Data options.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Options of `evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Directory of a saved model.
    #[arg(long)]
    pub model: PathBuf,
    /// Examples per batch.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Backend.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Evaluate on an image folder (class subfolders, e.g. cats_vs_dogs_small/test) instead
    /// of MNIST; images are resized to the model's input size.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Data options.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Options of `summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Summarise a saved model instead of the MNIST convnet.
    #[arg(long, conflicts_with = "application")]
    pub model: Option<PathBuf>,
    /// Summarise a pretrained base instead (`vgg16`: `VGG16(include_top=False)`).
    #[arg(long, value_enum)]
    pub application: Option<Application>,
    /// Input size of the application: `180` or `HxW`.
    #[arg(long, value_parser = crate::vision::cli::parse_image_size, default_value = "180")]
    pub image_size: (usize, usize),
}

/// A pretrained base of [`crate::applications`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Application {
    /// VGG16's convolutional base (with its `preprocess_input` layer).
    Vgg16,
}

/// An error of a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Loading the data failed.
    #[error(transparent)]
    Data(#[from] MnistError),
    /// Building the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Training or evaluation failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Saving or loading a model failed.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// Writing another output failed.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Quantizing or exporting failed.
    #[error(transparent)]
    Quantize(#[from] crate::quantize::QuantizeError),
    /// The requested backend is not available.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// `host bench` failed.
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
    /// A pretrained-VGG16 command failed.
    #[error(transparent)]
    Transfer(#[from] crate::vision::transfer_cli::TransferCliError),
    /// `evaluate` without `--images` needs an MNIST model (28x28x1 input).
    #[error("{}: the model's input is {input}, not MNIST's 28x28x1; evaluate it on an image folder with --images DIR", dir.display())]
    NotMnist {
        /// The model directory.
        dir: PathBuf,
        /// The model's input shape.
        input: String,
    },
    /// `host classify` failed.
    #[error(transparent)]
    Classify(#[from] crate::classify_cli::ClassifyError),
    /// `host fit` failed.
    #[error(transparent)]
    Fit(#[from] crate::fit_cli::FitCliError),
    /// `host deploy` failed (boxed: its error is large).
    #[error(transparent)]
    Deploy(Box<crate::deploy_cli::DeployError>),
    /// A cats-vs-dogs command failed.
    #[error(transparent)]
    Vision(#[from] crate::vision::cli::VisionCliError),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Train(args) => {
            let backend = args.backend;
            with_backend(backend, TrainJob(args))?
        }
        Command::Evaluate(args) if args.images.is_some() => {
            let images = args.images.as_deref().unwrap_or(Path::new("."));
            Ok(crate::vision::cli::run_evaluate_images(
                args.backend,
                &args.model,
                images,
                args.batch_size,
            )?)
        }
        Command::Evaluate(args) => {
            let backend = args.backend;
            with_backend(backend, EvaluateJob(args))?
        }
        Command::Summary(args) => {
            let (model, name) = match (args.model, args.application) {
                (Some(dir), _) => (save::load(&dir)?, "model"),
                (None, Some(Application::Vgg16)) => {
                    let (h, w) = args.image_size;
                    let base = crate::applications::vgg16::conv_base(
                        h,
                        w,
                        crate::applications::vgg16::WIDTHS,
                    );
                    (base.build(0)?, "vgg16")
                }
                (None, None) => (zoo::mnist_convnet().build(0)?, "sequential"),
            };
            print!("{}", summary::summary(&model, name));
            Ok(())
        }
        Command::Bench(args) => Ok(bench::run(&args)?),
        Command::Quantize(args) => Ok(crate::quantize::command::run(&args)?),
        Command::MakeSubset(args) => Ok(crate::vision::cli::run_make_subset(&args)?),
        Command::TrainCatsdogs(args) => Ok(crate::vision::cli::run_train(&args)?),
        Command::AugmentPreview(args) => Ok(crate::vision::cli::run_augment_preview(&args)?),
        Command::Vgg16Features(args) => Ok(crate::vision::transfer_cli::run_features(&args)?),
        Command::Vgg16Frozen(args) => Ok(crate::vision::transfer_cli::run_frozen(&args)?),
        Command::Vgg16Finetune(args) => Ok(crate::vision::transfer_cli::run_finetune(&args)?),
        Command::Fit(args) => Ok(crate::fit_cli::run(&args)?),
        Command::Classify(args) => Ok(crate::classify_cli::run(&args)?),
        Command::Deploy(args) => {
            crate::deploy_cli::run(&args).map_err(|e| CliError::Deploy(Box::new(e)))
        }
    }
}

/// Loads MNIST from the data options, downloading missing files unless `--offline`.
pub fn load_mnist(args: &DataArgs) -> Result<Mnist, CliError> {
    let dir = data_dir::resolve(args.data_dir.clone());
    if !args.offline {
        let mirrors: Vec<String> = if args.mirrors.is_empty() {
            mnist::DEFAULT_MIRRORS
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            args.mirrors.clone()
        };
        mnist::ensure_downloaded(&dir, &mirrors, true)?;
    }
    Ok(mnist::load(&dir)?)
}

fn test_set(data: &Mnist, args: &DataArgs) -> Dataset {
    let test = data.test.to_dataset(1.0 / 255.0);
    match args.test_limit {
        Some(n) => test.take(n),
        None => test,
    }
}

struct TrainJob(TrainArgs);

impl BackendJob for TrainJob {
    type Output = Result<(), CliError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        train_mnist(&backend, &self.0)
    }
}

/// `host train`: the book's MNIST run on `backend`.
pub fn train_mnist<B: Backend>(backend: &B, args: &TrainArgs) -> Result<(), CliError> {
    let data = load_mnist(&args.data)?;
    let mut train_set = data.train.to_dataset(1.0 / 255.0);
    if let Some(n) = args.limit {
        train_set = train_set.take(n);
    }
    let test = test_set(&data, &args.data);
    let mut model = zoo::mnist_convnet().build(args.seed)?;
    let config = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        optimizer: args.optimizer.optimizer(args.lr),
        seed: args.seed,
        shuffle: true,
        verbose: true,
    };
    println!(
        "training on {} images, {} epochs, batch {}",
        train_set.len(),
        config.epochs,
        config.batch_size
    );
    let history = train::fit(backend, &mut model, &train_set, None, &config, &mut [])?;
    let eval = train::evaluate(backend, &model, &test, 256)?;
    println!("Test loss: {:.4}", eval.loss);
    println!("Test accuracy: {:.4}", eval.accuracy);
    save::save(&model, &args.output)?;
    let hist_path = args.output.join("history.json");
    history.save(&hist_path).map_err(|source| CliError::Io {
        path: hist_path.clone(),
        source,
    })?;
    println!("saved model to {}", args.output.display());
    Ok(())
}

struct EvaluateJob(EvaluateArgs);

impl BackendJob for EvaluateJob {
    type Output = Result<(), CliError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        evaluate_saved(&backend, &self.0.model, &self.0.data, self.0.batch_size)
    }
}

/// `host evaluate`: loads the model in `dir` and prints its MNIST test loss and accuracy.
pub fn evaluate_saved<B: Backend>(
    backend: &B,
    dir: &Path,
    data: &DataArgs,
    batch_size: usize,
) -> Result<(), CliError> {
    let model = save::load(dir)?;
    let mnist_input = crate::layers::Shape::Image { h: 28, w: 28, c: 1 };
    if model.input_shape() != mnist_input {
        return Err(CliError::NotMnist {
            dir: dir.to_path_buf(),
            input: format!("{:?}", model.input_shape()),
        });
    }
    let mnist = load_mnist(data)?;
    let test = test_set(&mnist, data);
    let eval = train::evaluate(backend, &model, &test, batch_size)?;
    println!("Test loss: {:.4}", eval.loss);
    println!("Test accuracy: {:.4}", eval.accuracy);
    Ok(())
}
