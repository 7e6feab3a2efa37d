//! The book's fast feature extraction: run a frozen convolutional base once over a data set
//! (`conv_base.predict(images)`) and keep the features, cached on disk so that a second run
//! with the same images and the same weights skips the extraction.
//!
//! A cache file is a safetensors file with `features` (`[n, h, w, c]`, `F32`) and `labels`
//! (`[n]`, `U32`) and a key in its metadata: the SHA-256 of the base's architecture, its
//! weights, and the exact input pixels and labels. Any change of images, image size, decoding,
//! weights or architecture changes the key and the features are computed again; a cache file
//! that is missing, unreadable or of another key is recomputed and rewritten (atomically).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use kernels::Backend;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};

use crate::dataset::Dataset;
use crate::layers::Shape;
use crate::model::Model;
use crate::network::Network;
use crate::save::Architecture;

/// The `format` metadata of a cache file.
pub const CACHE_FORMAT: &str = "tinyconv-features";

/// An error writing a feature cache.
#[derive(Debug, thiserror::Error)]
pub enum FeatureCacheError {
    /// Writing the cache file failed.
    #[error("cannot write feature cache {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The base's output is not an image (nothing to cache as `[n, h, w, c]`).
    #[error("the base's output {0} is not an image")]
    NotImage(String),
}

/// Whether [`features_cached`] read the cache or computed the features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Read from the cache file.
    Hit,
    /// Computed (and written to the cache file).
    Computed,
}

/// The cache key of running `base` on `data`: hex SHA-256 of the base's architecture and
/// weights and of the data's shape, pixels and labels.
pub fn cache_key(base: &Model, data: &Dataset) -> String {
    let mut h = Sha256::new();
    h.update(CACHE_FORMAT.as_bytes());
    let arch = serde_json::to_string(&Architecture::of(base)).unwrap_or_default();
    h.update((arch.len() as u64).to_le_bytes());
    h.update(arch.as_bytes());
    for layer in base.params() {
        for p in layer {
            h.update((p.values.len() as u64).to_le_bytes());
            hash_f32s(&mut h, &p.values);
        }
    }
    for d in data.shape {
        h.update((d as u64).to_le_bytes());
    }
    h.update((data.len() as u64).to_le_bytes());
    hash_f32s(&mut h, &data.images);
    for l in &data.labels {
        h.update(l.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `values` as little-endian bytes, in chunks (one `update` per value is far slower).
fn hash_f32s(h: &mut Sha256, values: &[f32]) {
    let mut buf = Vec::with_capacity(4 * 4096);
    for chunk in values.chunks(4096) {
        buf.clear();
        buf.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
        h.update(&buf);
    }
}

/// Runs `base` over `data`, `batch_size` images at a time, with a progress bar labelled
/// `label` when `verbose`: the features (the base's outputs) with the data's labels.
pub fn extract_features<B: Backend>(
    backend: &B,
    base: &Model,
    data: &Dataset,
    batch_size: usize,
    label: &str,
    verbose: bool,
) -> Result<Dataset, FeatureCacheError> {
    let Shape::Image { h, w, c } = base.output_shape() else {
        return Err(FeatureCacheError::NotImage(base.output_shape().to_string()));
    };
    let net = Network::new(backend, base);
    let per = data.image_len();
    let bs = batch_size.max(1);
    let bar = if verbose {
        let bar = ProgressBar::new(data.len() as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} {pos}/{len} images [{bar:30}] {elapsed_precise}<{eta_precise} {per_sec}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("extracting {label} features"));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut features = Vec::with_capacity(data.len() * h * w * c);
    let mut start = 0;
    while start < data.len() {
        let end = (start + bs).min(data.len());
        let x = backend.from_slice(&data.images[start * per..end * per]);
        let (y, _) = net.forward(x, end - start, None);
        features.extend(backend.to_vec(&y));
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    Ok(Dataset {
        shape: [h, w, c],
        images: features,
        labels: data.labels.clone(),
    })
}

/// Reads the features cached in `path` under `key`, if that file exists, parses, and has
/// that key and consistent tensors.
pub fn read_cache(path: &Path, key: &str) -> Option<Dataset> {
    let bytes = std::fs::read(path).ok()?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).ok()?;
    let meta = meta.metadata().as_ref()?;
    if meta.get("format").map(String::as_str) != Some(CACHE_FORMAT)
        || meta.get("key").map(String::as_str) != Some(key)
    {
        return None;
    }
    let st = SafeTensors::deserialize(&bytes).ok()?;
    let f = st.tensor("features").ok()?;
    let l = st.tensor("labels").ok()?;
    let (&[n, h, w, c], &[nl]) = (f.shape(), l.shape()) else {
        return None;
    };
    if f.dtype() != Dtype::F32 || l.dtype() != Dtype::U32 || n != nl {
        return None;
    }
    let le = |c: &[u8]| [c[0], c[1], c[2], c[3]];
    Some(Dataset {
        shape: [h, w, c],
        images: f
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(le(c)))
            .collect(),
        labels: l
            .data()
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(le(c)))
            .collect(),
    })
}

/// Writes `features` to `path` under `key` (atomically).
pub fn write_cache(path: &Path, key: &str, features: &Dataset) -> Result<(), FeatureCacheError> {
    let io = |source| FeatureCacheError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let [h, w, c] = features.shape;
    let fbytes: Vec<u8> = features
        .images
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let lbytes: Vec<u8> = features
        .labels
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let n = features.len();
    let bad = |e: safetensors::SafeTensorError| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.to_string(),
        ))
    };
    let views = vec![
        (
            "features".to_string(),
            TensorView::new(Dtype::F32, vec![n, h, w, c], &fbytes).map_err(bad)?,
        ),
        (
            "labels".to_string(),
            TensorView::new(Dtype::U32, vec![n], &lbytes).map_err(bad)?,
        ),
    ];
    let meta: HashMap<String, String> = [
        ("format".to_string(), CACHE_FORMAT.to_string()),
        ("key".to_string(), key.to_string()),
    ]
    .into();
    let bytes = safetensors::serialize(views, &Some(meta)).map_err(bad)?;
    crate::atomic::write_atomic(path, &bytes).map_err(io)
}

/// The features of `data` through `base`: read from the cache file `path` when it holds
/// them for exactly this base and data, else extracted and written there.
pub fn features_cached<B: Backend>(
    backend: &B,
    base: &Model,
    data: &Dataset,
    batch_size: usize,
    path: &Path,
    label: &str,
    verbose: bool,
) -> Result<(Dataset, CacheOutcome), FeatureCacheError> {
    let key = cache_key(base, data);
    if let Some(f) = read_cache(path, &key) {
        if verbose {
            eprintln!("{label} features: read from cache {}", path.display());
        }
        return Ok((f, CacheOutcome::Hit));
    }
    let f = extract_features(backend, base, data, batch_size, label, verbose)?;
    write_cache(path, &key, &f)?;
    if verbose {
        eprintln!(
            "{label} features: {} x {:?} written to cache {}",
            f.len(),
            f.shape,
            path.display()
        );
    }
    Ok((f, CacheOutcome::Computed))
}
