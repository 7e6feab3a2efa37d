//! Computer vision on small data: the book's cats-vs-dogs experiment.
//!
//! - [`cli`]: the `make-subset`, `train-catsdogs`, `augment-preview` and
//!   `evaluate --images` commands of `host`.
//! - [`subset`]: cut the train/validation/test subset from a Kaggle-style folder.
//! - [`image_folder`]: load a folder of class subfolders, like Keras's
//!   `image_dataset_from_directory`.
//! - [`resize`]: TensorFlow's bilinear resize.
//! - [`augment`]: `RandomFlip` / `RandomRotation` / `RandomZoom` as one affine map per image,
//!   resampled on the training backend.
//! - [`model`]: the book's cats-vs-dogs convnet (with optional dropout).
//! - [`fit`]: training with on-the-fly augmentation.
//! - [`experiment`]: the whole from-scratch / augmented experiment with checkpoint, history,
//!   curves and test evaluation.
//! - [`features`]: features of a frozen base, cached on disk.
//! - [`transfer`]: the pretrained-VGG16 experiments (feature extraction, with augmentation,
//!   fine-tuning).
//! - [`plot`]: training and validation curves as PNG.
//! - [`preview`]: the 3×3 augmentation preview.

pub mod augment;
pub mod cli;
pub mod experiment;
pub mod features;
pub mod fit;
pub mod image_folder;
pub mod model;
pub mod plot;
pub mod preview;
pub mod resize;
pub mod subset;
pub mod transfer;
pub mod transfer_cli;

pub use augment::{Affine, AugmentSample, Augmentation};
pub use experiment::{train_cats_vs_dogs, CatsDogsConfig, CatsDogsReport};
pub use fit::fit_augmented;
pub use image_folder::{
    image_dataset_from_directory, ImageFolder, ImageFolderError, ImageFolderOptions,
};
pub use model::cats_vs_dogs;
pub use plot::{plot_curves, PlotError};
pub use preview::augment_preview;
pub use subset::{make_subset, SubsetError, SubsetReport, SubsetSpec, SubsetSplit};
