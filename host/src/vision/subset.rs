//! `make_subset`: the book's small cats-vs-dogs subset, cut from a Kaggle-style folder of
//! `cat.N.jpg` / `dog.N.jpg` into `train/`, `validation/` and `test/` folders, one subfolder per
//! class, by index ranges.
//!
//! The book uses images 0–999 of each class for training, 1000–1499 for validation and
//! 1500–2499 for test ([`SubsetSpec::book`]). The offline set shipped with this project has
//! 1,000 small images per class, so [`SubsetSpec::small`] uses 0–499, 500–749 and 750–999.
//!
//! Files are hard-linked when the file system allows it, else copied. The subset is built in a
//! temporary folder beside the destination and renamed into place, so an interrupted run leaves
//! no half-made subset; an existing destination is replaced only when asked (`force`).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One split (e.g. `train`) and the per-class index range it takes (half-open, `start..end`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubsetSplit {
    /// Folder name of the split, e.g. `train`.
    pub name: String,
    /// Indices `N` of the `class.N.ext` files that go into this split, for every class.
    pub range: Range<usize>,
}

/// What to cut: classes, file extension and splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubsetSpec {
    /// Class name prefixes of the source files (`cat` for `cat.N.jpg`); also the subfolder names.
    pub classes: Vec<String>,
    /// File extension without the dot (`jpg`).
    pub extension: String,
    /// The splits, in order.
    pub splits: Vec<SubsetSplit>,
}

impl SubsetSpec {
    /// The book's subset: train 0..1000, validation 1000..1500, test 1500..2500 per class.
    pub fn book() -> Self {
        Self::cats_dogs(0..1000, 1000..1500, 1500..2500)
    }

    /// A subset that fits a folder of 1,000 images per class (the offline set):
    /// train 0..500, validation 500..750, test 750..1000.
    pub fn small() -> Self {
        Self::cats_dogs(0..500, 500..750, 750..1000)
    }

    /// Cats and dogs (`.jpg`) with the given train, validation and test ranges.
    pub fn cats_dogs(train: Range<usize>, validation: Range<usize>, test: Range<usize>) -> Self {
        Self {
            classes: vec!["cat".into(), "dog".into()],
            extension: "jpg".into(),
            splits: vec![
                SubsetSplit {
                    name: "train".into(),
                    range: train,
                },
                SubsetSplit {
                    name: "validation".into(),
                    range: validation,
                },
                SubsetSplit {
                    name: "test".into(),
                    range: test,
                },
            ],
        }
    }

    /// Checks that the spec is usable: at least one class and split, no empty range, no two
    /// splits sharing an index (a test image must never be a training image).
    pub fn validate(&self) -> Result<(), SubsetError> {
        if self.classes.is_empty() || self.splits.is_empty() {
            return Err(SubsetError::BadSpec(
                "need at least one class and one split".into(),
            ));
        }
        for s in &self.splits {
            if s.range.start >= s.range.end {
                return Err(SubsetError::BadSpec(format!(
                    "split `{}` has an empty range {}..{}",
                    s.name, s.range.start, s.range.end
                )));
            }
        }
        for (i, a) in self.splits.iter().enumerate() {
            for b in &self.splits[i + 1..] {
                if a.range.start < b.range.end && b.range.start < a.range.end {
                    return Err(SubsetError::BadSpec(format!(
                        "splits `{}` ({}..{}) and `{}` ({}..{}) overlap",
                        a.name, a.range.start, a.range.end, b.name, b.range.start, b.range.end
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Parses a half-open index range `START..END` (also accepts `START..=END`).
pub fn parse_range(s: &str) -> Result<Range<usize>, String> {
    let bad = || format!("`{s}` is not a range like 0..500 (half-open) or 0..=499");
    let (a, b, inclusive) = if let Some((a, b)) = s.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = s.split_once("..") {
        (a, b, false)
    } else {
        return Err(bad());
    };
    let start: usize = a.trim().parse().map_err(|_| bad())?;
    let end: usize = b.trim().parse().map_err(|_| bad())?;
    let end = if inclusive { end + 1 } else { end };
    if start >= end {
        return Err(format!("range `{s}` is empty"));
    }
    Ok(start..end)
}

/// What [`make_subset`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubsetReport {
    /// `(split, class, files)` for every folder made.
    pub counts: Vec<(String, String, usize)>,
    /// Files hard-linked.
    pub linked: usize,
    /// Files copied (hard link not possible).
    pub copied: usize,
}

impl fmt::Display for SubsetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (split, class, n) in &self.counts {
            writeln!(f, "{split}/{class}: {n} images")?;
        }
        write!(f, "{} hard-linked, {} copied", self.linked, self.copied)
    }
}

/// Errors of [`make_subset`].
#[derive(Debug, thiserror::Error)]
pub enum SubsetError {
    /// The source folder does not exist or is not a folder.
    #[error("source folder {0} does not exist or is not a folder")]
    NoSource(PathBuf),
    /// Source files named by the ranges are missing (the first few are listed).
    #[error("{count} source file(s) missing, e.g. {first}; the folder may hold fewer images than the ranges ask for (use smaller ranges)")]
    MissingFiles {
        /// How many are missing.
        count: usize,
        /// The first missing file.
        first: PathBuf,
    },
    /// The destination exists and `force` was not given.
    #[error("destination {0} already exists; pass force (--force) to replace it")]
    DestinationExists(PathBuf),
    /// The spec is unusable.
    #[error("bad subset ranges: {0}")]
    BadSpec(String),
    /// A file-system operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SubsetError + 'a {
    move |source| SubsetError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Removes a folder tree when dropped unless disarmed.
struct TempDirGuard(Option<PathBuf>);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Cuts the subset described by `spec` from `src` into `dst` (see the module docs).
///
/// Checks every source file before creating anything. Refuses to touch an existing `dst`
/// unless `force`; with `force` the old subset is replaced only once the new one is complete.
pub fn make_subset(
    src: &Path,
    dst: &Path,
    spec: &SubsetSpec,
    force: bool,
) -> Result<SubsetReport, SubsetError> {
    spec.validate()?;
    if !src.is_dir() {
        return Err(SubsetError::NoSource(src.to_path_buf()));
    }
    if dst.exists() && !force {
        return Err(SubsetError::DestinationExists(dst.to_path_buf()));
    }

    // Plan every copy and check the sources exist before touching the destination.
    let mut plan = Vec::new();
    let mut missing = Vec::new();
    for split in &spec.splits {
        for class in &spec.classes {
            for i in split.range.clone() {
                let name = format!("{class}.{i}.{}", spec.extension);
                let from = src.join(&name);
                if from.is_file() {
                    plan.push((split.name.as_str(), class.as_str(), from, name));
                } else {
                    missing.push(from);
                }
            }
        }
    }
    if let Some(first) = missing.first() {
        return Err(SubsetError::MissingFiles {
            count: missing.len(),
            first: first.clone(),
        });
    }

    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io("creating", &parent))?;
    let base = dst
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{base}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io("removing stale", &tmp))?;
    }
    let mut guard = TempDirGuard(Some(tmp.clone()));

    let mut report = SubsetReport {
        counts: Vec::new(),
        linked: 0,
        copied: 0,
    };
    for split in &spec.splits {
        for class in &spec.classes {
            let dir = tmp.join(&split.name).join(class);
            std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
            report
                .counts
                .push((split.name.clone(), class.clone(), split.range.len()));
        }
    }
    for (split, class, from, name) in &plan {
        let to = tmp.join(split).join(class).join(name);
        if std::fs::hard_link(from, &to).is_ok() {
            report.linked += 1;
        } else {
            std::fs::copy(from, &to).map_err(io("copying", from))?;
            report.copied += 1;
        }
    }

    if dst.exists() {
        // force: move the old subset aside, put the new one in place, then delete the old one.
        let old = parent.join(format!(".{base}.old-{}", std::process::id()));
        std::fs::rename(dst, &old).map_err(io("moving aside", dst))?;
        if let Err(e) = std::fs::rename(&tmp, dst) {
            let _ = std::fs::rename(&old, dst);
            return Err(SubsetError::Io {
                what: "renaming into place",
                path: dst.to_path_buf(),
                source: e,
            });
        }
        let removed = if old.is_dir() {
            std::fs::remove_dir_all(&old)
        } else {
            std::fs::remove_file(&old)
        };
        removed.map_err(io("removing the old subset", &old))?;
    } else {
        std::fs::rename(&tmp, dst).map_err(io("renaming into place", dst))?;
    }
    guard.0 = None;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(parse_range("0..500"), Ok(0..500));
        assert_eq!(parse_range("500..=749"), Ok(500..750));
        assert!(parse_range("5..5").is_err());
        assert!(parse_range("0-10").is_err());
        assert!(parse_range("a..3").is_err());
    }

    #[test]
    fn overlapping_splits_are_rejected() {
        let spec = SubsetSpec::cats_dogs(0..10, 5..15, 20..30);
        assert!(matches!(spec.validate(), Err(SubsetError::BadSpec(_))));
        assert!(SubsetSpec::book().validate().is_ok());
        assert!(SubsetSpec::small().validate().is_ok());
    }
}
