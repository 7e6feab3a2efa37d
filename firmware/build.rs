//! Build script: linker scripts, the platform cfg, and the data the firmware embeds.
//!
//! - `memory.x` is copied to `OUT_DIR` for cortex-m-rt's `link.x`; the board build also links
//!   `defmt.x` (the QEMU build has no defmt).
//! - `platform_board` or `platform_qemu` is set (`qemu` wins when both features are on).
//! - The model blob comes from `TINYCONV_BLOB`, else the committed `model/mnist_int8.blob`.
//! - The test digits come from `TINYCONV_DIGITS` (raw 784-byte images, any count, optional
//!   labels in `TINYCONV_DIGIT_LABELS`), else the first `TINYCONV_DIGIT_COUNT` (default 10)
//!   images and labels of `$TINYCONV_DATA_DIR/mnist/t10k-{images-idx3,labels-idx1}-ubyte.gz`.
//!
//! Every problem is a build error that names the file or variable to fix.

use std::env;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Pixels in one MNIST image (28 x 28, one byte each).
const IMAGE_BYTES: usize = 28 * 28;
/// Test digits taken from the MNIST test set when `TINYCONV_DIGIT_COUNT` is unset.
const DEFAULT_DIGIT_COUNT: usize = 10;
/// Label byte for a digit whose true class is not known.
const UNKNOWN_LABEL: u8 = 0xFF;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: firmware build: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    let manifest = PathBuf::from(
        env::var("CARGO_MANIFEST_DIR").map_err(|e| format!("CARGO_MANIFEST_DIR: {e}"))?,
    );

    link_scripts(&manifest, &out)?;
    platform_cfg();
    embed_blob(&manifest, &out)?;
    embed_digits(&out)?;
    Ok(())
}

fn link_scripts(manifest: &Path, out: &Path) -> Result<(), String> {
    let memory = manifest.join("memory.x");
    fs::copy(&memory, out.join("memory.x"))
        .map_err(|e| format!("copying {} to OUT_DIR: {e}", memory.display()))?;
    println!("cargo::rustc-link-search={}", out.display());
    println!("cargo::rerun-if-changed=memory.x");
    println!("cargo::rerun-if-changed=build.rs");
    Ok(())
}

fn platform_cfg() {
    println!("cargo::rustc-check-cfg=cfg(platform_board)");
    println!("cargo::rustc-check-cfg=cfg(platform_qemu)");
    let qemu = env::var_os("CARGO_FEATURE_QEMU").is_some();
    let board = env::var_os("CARGO_FEATURE_BOARD").is_some();
    if qemu {
        println!("cargo::rustc-cfg=platform_qemu");
    } else if board {
        println!("cargo::rustc-cfg=platform_board");
        println!("cargo::rustc-link-arg-bins=-Tdefmt.x");
    }
}

fn embed_blob(manifest: &Path, out: &Path) -> Result<(), String> {
    println!("cargo::rerun-if-env-changed=TINYCONV_BLOB");
    let path = match env::var_os("TINYCONV_BLOB") {
        Some(p) => PathBuf::from(p),
        None => manifest.join("model").join("mnist_int8.blob"),
    };
    println!("cargo::rerun-if-changed={}", path.display());
    let bytes = fs::read(&path).map_err(|e| {
        format!(
            "reading the model blob {}: {e}\n  export one with the host tool (see firmware/README.md) \
             or point TINYCONV_BLOB at an int8 blob",
            path.display()
        )
    })?;
    if bytes.is_empty() {
        return Err(format!("the model blob {} is empty", path.display()));
    }
    write(&out.join("model.blob"), &bytes)
}

fn embed_digits(out: &Path) -> Result<(), String> {
    println!("cargo::rerun-if-env-changed=TINYCONV_DIGITS");
    println!("cargo::rerun-if-env-changed=TINYCONV_DIGIT_LABELS");
    println!("cargo::rerun-if-env-changed=TINYCONV_DIGIT_COUNT");
    println!("cargo::rerun-if-env-changed=TINYCONV_DATA_DIR");

    let (images, labels) = if let Some(raw) = env::var_os("TINYCONV_DIGITS") {
        raw_digits(Path::new(&raw))?
    } else if let Some(dir) = env::var_os("TINYCONV_DATA_DIR") {
        mnist_digits(&Path::new(&dir).join("mnist"), digit_count()?)?
    } else {
        return Err("no test digits: set TINYCONV_DIGITS to a file of raw 784-byte images, \
                    or TINYCONV_DATA_DIR to the data directory holding mnist/t10k-images-idx3-ubyte.gz"
            .to_string());
    };
    write(&out.join("digits.bin"), &images)?;
    write(&out.join("labels.bin"), &labels)
}

fn digit_count() -> Result<usize, String> {
    match env::var("TINYCONV_DIGIT_COUNT") {
        Err(_) => Ok(DEFAULT_DIGIT_COUNT),
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "TINYCONV_DIGIT_COUNT={s:?} is not a positive integer"
            )),
        },
    }
}

/// Raw images (a non-empty multiple of 784 bytes) and, if `TINYCONV_DIGIT_LABELS` is set, one
/// label byte per image.
fn raw_digits(path: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    println!("cargo::rerun-if-changed={}", path.display());
    let images =
        fs::read(path).map_err(|e| format!("reading TINYCONV_DIGITS {}: {e}", path.display()))?;
    if images.is_empty() || images.len() % IMAGE_BYTES != 0 {
        return Err(format!(
            "TINYCONV_DIGITS {} holds {} bytes, not a non-empty multiple of {IMAGE_BYTES} (28x28 images)",
            path.display(),
            images.len()
        ));
    }
    let count = images.len() / IMAGE_BYTES;
    let labels = match env::var_os("TINYCONV_DIGIT_LABELS") {
        None => vec![UNKNOWN_LABEL; count],
        Some(p) => {
            let p = PathBuf::from(p);
            println!("cargo::rerun-if-changed={}", p.display());
            let labels = fs::read(&p)
                .map_err(|e| format!("reading TINYCONV_DIGIT_LABELS {}: {e}", p.display()))?;
            if labels.len() != count || labels.iter().any(|&l| l > 9) {
                return Err(format!(
                    "TINYCONV_DIGIT_LABELS {} must hold {count} bytes in 0..=9 (one per image)",
                    p.display()
                ));
            }
            labels
        }
    };
    Ok((images, labels))
}

/// The first `count` images and labels of the MNIST test set.
fn mnist_digits(dir: &Path, count: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
    let images_path = dir.join("t10k-images-idx3-ubyte.gz");
    let labels_path = dir.join("t10k-labels-idx1-ubyte.gz");
    println!("cargo::rerun-if-changed={}", images_path.display());
    println!("cargo::rerun-if-changed={}", labels_path.display());

    let images = gunzip(&images_path)?;
    let dims = idx_dims(&images, 0x0803, 3, &images_path)?;
    if dims[1..] != [28, 28] {
        return Err(format!(
            "{}: images are {}x{}, not 28x28",
            images_path.display(),
            dims[1],
            dims[2]
        ));
    }
    let labels = gunzip(&labels_path)?;
    let label_dims = idx_dims(&labels, 0x0801, 1, &labels_path)?;
    let available = dims[0].min(label_dims[0]);
    if count > available {
        return Err(format!(
            "TINYCONV_DIGIT_COUNT={count} but {} holds {available} images",
            dir.display()
        ));
    }
    let start = 4 + 4 * 3;
    let image_bytes = images
        .get(start..start + count * IMAGE_BYTES)
        .ok_or_else(|| format!("{}: truncated image data", images_path.display()))?;
    let label_bytes = labels
        .get(8..8 + count)
        .ok_or_else(|| format!("{}: truncated label data", labels_path.display()))?;
    if label_bytes.iter().any(|&l| l > 9) {
        return Err(format!(
            "{}: a label is outside 0..=9",
            labels_path.display()
        ));
    }
    Ok((image_bytes.to_vec(), label_bytes.to_vec()))
}

fn gunzip(path: &Path) -> Result<Vec<u8>, String> {
    let file = fs::File::open(path).map_err(|e| {
        format!(
            "opening {}: {e}\n  set TINYCONV_DATA_DIR to the data directory (with mnist/ inside) \
             or TINYCONV_DIGITS to a file of raw 784-byte images",
            path.display()
        )
    })?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("decompressing {}: {e}", path.display()))?;
    Ok(bytes)
}

/// Checks an IDX header (big-endian magic and dimensions) and returns the dimensions.
fn idx_dims(bytes: &[u8], magic: u32, rank: usize, path: &Path) -> Result<Vec<usize>, String> {
    let word = |i: usize| -> Result<u32, String> {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("{}: truncated IDX header", path.display()))
    };
    let found = word(0)?;
    if found != magic {
        return Err(format!(
            "{}: IDX magic {found:#010x}, expected {magic:#010x}",
            path.display()
        ));
    }
    (1..=rank).map(|i| word(i).map(|d| d as usize)).collect()
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}
