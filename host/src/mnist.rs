//! MNIST: locating, downloading and loading the four IDX files.
//!
//! Files are looked up as `<dir>/mnist/<name>[.gz]` and `<dir>/<name>[.gz]`. Missing files
//! can be downloaded (gzip'd) from mirrors into `<dir>/mnist/`, verified by SHA-256.

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::download::{download_from_mirrors, DownloadError};
use crate::idx::{read_idx, IdxError};

/// Image height and width.
pub const SIDE: usize = 28;
/// Number of classes.
pub const CLASSES: usize = 10;

/// The canonical mirrors, tried in order.
pub const DEFAULT_MIRRORS: [&str; 2] = [
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
];

/// One of the four MNIST files: base name (without `.gz`) and SHA-256 of the `.gz` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MnistFile {
    /// Base name, e.g. `train-images-idx3-ubyte`.
    pub name: &'static str,
    /// Hex SHA-256 of `<name>.gz`.
    pub gz_sha256: &'static str,
}

/// Training images.
pub const TRAIN_IMAGES: MnistFile = MnistFile {
    name: "train-images-idx3-ubyte",
    gz_sha256: "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
};
/// Training labels.
pub const TRAIN_LABELS: MnistFile = MnistFile {
    name: "train-labels-idx1-ubyte",
    gz_sha256: "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
};
/// Test images.
pub const TEST_IMAGES: MnistFile = MnistFile {
    name: "t10k-images-idx3-ubyte",
    gz_sha256: "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
};
/// Test labels.
pub const TEST_LABELS: MnistFile = MnistFile {
    name: "t10k-labels-idx1-ubyte",
    gz_sha256: "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
};
/// All four files.
pub const FILES: [MnistFile; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// An error loading MNIST.
#[derive(Debug, thiserror::Error)]
pub enum MnistError {
    /// A file is in none of the searched places (and downloading was off).
    #[error("MNIST file {name}[.gz] not found; looked for {}", searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Missing {
        /// The base name.
        name: String,
        /// The paths searched.
        searched: Vec<PathBuf>,
    },
    /// A file is not a valid IDX file.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// A file is valid IDX but not what MNIST needs.
    #[error("{}: {reason}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Downloading a missing file failed.
    #[error(transparent)]
    Download(#[from] DownloadError),
}

/// One split of MNIST as stored: 28×28 `u8` images and `u8` labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistSplit {
    /// `len * 28 * 28` pixels.
    pub images: Vec<u8>,
    /// `len` labels in `0..10`.
    pub labels: Vec<u8>,
}

impl MnistSplit {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// As a [`Dataset`] of shape 28×28×1 with pixels multiplied by `scale` (the book uses
    /// `1/255`).
    pub fn to_dataset(&self, scale: f32) -> Dataset {
        Dataset {
            shape: [SIDE, SIDE, 1],
            images: self.images.iter().map(|&p| p as f32 * scale).collect(),
            labels: self.labels.iter().map(|&l| l as u32).collect(),
        }
    }
}

/// The training (60,000) and test (10,000) splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mnist {
    /// Training split.
    pub train: MnistSplit,
    /// Test split.
    pub test: MnistSplit,
}

/// The candidate paths for `name` under `dir`, in search order.
pub fn candidates(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for base in [dir.join("mnist"), dir.to_path_buf()] {
        out.push(base.join(format!("{name}.gz")));
        out.push(base.join(name));
    }
    out
}

/// The first existing candidate path for `file` under `dir`.
pub fn find(dir: &Path, file: &MnistFile) -> Result<PathBuf, MnistError> {
    let searched = candidates(dir, file.name);
    searched
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| MnistError::Missing {
            name: file.name.to_string(),
            searched,
        })
}

/// Downloads every file missing from `dir` (into `<dir>/mnist/<name>.gz`) from `mirrors`.
pub fn ensure_downloaded(dir: &Path, mirrors: &[String], progress: bool) -> Result<(), MnistError> {
    for file in FILES {
        if find(dir, &file).is_err() {
            let gz = format!("{}.gz", file.name);
            let dest = dir.join("mnist").join(&gz);
            eprintln!("downloading {gz} into {}", dest.display());
            download_from_mirrors(mirrors, &gz, file.gz_sha256, &dest, progress)?;
        }
    }
    Ok(())
}

/// Loads both splits from `dir` (no download).
pub fn load(dir: &Path) -> Result<Mnist, MnistError> {
    Ok(Mnist {
        train: load_split(dir, &TRAIN_IMAGES, &TRAIN_LABELS)?,
        test: load_split(dir, &TEST_IMAGES, &TEST_LABELS)?,
    })
}

/// Loads one split from its image and label files, checking dimensions and labels.
pub fn load_split(
    dir: &Path,
    images: &MnistFile,
    labels: &MnistFile,
) -> Result<MnistSplit, MnistError> {
    let ipath = find(dir, images)?;
    let img = read_idx(&ipath)?;
    if img.dims.len() != 3 || img.dims[1] != SIDE || img.dims[2] != SIDE {
        return Err(MnistError::Content {
            path: ipath,
            reason: format!("expected images of shape [n, 28, 28], found {:?}", img.dims),
        });
    }
    let lpath = find(dir, labels)?;
    let lab = read_idx(&lpath)?;
    if lab.dims.len() != 1 {
        return Err(MnistError::Content {
            path: lpath,
            reason: format!("expected labels of shape [n], found {:?}", lab.dims),
        });
    }
    if lab.dims[0] != img.dims[0] {
        return Err(MnistError::Content {
            path: lpath,
            reason: format!(
                "{} labels for {} images in {}",
                lab.dims[0],
                img.dims[0],
                ipath.display()
            ),
        });
    }
    if let Some((i, &l)) = lab
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= CLASSES)
    {
        return Err(MnistError::Content {
            path: lpath,
            reason: format!("label {l} at index {i} is not a digit 0-9"),
        });
    }
    Ok(MnistSplit {
        images: img.data,
        labels: lab.data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx;

    fn write_split(dir: &Path, n: usize, label: u8) {
        std::fs::write(
            dir.join(TRAIN_IMAGES.name),
            encode_idx(&[n, 28, 28], &vec![255; n * 784]),
        )
        .unwrap();
        std::fs::write(
            dir.join(TRAIN_LABELS.name),
            encode_idx(&[n], &vec![label; n]),
        )
        .unwrap();
    }

    #[test]
    fn loads_raw_files_and_scales() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), 3, 4);
        let s = load_split(dir.path(), &TRAIN_IMAGES, &TRAIN_LABELS).unwrap();
        assert_eq!(s.len(), 3);
        let d = s.to_dataset(1.0 / 255.0);
        assert_eq!(d.shape, [28, 28, 1]);
        assert!((d.images[0] - 1.0).abs() < 1e-6);
        assert_eq!(d.labels, vec![4, 4, 4]);
    }

    #[test]
    fn bad_label_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), 2, 10);
        let e = load_split(dir.path(), &TRAIN_IMAGES, &TRAIN_LABELS).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("train-labels-idx1-ubyte"), "{msg}");
        assert!(msg.contains("not a digit"), "{msg}");
    }

    #[test]
    fn missing_file_lists_searched_paths() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(dir.path()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
        assert!(msg.contains("mnist/train-images-idx3-ubyte.gz"), "{msg}");
    }

    #[test]
    fn count_mismatch_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), 2, 1);
        std::fs::write(
            dir.path().join(TRAIN_LABELS.name),
            encode_idx(&[3], &[1, 1, 1]),
        )
        .unwrap();
        let msg = load_split(dir.path(), &TRAIN_IMAGES, &TRAIN_LABELS)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("3 labels for 2 images"), "{msg}");
    }

    #[test]
    fn wrong_image_shape_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TRAIN_IMAGES.name),
            encode_idx(&[1, 27, 28], &[0; 756]),
        )
        .unwrap();
        std::fs::write(dir.path().join(TRAIN_LABELS.name), encode_idx(&[1], &[0])).unwrap();
        let msg = load_split(dir.path(), &TRAIN_IMAGES, &TRAIN_LABELS)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("train-images-idx3-ubyte") && msg.contains("[1, 27, 28]"),
            "{msg}"
        );
    }
}
