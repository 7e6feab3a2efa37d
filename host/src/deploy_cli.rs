//! `host deploy`: a saved model and its data to a firmware image in one command.
//!
//! 1. Calibrate, quantize to int8, evaluate float vs int8 on the test set and write the blob,
//!    its manifest and the per-layer report (`<blob>.report.json`) — `host quantize`'s work.
//! 2. Write the first `--inputs` test images (and labels) for the firmware's self-test and
//!    build the firmware image with the blob (`firmware/`, `cargo build --release`; the board
//!    build by default, QEMU's netduinoplus2 with `--qemu`), and print its flash and RAM.
//! 3. With `--qemu`, run the image under `qemu-system-arm` and compare every answer with
//!    `shared`'s interpreter on the host: class and int8 scores must agree bit for bit.
//!
//! ```text
//! host deploy --model runs/mnist --qemu
//! host deploy --model runs/rgb32/model --images cats_vs_dogs_32 --qemu --inputs 20
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use shared::int8::interpreter::Interpreter;

use crate::atomic::write_atomic;
use crate::firmware::{self, FirmwareBuild, FirmwareError, Platform};
use crate::quantize::command::{quantize, QuantizeArgs, Written};
use crate::quantize::{ExportFormat, QuantizeError};

/// Flash of the NUCLEO-F411RE's STM32F411RE.
pub const BOARD_FLASH: u64 = 512 * 1024;
/// RAM of the STM32F411RE.
pub const BOARD_RAM: u64 = 128 * 1024;
/// How long the QEMU run may take.
const QEMU_TIMEOUT: Duration = Duration::from_secs(300);

/// Options of `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Model, data, calibration and evaluation options (as `host quantize`; the format is int8).
    #[command(flatten)]
    pub quantize: QuantizeArgs,
    /// Build for QEMU's netduinoplus2 and run the embedded test images on it, comparing every
    /// answer with the host.
    #[arg(long)]
    pub qemu: bool,
    /// Test images embedded in the firmware (its boot self-test; under --qemu, the ones
    /// compared with the host).
    #[arg(long, default_value_t = 10)]
    pub inputs: usize,
    /// The firmware crate.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../firmware"))]
    pub firmware: PathBuf,
    /// The QEMU binary.
    #[arg(long, env = "TINYCONV_QEMU", default_value = "qemu-system-arm")]
    pub qemu_binary: PathBuf,
    /// Write the blob and report only; build no firmware.
    #[arg(long)]
    pub no_build: bool,
}

/// Why `deploy` failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Quantizing, evaluating or writing the blob failed.
    #[error(transparent)]
    Quantize(#[from] QuantizeError),
    /// Building, measuring or running the firmware failed.
    #[error(transparent)]
    Firmware(#[from] FirmwareError),
    /// The options do not fit together.
    #[error("{0}")]
    Usage(String),
    /// Writing an output failed.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The firmware answered differently from the host.
    #[error("the firmware disagrees with the host on {mismatches} of {inputs} inputs: {first}")]
    Mismatch {
        /// Inputs compared.
        inputs: usize,
        /// Inputs whose class or scores differ.
        mismatches: usize,
        /// The first difference.
        first: String,
    },
}

/// What the firmware under QEMU did, compared with the host.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QemuReport {
    /// Inputs run.
    pub inputs: usize,
    /// Inputs whose class and int8 scores equal the host interpreter's.
    pub bit_exact: usize,
    /// Inputs classified as labelled.
    pub correct: usize,
    /// Mean instructions per inference (`-icount shift=0`).
    pub instructions_per_inference: f64,
    /// Instructions per multiply-accumulate.
    pub instructions_per_mac: f64,
    /// Peak stack in bytes.
    pub peak_stack: usize,
}

/// Runs `host deploy`.
pub fn run(args: &DeployArgs) -> Result<(), DeployError> {
    if args.quantize.format.formats() != [ExportFormat::Int8] {
        return Err(DeployError::Usage(
            "deploy writes the int8 blob the firmware runs; drop --format".into(),
        ));
    }
    if args.inputs == 0 && !args.no_build {
        return Err(DeployError::Usage(
            "the firmware classifies its embedded test images at boot (and --qemu compares them \
             with the host): give --inputs 1 or more"
                .into(),
        ));
    }
    let q = quantize(&args.quantize)?;
    let Some(written) = q
        .written
        .iter()
        .find(|w| w.export.format == ExportFormat::Int8)
    else {
        return Err(DeployError::Usage("no int8 blob was written".into()));
    };
    let report_path = written.path.with_extension("report.json");
    write_json(&report_path, &written.export.report)?;
    println!("wrote {}", report_path.display());
    if args.no_build {
        return Ok(());
    }

    let per = q.net.input.len();
    let test = q.data.test.first(args.inputs, per);
    let stem = written.path.with_extension("");
    let inputs_path = PathBuf::from(format!("{}_inputs.bin", stem.display()));
    let labels_path = PathBuf::from(format!("{}_labels.bin", stem.display()));
    write_bytes(&inputs_path, &test.pixels)?;
    let classes = Interpreter::from_blob(&written.export.blob)
        .map_err(QuantizeError::Blob)?
        .class_count();
    let labels: Option<Vec<u8>> = test
        .labels
        .iter()
        .map(|&l| u8::try_from(l).ok().filter(|&l| usize::from(l) < classes))
        .collect();
    if let Some(labels) = &labels {
        write_bytes(&labels_path, labels)?;
    }

    let firmware_dir = std::path::absolute(&args.firmware).map_err(|source| DeployError::Io {
        path: args.firmware.clone(),
        source,
    })?;
    let firmware_dir = firmware_dir.canonicalize().unwrap_or(firmware_dir);
    let mut build = FirmwareBuild::new(&firmware_dir, &written.path);
    build.inputs = (!test.is_empty()).then(|| inputs_path.clone());
    build.labels = labels.as_ref().map(|_| labels_path.clone());
    let platform = if args.qemu {
        Platform::Qemu
    } else {
        Platform::Board
    };
    println!(
        "building the firmware ({}) in {} with {} test inputs ...",
        if args.qemu {
            "QEMU netduinoplus2"
        } else {
            "NUCLEO-F411RE"
        },
        firmware_dir.display(),
        test.len()
    );
    let elf = build.build(platform)?;
    let memory = firmware::elf_memory(&elf)?;
    println!(
        "firmware {}: flash {} bytes ({:.1} % of the F411's 512 KiB; blob {}), static RAM {} bytes ({:.1} % of 128 KiB)",
        elf.display(),
        memory.flash,
        100.0 * memory.flash as f64 / BOARD_FLASH as f64,
        written.export.blob.len(),
        memory.static_ram,
        100.0 * memory.static_ram as f64 / BOARD_RAM as f64,
    );
    if !args.qemu {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut vars = format!("TINYCONV_BLOB={}", abs(&written.path).display());
        if let Some(p) = &build.inputs {
            vars.push_str(&format!(" TINYCONV_INPUTS={}", abs(p).display()));
        }
        if let Some(p) = &build.labels {
            vars.push_str(&format!(" TINYCONV_INPUT_LABELS={}", abs(p).display()));
        }
        println!(
            "flash it: cd {} && {vars} cargo run --release (probe-rs)",
            firmware_dir.display()
        );
        return Ok(());
    }
    let report = run_on_qemu(args, &elf, written, &test.pixels, &test.labels)?;
    println!(
        "QEMU: {} inputs, {} bit-exact with the host (class and int8 scores), {} correct; \
         {:.0} instructions per inference ({:.2} per MAC), peak stack {} bytes, RAM {} bytes in all",
        report.inputs,
        report.bit_exact,
        report.correct,
        report.instructions_per_inference,
        report.instructions_per_mac,
        report.peak_stack,
        memory.static_ram + report.peak_stack as u64
    );
    let qemu_path = written.path.with_extension("qemu.json");
    write_json(&qemu_path, &report)?;
    Ok(())
}

fn run_on_qemu(
    args: &DeployArgs,
    elf: &Path,
    written: &Written,
    pixels: &[u8],
    labels: &[u32],
) -> Result<QemuReport, DeployError> {
    let run = firmware::run_firmware(&args.qemu_binary, elf, QEMU_TIMEOUT)?;
    let blob = &written.export.blob;
    let net = Interpreter::from_blob(blob).map_err(QuantizeError::Blob)?;
    let per = net.input_len();
    let mut arena = vec![0i8; net.arena_len()];
    let mut mismatches = Vec::new();
    let mut correct = 0;
    let mut instructions = 0.0;
    let n = pixels.len() / per.max(1);
    if run.predictions.len() != n {
        return Err(DeployError::Mismatch {
            inputs: n,
            mismatches: n,
            first: format!("the firmware ran {} inputs", run.predictions.len()),
        });
    }
    for (i, (device, image)) in run
        .predictions
        .iter()
        .zip(pixels.chunks_exact(per))
        .enumerate()
    {
        let out = net.run(image, &mut arena).map_err(QuantizeError::Run)?;
        let class = net.class_of(out);
        if usize::from(device.class) != class || device.scores != out {
            mismatches.push(format!(
                "input {i}: device class {} scores {:?}, host class {class} scores {:?}",
                device.class, device.scores, out
            ));
        }
        correct += usize::from(labels.get(i) == Some(&(class as u32)));
        instructions += device.instructions();
    }
    if let Some(first) = mismatches.first() {
        return Err(DeployError::Mismatch {
            inputs: n,
            mismatches: mismatches.len(),
            first: first.clone(),
        });
    }
    let per_inference = instructions / n.max(1) as f64;
    let macs = written.export.report.macs.max(1);
    Ok(QemuReport {
        inputs: n,
        bit_exact: n,
        correct,
        instructions_per_inference: per_inference,
        instructions_per_mac: per_inference / macs as f64,
        peak_stack: run.peak_stack,
    })
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    write_atomic(path, bytes).map_err(|source| DeployError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), DeployError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| DeployError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    write_bytes(path, text.as_bytes())
}
