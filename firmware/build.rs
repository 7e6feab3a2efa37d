//! Build script: linker scripts, the platform cfg, and the data the firmware embeds.
//!
//! - `memory.x` is copied to `OUT_DIR` for cortex-m-rt's `link.x`; the board build also links
//!   `defmt.x` (the QEMU build has no defmt).
//! - `platform_board` or `platform_qemu` is set (`qemu` wins when both features are on).
//! - The model blob comes from `TINYCONV_BLOB`, else the committed `model/mnist_int8.blob`. It
//!   is validated here with `shared`'s interpreter (the same checks the firmware repeats at
//!   boot), and `model_consts.rs` is generated from it: input length and shape, class count,
//!   the activation arena's size (the interpreter's plan). When the blob is the MNIST network,
//!   the `model_mnist` cfg selects `shared`'s hand-written MNIST path (unless
//!   `TINYCONV_ENGINE=interpreter`).
//! - The test inputs come from `TINYCONV_INPUTS` (alias `TINYCONV_DIGITS`: raw images of the
//!   model's input size, any count, optional labels in `TINYCONV_INPUT_LABELS` /
//!   `TINYCONV_DIGIT_LABELS`), else for a 28 x 28 x 1 model the first `TINYCONV_DIGIT_COUNT`
//!   (default: 10 for QEMU, 1 for the board) images and labels of
//!   `$TINYCONV_DATA_DIR/mnist/t10k-{images-idx3,labels-idx1}-ubyte.gz`, else none (the board
//!   then only serves requests).
//!
//! Every problem is a build error that names the file or variable to fix.

use std::env;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use shared::int8::interpreter::Interpreter;
use shared::mnist::MnistInt8;

/// Pixels in one MNIST image (28 x 28, one byte each).
const MNIST_BYTES: usize = 28 * 28;
/// Test digits taken from the MNIST test set when `TINYCONV_DIGIT_COUNT` is unset, for the
/// QEMU build (the tests check ten answers) and for the board (one boot self-test: the board
/// classifies what it is sent, and each 784-byte digit is flash the 128 KiB budget lacks).
const DEFAULT_DIGIT_COUNT: (usize, usize) = (10, 1);
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
    let model = embed_blob(&manifest, &out)?;
    embed_inputs(&out, &model)?;
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

/// What the firmware needs to know about the embedded model at compile time.
struct ModelInfo {
    /// Pixels per input.
    input_len: usize,
    /// Distinct labels (scores, or 2 for a one-unit sigmoid output).
    classes: usize,
    /// Whether the input is 28 x 28 x 1 (MNIST test digits fit it).
    mnist_input: bool,
}

fn embed_blob(manifest: &Path, out: &Path) -> Result<ModelInfo, String> {
    println!("cargo::rerun-if-env-changed=TINYCONV_BLOB");
    println!("cargo::rustc-check-cfg=cfg(model_mnist)");
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
    println!("cargo::rerun-if-env-changed=TINYCONV_BLOB_UNCHECKED");
    let unchecked = env::var("TINYCONV_BLOB_UNCHECKED").is_ok_and(|v| v == "1");
    println!("cargo::rerun-if-env-changed=TINYCONV_ENGINE");
    let engine = env::var("TINYCONV_ENGINE").unwrap_or_default();
    let interpreter_only = match engine.as_str() {
        "" | "auto" => false,
        "interpreter" => true,
        other => {
            return Err(format!(
                "TINYCONV_ENGINE={other:?}: expected `auto` (the MNIST fast path for the MNIST \
                 network, else the interpreter) or `interpreter`"
            ))
        }
    };
    let (shape, scores, classes, arena, layers) = match Interpreter::from_blob(&bytes) {
        Ok(net) => {
            if !interpreter_only && MnistInt8::from_blob(&bytes).is_ok() {
                println!("cargo::rustc-cfg=model_mnist");
            }
            (
                net.input_shape(),
                net.output_len(),
                net.class_count(),
                net.arena_len(),
                net.layer_count(),
            )
        }
        // Only to test the firmware's own boot-time check: an invalid blob is embedded with
        // the MNIST network's sizes, and the firmware reports it at boot.
        Err(e) if unchecked => {
            println!(
                "cargo::warning=TINYCONV_BLOB_UNCHECKED=1: embedding the invalid blob {} ({e}) \
                 with the MNIST sizes",
                path.display()
            );
            println!("cargo::rustc-cfg=model_mnist");
            (shared::mnist::MNIST_INPUT, 10, 10, 0, 7)
        }
        Err(e) => {
            return Err(format!(
                "the model blob {} is not a valid int8 blob: {e}",
                path.display()
            ))
        }
    };
    if classes > 255 {
        return Err(format!(
            "the model blob {} has {scores} outputs; the serial protocol's class byte holds at most \
             255 classes (0xFF marks an unlabelled test input)",
            path.display()
        ));
    }
    let consts = format!(
        "// Generated by build.rs from {}.\n\
         /// Pixels per input (`h * w * c`, HWC).\n\
         pub const INPUT_LEN: usize = {};\n\
         /// Input height, width and channels.\n\
         pub const INPUT_SHAPE: [usize; 3] = [{}, {}, {}];\n\
         /// Scores per answer (the last layer's outputs).\n\
         pub const SCORES: usize = {scores};\n\
         /// Bytes of the interpreter's activation arena (`max` over layers of input + output).\n\
         #[allow(dead_code)]\n\
         pub const ARENA_LEN: usize = {};\n\
         /// Layers in the blob.\n\
         #[allow(dead_code)]\n\
         pub const LAYERS: usize = {};\n",
        path.display(),
        shape.len(),
        shape.h,
        shape.w,
        shape.c,
        arena,
        layers,
    );
    write(&out.join("model_consts.rs"), consts.as_bytes())?;
    write(&out.join("model.blob"), &bytes)?;
    Ok(ModelInfo {
        input_len: shape.len(),
        classes,
        mnist_input: (shape.h, shape.w, shape.c) == (28, 28, 1),
    })
}

fn embed_inputs(out: &Path, model: &ModelInfo) -> Result<(), String> {
    for var in [
        "TINYCONV_INPUTS",
        "TINYCONV_INPUT_LABELS",
        "TINYCONV_DIGITS",
        "TINYCONV_DIGIT_LABELS",
        "TINYCONV_DIGIT_COUNT",
        "TINYCONV_DATA_DIR",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let var = |a: &str, b: &str| {
        env::var_os(a)
            .map(|v| (a.to_string(), v))
            .or_else(|| env::var_os(b).map(|v| (b.to_string(), v)))
    };
    let (images, labels) = if let Some((name, raw)) = var("TINYCONV_INPUTS", "TINYCONV_DIGITS") {
        raw_inputs(&name, Path::new(&raw), model)?
    } else if !model.mnist_input {
        println!(
            "cargo::warning=no test inputs embedded: set TINYCONV_INPUTS to a file of raw {}-byte images",
            model.input_len
        );
        (Vec::new(), Vec::new())
    } else if let Some(dir) = env::var_os("TINYCONV_DATA_DIR") {
        mnist_digits(&Path::new(&dir).join("mnist"), digit_count()?)?
    } else {
        return Err("no test digits: set TINYCONV_INPUTS to a file of raw 784-byte images, \
                    or TINYCONV_DATA_DIR to the data directory holding mnist/t10k-images-idx3-ubyte.gz"
            .to_string());
    };
    write(&out.join("inputs.bin"), &images)?;
    write(&out.join("labels.bin"), &labels)
}

fn digit_count() -> Result<usize, String> {
    match env::var("TINYCONV_DIGIT_COUNT") {
        Err(_) if env::var_os("CARGO_FEATURE_QEMU").is_some() => Ok(DEFAULT_DIGIT_COUNT.0),
        Err(_) => Ok(DEFAULT_DIGIT_COUNT.1),
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "TINYCONV_DIGIT_COUNT={s:?} is not a positive integer"
            )),
        },
    }
}

/// Raw images (a non-empty multiple of the model's input size) from the variable `name` and,
/// if `TINYCONV_INPUT_LABELS` (or `TINYCONV_DIGIT_LABELS`) is set, one label byte per image.
fn raw_inputs(name: &str, path: &Path, model: &ModelInfo) -> Result<(Vec<u8>, Vec<u8>), String> {
    println!("cargo::rerun-if-changed={}", path.display());
    let per = model.input_len;
    let images = fs::read(path).map_err(|e| format!("reading {name} {}: {e}", path.display()))?;
    if images.is_empty() || images.len() % per != 0 {
        return Err(format!(
            "{name} {} holds {} bytes, not a non-empty multiple of {per} (the model's input size)",
            path.display(),
            images.len()
        ));
    }
    let count = images.len() / per;
    let labels_var = env::var_os("TINYCONV_INPUT_LABELS")
        .map(|v| ("TINYCONV_INPUT_LABELS", v))
        .or_else(|| env::var_os("TINYCONV_DIGIT_LABELS").map(|v| ("TINYCONV_DIGIT_LABELS", v)));
    let labels = match labels_var {
        None => vec![UNKNOWN_LABEL; count],
        Some((var, p)) => {
            let p = PathBuf::from(p);
            println!("cargo::rerun-if-changed={}", p.display());
            let labels = fs::read(&p).map_err(|e| format!("reading {var} {}: {e}", p.display()))?;
            if labels.len() != count || labels.iter().any(|&l| usize::from(l) >= model.classes) {
                return Err(format!(
                    "{var} {} must hold {count} bytes in 0..{} (one per image)",
                    p.display(),
                    model.classes
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
        .get(start..start + count * MNIST_BYTES)
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
