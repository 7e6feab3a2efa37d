//! Builds the firmware for QEMU's `netduinoplus2`, runs it, and parses what it prints.
//!
//! Reusable by any integration test (`mod firmware_harness;`):
//! - [`qemu_binary`] finds `qemu-system-arm` (`TINYCONV_QEMU` overrides the path) or says why
//!   not; `TINYCONV_SKIP_QEMU=1` turns a missing QEMU into a skip instead of a failure.
//! - [`build_qemu_firmware`] builds `firmware/` with `--features qemu` for a given blob and
//!   digit file, in `firmware/target` whatever `CARGO_TARGET_DIR` the outer run uses.
//! - [`run_firmware`] runs the ELF under QEMU with `-icount shift=0` and a timeout, and parses
//!   the plain-text lines into a [`FirmwareRun`].
//! - [`elf_memory`] reads flash and static RAM use from the ELF's section headers.
//! - [`run_blob_on_qemu`] does it all for a blob and digits given as bytes (e.g. a host test
//!   comparing the exported blob's predictions on the device with the host's).

#![allow(dead_code)] // each test binary uses its own subset

pub mod synthetic;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use host::firmware::{self, FirmwareBuild, Platform};
#[allow(unused_imports)] // each test binary uses its own subset
pub use host::firmware::{
    parse_output, ticks_to_instructions, DevicePrediction, FirmwareRun, MemoryUse, QemuOutput,
};

/// Pixels in one 28 x 28 digit.
pub const PIXELS: usize = 28 * 28;
/// How long one QEMU run may take before it is killed.
pub const QEMU_TIMEOUT: Duration = Duration::from_secs(120);

/// Serialises firmware builds and runs: every build writes the same ELF path.
static FIRMWARE_LOCK: Mutex<()> = Mutex::new(());

/// The firmware crate's directory.
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("firmware")
}

/// The firmware's own target directory (`firmware/target`).
pub fn firmware_target_dir() -> PathBuf {
    firmware_dir().join("target")
}

/// Where test inputs (blobs, digit files) and measurements are written.
pub fn work_dir() -> PathBuf {
    firmware_target_dir().join("tinyconv-tests")
}

/// `qemu-system-arm` to use: `Ok(Some(path))`; `Ok(None)` when it is missing and
/// `TINYCONV_SKIP_QEMU=1` is set; `Err` (with what to install) when it is missing otherwise.
pub fn qemu_binary() -> Result<Option<PathBuf>, String> {
    let candidate = std::env::var_os("TINYCONV_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("qemu-system-arm"));
    let works = Command::new(&candidate)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if works {
        return Ok(Some(candidate));
    }
    if std::env::var("TINYCONV_SKIP_QEMU").is_ok_and(|v| v == "1") {
        eprintln!(
            "{} not found; TINYCONV_SKIP_QEMU=1, skipping the firmware test",
            candidate.display()
        );
        return Ok(None);
    }
    Err(format!(
        "{} not found: install QEMU (Debian: apt-get install qemu-system-arm), set TINYCONV_QEMU \
         to its path, or set TINYCONV_SKIP_QEMU=1 to skip the firmware tests",
        candidate.display()
    ))
}

/// Writes `bytes` to `path` unless it already holds exactly them (so that cargo's change
/// tracking sees an unchanged file and does not rebuild), atomically otherwise.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path)
        .map_err(|e| format!("renaming {} to {}: {e}", tmp.display(), path.display()))
}

/// A built QEMU firmware image.
#[derive(Debug, Clone)]
pub struct FirmwareElf {
    /// A private copy of the ELF (later builds overwrite cargo's output path).
    pub path: PathBuf,
}

/// The firmware build of `blob` and the raw test inputs at `digits`, in [`firmware_target_dir`].
fn build_of(blob: &Path, digits: &Path, env: &[(&str, &str)]) -> FirmwareBuild {
    let mut b = FirmwareBuild::new(&firmware_dir(), blob);
    b.target_dir = firmware_target_dir();
    b.inputs = Some(digits.to_path_buf());
    b.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    b
}

/// Runs `cargo <args>` in `firmware/` with its own target directory, embedding the blob at
/// `blob` and the raw test inputs (of the blob's input size) at `digits`; the outer run's
/// target settings are dropped.
pub fn firmware_cargo(args: &[&str], blob: &Path, digits: &Path) -> Result<(), String> {
    build_of(blob, digits, &[])
        .cargo(args)
        .map_err(|e| e.to_string())
}

/// Builds the QEMU firmware (`cargo build --release --no-default-features --features qemu` in
/// `firmware/`) embedding the blob at `blob` and the raw test inputs at `digits`; `name`
/// names the private ELF copy under [`work_dir`].
pub fn build_qemu_firmware(name: &str, blob: &Path, digits: &Path) -> Result<FirmwareElf, String> {
    build_qemu_firmware_env(name, blob, digits, &[])
}

/// [`build_qemu_firmware`] with extra environment variables for the build.
pub fn build_qemu_firmware_env(
    name: &str,
    blob: &Path,
    digits: &Path,
    env: &[(&str, &str)],
) -> Result<FirmwareElf, String> {
    let _guard = FIRMWARE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let built = build_of(blob, digits, env)
        .build(Platform::Qemu)
        .map_err(|e| e.to_string())?;
    let copy = work_dir().join(format!("{name}.elf"));
    let bytes = fs::read(&built).map_err(|e| format!("reading {}: {e}", built.display()))?;
    write_if_changed(&copy, &bytes)?;
    Ok(FirmwareElf { path: copy })
}

/// Builds the board firmware (`cargo build --release`, default features) embedding the blob
/// at `blob` and the raw test inputs at `digits` (`None`: the build's default test digits from
/// `TINYCONV_DATA_DIR`), and returns its flash and static RAM.
pub fn board_firmware_memory(blob: &Path, digits: Option<&Path>) -> Result<MemoryUse, String> {
    let _guard = FIRMWARE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut build = FirmwareBuild::new(&firmware_dir(), blob);
    build.target_dir = firmware_target_dir();
    build.inputs = digits.map(Path::to_path_buf);
    let built = build.build(Platform::Board).map_err(|e| e.to_string())?;
    elf_memory(&built)
}

/// Runs `elf` under QEMU (`qemu` from [`qemu_binary`]) with `-icount shift=0`, killing it after
/// [`QEMU_TIMEOUT`] (an error).
pub fn run_qemu(qemu: &Path, elf: &FirmwareElf) -> Result<QemuOutput, String> {
    firmware::run_qemu(qemu, &elf.path, QEMU_TIMEOUT).map_err(|e| e.to_string())
}

/// Runs `elf` under QEMU and parses its output. Fails when QEMU times out, the firmware exits
/// with a failure, or it prints anything malformed.
pub fn run_firmware(qemu: &Path, elf: &FirmwareElf) -> Result<FirmwareRun, String> {
    firmware::run_firmware(qemu, &elf.path, QEMU_TIMEOUT).map_err(|e| e.to_string())
}

/// Flash and static RAM of an ELF ([`firmware::elf_memory`]).
pub fn elf_memory(elf: &Path) -> Result<MemoryUse, String> {
    firmware::elf_memory(elf).map_err(|e| e.to_string())
}

/// Multiply-accumulates of one inference of the MNIST network, counted from `shared`'s
/// architecture description (conv: output pixels × filters × k² × input channels; dense:
/// inputs × units).
pub fn mnist_macs() -> u64 {
    use shared::blob::LayerKind;
    shared::mnist::MNIST_ARCH
        .iter()
        .map(|d| match d.kind {
            LayerKind::Conv2d {
                kernel, filters, ..
            } => {
                u64::from(d.output.h * d.output.w * filters)
                    * u64::from(kernel * kernel * d.input.c)
            }
            LayerKind::Dense { units, .. } => d.input.len() as u64 * u64::from(units),
            _ => 0,
        })
        .sum()
}

/// Writes `blob` and `digits` (raw images of the blob's input size) under [`work_dir`] as
/// `<name>.blob` and `<name>_digits.bin`, builds the QEMU firmware with them and runs it.
/// `Ok(None)` when QEMU is missing and `TINYCONV_SKIP_QEMU=1` (see [`qemu_binary`]).
pub fn run_blob_on_qemu(
    name: &str,
    blob: &[u8],
    digits: &[u8],
) -> Result<Option<(FirmwareElf, FirmwareRun)>, String> {
    let Some(qemu) = qemu_binary()? else {
        return Ok(None);
    };
    let per = shared::blob::Blob::decode(blob)
        .map_err(|e| format!("the blob does not decode: {e}"))?
        .header()
        .input
        .len();
    if digits.is_empty() || !digits.len().is_multiple_of(per) {
        return Err(format!(
            "{} input bytes is not a non-empty multiple of {per}",
            digits.len()
        ));
    }
    let dir = work_dir();
    let blob_path = dir.join(format!("{name}.blob"));
    let digits_path = dir.join(format!("{name}_digits.bin"));
    write_if_changed(&blob_path, blob)?;
    write_if_changed(&digits_path, digits)?;
    let elf = build_qemu_firmware(name, &blob_path, &digits_path)?;
    let run = run_firmware(&qemu, &elf)?;
    Ok(Some((elf, run)))
}
