//! The pretrained-VGG16 subcommands of `host` (the book's three runs, see
//! [`super::transfer`]):
//!
//! ```text
//! host make-subset --src $TINYCONV_DATA_DIR/cats-vs-dogs-photos/train --dst cats_vs_dogs_small \
//!     --train 0..1000 --validation 1000..1500 --test 1500..2000
//! host vgg16-features --data-dir cats_vs_dogs_small --output runs/vgg16_features
//! host vgg16-frozen   --data-dir cats_vs_dogs_small --output runs/vgg16_frozen
//! host vgg16-finetune --data-dir cats_vs_dogs_small --from runs/vgg16_frozen/model \
//!     --output runs/vgg16_finetune
//! host evaluate --model runs/vgg16_finetune/model --images cats_vs_dogs_small/test
//! ```

use std::path::PathBuf;

use clap::Args;
use kernels::Backend;

use super::cli::parse_image_size;
use super::transfer::{
    feature_extraction, fine_tune, frozen_augmented, TransferConfig, TransferError,
    BOOK_UNFROZEN_CONVS, FINE_TUNE_LR,
};
use super::CatsDogsReport;
use crate::applications::vgg16;
use crate::backend::{with_backend, BackendChoice, BackendError, BackendJob};

/// Errors of the pretrained-VGG16 commands.
#[derive(Debug, thiserror::Error)]
pub enum TransferCliError {
    /// The run failed.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// The backend is not available.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
}

/// Parses `--widths`: five filter counts, `64,128,256,512,512`.
pub fn parse_widths(s: &str) -> Result<[usize; 5], String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{s}` is not five filter counts like 64,128,256,512,512"))?;
    match <[usize; 5]>::try_from(v) {
        Ok(w) if w.iter().all(|&n| n > 0) => Ok(w),
        _ => Err(format!(
            "`{s}` is not five positive filter counts like 64,128,256,512,512"
        )),
    }
}

/// Options shared by the three commands.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The subset folder made by `make-subset` (with `train/`, `validation/`, `test/`).
    #[arg(long, default_value = "cats_vs_dogs_small")]
    pub data_dir: PathBuf,
    /// Examples per batch (the book: 32).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Seed of the classifier's weights, shuffling, dropout and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Backend.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

/// Options of the commands that build the base from pretrained weights.
#[derive(Debug, Args)]
pub struct BaseArgs {
    /// The VGG16 conv base's weights, safetensors with Keras names (default:
    /// `<data dir>/pretrained/vgg16-imagenet-notop.safetensors`, the data dir being
    /// `$TINYCONV_DATA_DIR` or the cache).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Input size: `180` or `HxW` (at least 32); images are resized to it.
    #[arg(long, value_parser = parse_image_size, default_value = "180")]
    pub image_size: (usize, usize),
    /// Filters per block of the base; VGG16's unless the weights file is a smaller
    /// VGG-shaped network.
    #[arg(long, value_parser = parse_widths, default_value = "64,128,256,512,512")]
    pub widths: [usize; 5],
}

impl BaseArgs {
    fn weights(&self) -> PathBuf {
        self.weights
            .clone()
            .unwrap_or_else(|| vgg16::weights_path(&crate::data_dir::resolve(None)))
    }
}

/// Options of `vgg16-features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: TransferArgs,
    /// The base.
    #[command(flatten)]
    pub base: BaseArgs,
    /// Epochs of the classifier (the book: 20).
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Folder of the cached features (`train`, `validation`, `test` `.safetensors`), reused
    /// when images and weights are unchanged (default: `<output>/features`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Output folder: `model/` (base + best classifier), `classifier/`, `history.json`,
    /// `loss.png`, `accuracy.png`, `report.json`.
    #[arg(long, default_value = "runs/vgg16_features")]
    pub output: PathBuf,
}

/// Options of `vgg16-frozen`.
#[derive(Debug, Args)]
pub struct FrozenArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: TransferArgs,
    /// The base.
    #[command(flatten)]
    pub base: BaseArgs,
    /// Epochs (the book: 50).
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Output folder: `model/` (best val_loss), `history.json`, `loss.png`, `accuracy.png`,
    /// `report.json`.
    #[arg(long, default_value = "runs/vgg16_frozen")]
    pub output: PathBuf,
}

/// Options of `vgg16-finetune`.
#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: TransferArgs,
    /// The model to fine-tune, as saved by `vgg16-frozen` (its `model/` folder).
    #[arg(long, default_value = "runs/vgg16_frozen/model")]
    pub from: PathBuf,
    /// Epochs (the book: 30).
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Learning rate of RMSprop (the book: 1e-5).
    #[arg(long, default_value_t = FINE_TUNE_LR)]
    pub lr: f32,
    /// Convolutions of the base unfrozen, counted from the top (the book: 3, block5's).
    #[arg(long, default_value_t = BOOK_UNFROZEN_CONVS)]
    pub unfreeze: usize,
    /// Output folder: `model/` (best val_loss), `history.json`, `loss.png`, `accuracy.png`,
    /// `report.json`.
    #[arg(long, default_value = "runs/vgg16_finetune")]
    pub output: PathBuf,
}

fn config(
    common: &TransferArgs,
    base: Option<&BaseArgs>,
    epochs: usize,
    output: &std::path::Path,
) -> TransferConfig {
    let mut cfg = TransferConfig::book(
        common.data_dir.clone(),
        output.to_path_buf(),
        base.map(BaseArgs::weights).unwrap_or_default(),
        epochs,
    );
    cfg.batch_size = common.batch_size;
    cfg.seed = common.seed;
    if let Some(b) = base {
        cfg.image_size = b.image_size;
        cfg.widths = b.widths;
    }
    cfg
}

fn print_report(r: &CatsDogsReport, output: &std::path::Path) {
    println!(
        "best epoch {} (val_loss {:.4}, val_accuracy {:.4}); model kept in {}",
        r.best_epoch,
        r.best_val_loss,
        r.best_val_accuracy,
        output.join("model").display()
    );
    println!("Test loss: {:.4}", r.test_loss);
    println!("Test accuracy: {:.3}", r.test_accuracy);
    println!(
        "curves: {} and {}",
        output.join("loss.png").display(),
        output.join("accuracy.png").display()
    );
}

/// A run on the chosen backend.
enum Job<'a> {
    Features(&'a FeaturesArgs),
    Frozen(&'a FrozenArgs),
    Finetune(&'a FinetuneArgs),
}

impl BackendJob for Job<'_> {
    type Output = Result<(), TransferCliError>;
    fn run<B: Backend>(self, backend: B) -> Self::Output {
        let (report, output) = match self {
            Job::Features(a) => {
                let cfg = config(&a.common, Some(&a.base), a.epochs, &a.output);
                let cache = a
                    .cache_dir
                    .clone()
                    .unwrap_or_else(|| a.output.join("features"));
                (feature_extraction(&backend, &cfg, &cache)?, &a.output)
            }
            Job::Frozen(a) => {
                let cfg = config(&a.common, Some(&a.base), a.epochs, &a.output);
                (frozen_augmented(&backend, &cfg)?, &a.output)
            }
            Job::Finetune(a) => {
                if !(a.lr > 0.0 && a.lr.is_finite()) {
                    return Err(TransferCliError::Usage(format!(
                        "--lr {} is not a positive learning rate",
                        a.lr
                    )));
                }
                let cfg = config(&a.common, None, a.epochs, &a.output);
                (
                    fine_tune(&backend, &cfg, &a.from, a.unfreeze, a.lr)?,
                    &a.output,
                )
            }
        };
        print_report(&report, output);
        Ok(())
    }
}

/// `host vgg16-features`.
pub fn run_features(args: &FeaturesArgs) -> Result<(), TransferCliError> {
    with_backend(args.common.backend, Job::Features(args))?
}

/// `host vgg16-frozen`.
pub fn run_frozen(args: &FrozenArgs) -> Result<(), TransferCliError> {
    with_backend(args.common.backend, Job::Frozen(args))?
}

/// `host vgg16-finetune`.
pub fn run_finetune(args: &FinetuneArgs) -> Result<(), TransferCliError> {
    with_backend(args.common.backend, Job::Finetune(args))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(parse_widths("64,128,256,512,512"), Ok(vgg16::WIDTHS));
        assert_eq!(parse_widths("2, 2,4,4,8"), Ok([2, 2, 4, 4, 8]));
        assert!(parse_widths("1,2,3").is_err());
        assert!(parse_widths("1,2,3,4,0").is_err());
        assert!(parse_widths("a,b,c,d,e").is_err());
    }
}
