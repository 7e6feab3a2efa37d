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
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pixels in one 28 x 28 digit.
pub const PIXELS: usize = 28 * 28;
/// Core clock QEMU gives the netduinoplus2 (SysTick runs on it).
pub const QEMU_CORE_HZ: u64 = 168_000_000;
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

/// Runs `cargo <args>` in `firmware/` with its own target directory, embedding the blob at
/// `blob` and the raw test inputs (of the blob's input size) at `digits`; the outer run's
/// target settings are dropped.
pub fn firmware_cargo(args: &[&str], blob: &Path, digits: &Path) -> Result<(), String> {
    firmware_cargo_env(args, blob, digits, &[])
}

/// [`firmware_cargo`] with extra environment variables.
pub fn firmware_cargo_env(
    args: &[&str],
    blob: &Path,
    digits: &Path,
    env: &[(&str, &str)],
) -> Result<(), String> {
    let output = Command::new("cargo")
        .current_dir(firmware_dir())
        .args(args)
        .arg("--target-dir")
        .arg(firmware_target_dir())
        .env("TINYCONV_BLOB", blob)
        .env("TINYCONV_INPUTS", digits)
        .env_remove("TINYCONV_DIGITS")
        .env_remove("TINYCONV_INPUT_LABELS")
        .env_remove("TINYCONV_BLOB_UNCHECKED")
        .envs(env.iter().copied())
        // The outer run's settings are for the host workspace, not for this one.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("TINYCONV_DIGIT_LABELS")
        .env_remove("TINYCONV_DIGIT_COUNT")
        .output()
        .map_err(|e| format!("running cargo in {}: {e}", firmware_dir().display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo {}` in firmware/ failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
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
    firmware_cargo_env(
        &[
            "build",
            "--release",
            "--no-default-features",
            "--features",
            "qemu",
        ],
        blob,
        digits,
        env,
    )?;
    let built = firmware_target_dir()
        .join("thumbv7em-none-eabihf")
        .join("release")
        .join("firmware");
    let copy = work_dir().join(format!("{name}.elf"));
    let bytes = fs::read(&built).map_err(|e| format!("reading {}: {e}", built.display()))?;
    write_if_changed(&copy, &bytes)?;
    Ok(FirmwareElf { path: copy })
}

/// One classified input as the firmware reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePrediction {
    /// Index of the input in the embedded set.
    pub index: usize,
    /// Predicted class.
    pub digit: u8,
    /// The int8 scores (ten for MNIST).
    pub scores: Vec<i8>,
    /// SysTick ticks the inference took (168 per 1000 instructions under `-icount shift=0`).
    pub ticks: u64,
    /// The label embedded with the digit, if any.
    pub label: Option<u8>,
}

impl DevicePrediction {
    /// Instructions the inference executed (exact up to the SysTick granularity).
    pub fn instructions(&self) -> f64 {
        ticks_to_instructions(self.ticks)
    }
}

/// Converts SysTick ticks under `-icount shift=0` (1 instruction = 1 ns) to instructions.
pub fn ticks_to_instructions(ticks: u64) -> f64 {
    ticks as f64 * 1e9 / QEMU_CORE_HZ as f64
}

/// Everything a QEMU run printed, parsed.
#[derive(Debug, Clone, Default)]
pub struct FirmwareRun {
    /// Blob length the firmware validated.
    pub blob_len: usize,
    /// The `model` line: input shape, layers, scores, arena and engine.
    pub model: String,
    /// One entry per embedded digit, in order.
    pub predictions: Vec<DevicePrediction>,
    /// The serial response frame the firmware built for each digit (`frame` lines).
    pub frames: Vec<Vec<u8>>,
    /// Peak stack use in bytes.
    pub peak_stack: usize,
    /// Raw standard output, for error messages.
    pub stdout: String,
}

/// What a QEMU run printed and how it ended.
#[derive(Debug, Clone)]
pub struct QemuOutput {
    /// Whether QEMU exited with status 0 (the firmware's semihosting exit status).
    pub success: bool,
    /// Standard output (the firmware's semihosting lines).
    pub stdout: String,
    /// Standard error (QEMU's own messages).
    pub stderr: String,
}

/// Runs `elf` under QEMU (`qemu` from [`qemu_binary`]) with `-icount shift=0`, killing it after
/// [`QEMU_TIMEOUT`] (an error).
pub fn run_qemu(qemu: &Path, elf: &FirmwareElf) -> Result<QemuOutput, String> {
    let mut child = Command::new(qemu)
        .args([
            "-M",
            "netduinoplus2",
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "null",
        ])
        .args([
            "-semihosting-config",
            "enable=on,target=native",
            "-icount",
            "shift=0",
            "-kernel",
        ])
        .arg(&elf.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", qemu.display()))?;
    let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let mut stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        match child
            .try_wait()
            .map_err(|e| format!("waiting for QEMU: {e}"))?
        {
            Some(status) => break Some(status),
            None if start.elapsed() > QEMU_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        None => Err(format!(
            "QEMU timed out after {QEMU_TIMEOUT:?}; output:\n{stdout}\n{stderr}"
        )),
        Some(s) => Ok(QemuOutput {
            success: s.success(),
            stdout,
            stderr,
        }),
    }
}

/// Runs `elf` under QEMU and parses its output. Fails when QEMU times out, the firmware exits
/// with a failure, or it prints anything malformed.
pub fn run_firmware(qemu: &Path, elf: &FirmwareElf) -> Result<FirmwareRun, String> {
    let out = run_qemu(qemu, elf)?;
    if !out.success {
        return Err(format!(
            "the firmware exited with a failure; output:\n{}\n{}",
            out.stdout, out.stderr
        ));
    }
    parse_output(&out.stdout)
}

/// Parses the firmware's semihosting lines (format in `firmware/src/qemu.rs`).
pub fn parse_output(out: &str) -> Result<FirmwareRun, String> {
    let bad = |line: &str, what: &str| {
        format!("malformed firmware line ({what}): {line:?}\nfull output:\n{out}")
    };
    let mut run = FirmwareRun {
        stdout: out.to_string(),
        ..Default::default()
    };
    let mut done = None;
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["tinyconv", "qemu"] => {}
            ["model", rest @ ..] => run.model = rest.join(" "),
            ["blob", "ok", n] => run.blob_len = n.parse().map_err(|_| bad(line, "blob length"))?,
            ["pred", rest @ ..] => {
                // <i> <class> <s0..sk-1> ticks <n> label <l|->
                let k = rest.len().saturating_sub(6);
                if rest.len() < 7 || rest[2 + k] != "ticks" || rest[4 + k] != "label" {
                    return Err(bad(line, "pred fields"));
                }
                let scores = rest[2..2 + k]
                    .iter()
                    .map(|w| w.parse().map_err(|_| bad(line, "score")))
                    .collect::<Result<Vec<i8>, String>>()?;
                run.predictions.push(DevicePrediction {
                    index: rest[0].parse().map_err(|_| bad(line, "index"))?,
                    digit: rest[1].parse().map_err(|_| bad(line, "digit"))?,
                    scores,
                    ticks: rest[3 + k].parse().map_err(|_| bad(line, "ticks"))?,
                    label: match rest[5 + k] {
                        "-" => None,
                        l => Some(l.parse().map_err(|_| bad(line, "label"))?),
                    },
                });
            }
            ["frame", i, hex] => {
                let i: usize = i.parse().map_err(|_| bad(line, "frame index"))?;
                if i != run.frames.len() || hex.len() % 2 != 0 {
                    return Err(bad(line, "frame order or length"));
                }
                let bytes = (0..hex.len() / 2)
                    .map(|k| u8::from_str_radix(&hex[2 * k..2 * k + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|_| bad(line, "frame hex"))?;
                run.frames.push(bytes);
            }
            ["stack", n] => run.peak_stack = n.parse().map_err(|_| bad(line, "stack"))?,
            ["done", n] => done = Some(n.parse::<usize>().map_err(|_| bad(line, "done count"))?),
            [] => {}
            _ => return Err(bad(line, "unknown line")),
        }
    }
    match done {
        Some(n) if n == run.predictions.len() && n == run.frames.len() => Ok(run),
        Some(n) => Err(format!(
            "firmware reported {n} digits but printed {} predictions and {} frames:\n{out}",
            run.predictions.len(),
            run.frames.len()
        )),
        None => Err(format!("firmware output has no `done` line:\n{out}")),
    }
}

/// Flash and static RAM use of a firmware image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes stored in flash: every allocated section with contents (`.vector_table`, `.text`,
    /// `.rodata`, and `.data`'s initial values).
    pub flash: u64,
    /// Bytes of RAM reserved at link time: allocated sections placed in RAM (`.data`, `.bss`,
    /// `.uninit`); the stack comes on top (see [`FirmwareRun::peak_stack`]).
    pub static_ram: u64,
}

/// Reads [`MemoryUse`] from a 32-bit little-endian ELF's section headers (RAM is the region at
/// `0x2000_0000`, as in `firmware/memory.x`).
pub fn elf_memory(elf: &Path) -> Result<MemoryUse, String> {
    const SHF_ALLOC: u32 = 0x2;
    const SHT_NOBITS: u32 = 8;
    const RAM_START: u32 = 0x2000_0000;
    let bytes = fs::read(elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
    let bad = |what: &str| format!("{}: not a 32-bit little-endian ELF ({what})", elf.display());
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 1, 1][..]) {
        return Err(bad("header"));
    }
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let shoff = u32_at(0x20).ok_or_else(|| bad("e_shoff"))? as usize;
    let shentsize = u16_at(0x2e).ok_or_else(|| bad("e_shentsize"))? as usize;
    let shnum = u16_at(0x30).ok_or_else(|| bad("e_shnum"))? as usize;
    let mut usage = MemoryUse {
        flash: 0,
        static_ram: 0,
    };
    for i in 0..shnum {
        let h = shoff + i * shentsize;
        let kind = u32_at(h + 4).ok_or_else(|| bad("sh_type"))?;
        let flags = u32_at(h + 8).ok_or_else(|| bad("sh_flags"))?;
        let addr = u32_at(h + 12).ok_or_else(|| bad("sh_addr"))?;
        let size = u64::from(u32_at(h + 20).ok_or_else(|| bad("sh_size"))?);
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        if kind != SHT_NOBITS {
            usage.flash += size;
        }
        if addr >= RAM_START {
            usage.static_ram += size;
        }
    }
    Ok(usage)
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
