//! The firmware image of a blob: building `firmware/` (its own cargo workspace, target
//! `thumbv7em-none-eabihf`) for the board or for QEMU, reading its flash and RAM from the ELF,
//! and running the QEMU build under `qemu-system-arm` (`netduinoplus2`, `-icount shift=0`),
//! parsing the plain-text lines it prints (format in `firmware/src/qemu.rs`).
//!
//! Used by `host deploy` and by the workspace's firmware tests.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Core clock QEMU gives the netduinoplus2 (SysTick runs on it).
pub const QEMU_CORE_HZ: u64 = 168_000_000;
/// Start of RAM on the STM32F4 (`firmware/memory.x`).
const RAM_START: u32 = 0x2000_0000;

/// Why a firmware image could not be built, measured or run.
#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `cargo build` in the firmware directory failed.
    #[error("`cargo {command}` in {} failed:\n{stderr}", dir.display())]
    Build {
        /// The firmware directory.
        dir: PathBuf,
        /// The cargo arguments.
        command: String,
        /// Cargo's standard error.
        stderr: String,
    },
    /// A command could not be started.
    #[error("starting {}: {source} (is it installed?)", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// QEMU did not finish in time.
    #[error("QEMU timed out after {after:?}; output:\n{output}")]
    Timeout {
        /// The time limit.
        after: Duration,
        /// What it printed.
        output: String,
    },
    /// The firmware exited with a failure status.
    #[error("the firmware exited with a failure; output:\n{output}")]
    Failed {
        /// What it printed.
        output: String,
    },
    /// The firmware printed something this parser does not understand.
    #[error("malformed firmware line ({what}): {line:?}\nfull output:\n{output}")]
    Malformed {
        /// The line.
        line: String,
        /// Which field is wrong.
        what: &'static str,
        /// Everything it printed.
        output: String,
    },
    /// The firmware's `done` count differs from the lines it printed, or is missing.
    #[error("firmware output is incomplete ({what}):\n{output}")]
    Incomplete {
        /// What is missing.
        what: String,
        /// Everything it printed.
        output: String,
    },
    /// The image is not a 32-bit little-endian ELF.
    #[error("{}: not a 32-bit little-endian ELF ({what})", path.display())]
    Elf {
        /// The file.
        path: PathBuf,
        /// Which header field is missing.
        what: &'static str,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FirmwareError + '_ {
    move |source| FirmwareError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which firmware build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// The NUCLEO-F411RE (default features).
    Board,
    /// QEMU's netduinoplus2 (`--no-default-features --features qemu`).
    Qemu,
}

/// A firmware build: the crate, the blob and test inputs it embeds.
#[derive(Clone, Debug)]
pub struct FirmwareBuild {
    /// The firmware crate's directory (`firmware/`).
    pub dir: PathBuf,
    /// Cargo's target directory for it (`firmware/target` by default).
    pub target_dir: PathBuf,
    /// The int8 blob (`TINYCONV_BLOB`).
    pub blob: PathBuf,
    /// Raw test inputs of the blob's input size (`TINYCONV_INPUTS`), if any.
    pub inputs: Option<PathBuf>,
    /// One label byte per input (`TINYCONV_INPUT_LABELS`), if any.
    pub labels: Option<PathBuf>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl FirmwareBuild {
    /// A build of `dir` embedding `blob`, in `dir/target`.
    pub fn new(dir: &Path, blob: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            target_dir: dir.join("target"),
            blob: blob.to_path_buf(),
            inputs: None,
            labels: None,
            env: Vec::new(),
        }
    }

    /// Runs `cargo build --release` for `platform` and returns the ELF's path (cargo's output,
    /// overwritten by the next build).
    pub fn build(&self, platform: Platform) -> Result<PathBuf, FirmwareError> {
        let mut args = vec!["build", "--release"];
        if platform == Platform::Qemu {
            args.extend(["--no-default-features", "--features", "qemu"]);
        }
        self.cargo(&args)?;
        Ok(std::path::absolute(&self.target_dir)
            .map_err(io(&self.target_dir))?
            .join("thumbv7em-none-eabihf")
            .join("release")
            .join("firmware"))
    }

    /// Runs `cargo <args>` in the firmware directory with this build's environment; the outer
    /// run's target settings (for the host workspace) are dropped.
    pub fn cargo(&self, args: &[&str]) -> Result<(), FirmwareError> {
        // Cargo runs in the firmware directory: every path is made absolute first.
        let abs = |p: &Path| std::path::absolute(p).map_err(io(p));
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&self.dir)
            .args(args)
            .arg("--target-dir")
            .arg(abs(&self.target_dir)?)
            .env("TINYCONV_BLOB", abs(&self.blob)?);
        for var in [
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "TINYCONV_DIGITS",
            "TINYCONV_DIGIT_LABELS",
            "TINYCONV_DIGIT_COUNT",
            "TINYCONV_INPUTS",
            "TINYCONV_INPUT_LABELS",
            "TINYCONV_BLOB_UNCHECKED",
            "TINYCONV_ENGINE",
        ] {
            cmd.env_remove(var);
        }
        if let Some(p) = &self.inputs {
            cmd.env("TINYCONV_INPUTS", abs(p)?);
        }
        if let Some(p) = &self.labels {
            cmd.env("TINYCONV_INPUT_LABELS", abs(p)?);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let output = cmd.output().map_err(|source| FirmwareError::Spawn {
            program: "cargo".into(),
            source,
        })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(FirmwareError::Build {
                dir: self.dir.clone(),
                command: args.join(" "),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }
}

/// Flash and static RAM use of a firmware image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryUse {
    /// Bytes stored in flash: every allocated section with contents (`.vector_table`, `.text`,
    /// `.rodata`, and `.data`'s initial values).
    pub flash: u64,
    /// Bytes of RAM reserved at link time: allocated sections placed in RAM (`.data`, `.bss`,
    /// `.uninit`); the stack comes on top.
    pub static_ram: u64,
}

/// Reads [`MemoryUse`] from a 32-bit little-endian ELF's section headers (RAM is the region at
/// `0x2000_0000`, as in `firmware/memory.x`).
pub fn elf_memory(elf: &Path) -> Result<MemoryUse, FirmwareError> {
    const SHF_ALLOC: u32 = 0x2;
    const SHT_NOBITS: u32 = 8;
    let bytes = fs::read(elf).map_err(io(elf))?;
    let bad = |what: &'static str| FirmwareError::Elf {
        path: elf.to_path_buf(),
        what,
    };
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 1, 1][..]) {
        return Err(bad("header"));
    }
    let u16_at = |o: usize| {
        bytes
            .get(o..o.checked_add(2)?)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o.checked_add(4)?)
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
        let h = shoff.saturating_add(i.saturating_mul(shentsize));
        let kind = u32_at(h.saturating_add(4)).ok_or_else(|| bad("sh_type"))?;
        let flags = u32_at(h.saturating_add(8)).ok_or_else(|| bad("sh_flags"))?;
        let addr = u32_at(h.saturating_add(12)).ok_or_else(|| bad("sh_addr"))?;
        let size = u64::from(u32_at(h.saturating_add(20)).ok_or_else(|| bad("sh_size"))?);
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

/// Runs `elf` under `qemu` (`qemu-system-arm`) on the `netduinoplus2` machine with
/// `-icount shift=0`, killing it after `timeout` (an error).
pub fn run_qemu(qemu: &Path, elf: &Path, timeout: Duration) -> Result<QemuOutput, FirmwareError> {
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
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| FirmwareError::Spawn {
            program: qemu.to_path_buf(),
            source,
        })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out_reader = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_reader = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|source| FirmwareError::Spawn {
            program: qemu.to_path_buf(),
            source,
        })? {
            Some(status) => break Some(status),
            None if start.elapsed() > timeout => {
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
        None => Err(FirmwareError::Timeout {
            after: timeout,
            output: format!("{stdout}\n{stderr}"),
        }),
        Some(s) => Ok(QemuOutput {
            success: s.success(),
            stdout,
            stderr,
        }),
    }
}

/// One classified input as the firmware reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePrediction {
    /// Index of the input in the embedded set.
    pub index: usize,
    /// Predicted class.
    pub class: u8,
    /// The int8 scores.
    pub scores: Vec<i8>,
    /// SysTick ticks the inference took (168 per 1000 instructions under `-icount shift=0`).
    pub ticks: u64,
    /// The label embedded with the input, if any.
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
    /// The `model` line: input shape, layers, scores, arena, frame sizes and engine.
    pub model: String,
    /// One entry per embedded input, in order.
    pub predictions: Vec<DevicePrediction>,
    /// The serial response frame the firmware built for each input (`frame` lines).
    pub frames: Vec<Vec<u8>>,
    /// Peak stack use in bytes.
    pub peak_stack: usize,
    /// Raw standard output, for error messages.
    pub stdout: String,
}

/// Runs `elf` under QEMU and parses its output. Fails when QEMU times out, the firmware exits
/// with a failure, or it prints anything malformed.
pub fn run_firmware(
    qemu: &Path,
    elf: &Path,
    timeout: Duration,
) -> Result<FirmwareRun, FirmwareError> {
    let out = run_qemu(qemu, elf, timeout)?;
    if !out.success {
        return Err(FirmwareError::Failed {
            output: format!("{}\n{}", out.stdout, out.stderr),
        });
    }
    parse_output(&out.stdout)
}

/// Parses the firmware's semihosting lines (format in `firmware/src/qemu.rs`).
pub fn parse_output(out: &str) -> Result<FirmwareRun, FirmwareError> {
    let bad = |line: &str, what: &'static str| FirmwareError::Malformed {
        line: line.to_string(),
        what,
        output: out.to_string(),
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
                    .collect::<Result<Vec<i8>, _>>()?;
                run.predictions.push(DevicePrediction {
                    index: rest[0].parse().map_err(|_| bad(line, "index"))?,
                    class: rest[1].parse().map_err(|_| bad(line, "class"))?,
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
                if i != run.frames.len() || hex.len() % 2 != 0 || !hex.is_ascii() {
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
        Some(n) => Err(FirmwareError::Incomplete {
            what: format!(
                "{n} inputs reported, {} predictions and {} frames printed",
                run.predictions.len(),
                run.frames.len()
            ),
            output: out.to_string(),
        }),
        None => Err(FirmwareError::Incomplete {
            what: "no `done` line".into(),
            output: out.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_run_with_any_score_count() {
        let out = "tinyconv qemu\nmodel 32x32x3 layers 7\nblob ok 4546\n\
                   pred 0 1 -7 ticks 680000 label -\nframe 0 5a01f954\n\
                   pred 1 0 -9 ticks 680001 label 0\nframe 1 5a00f75a\nstack 1000\ndone 2\n";
        let run = parse_output(out).unwrap();
        assert_eq!(run.blob_len, 4546);
        assert_eq!(run.model, "32x32x3 layers 7");
        assert_eq!(run.predictions[1].scores, vec![-9]);
        assert_eq!(run.predictions[1].label, Some(0));
        assert_eq!(run.frames[0], vec![0x5a, 0x01, 0xf9, 0x54]);
        assert!((run.predictions[0].instructions() - 680000.0 * 1000.0 / 168.0).abs() < 1e-6);
        assert!(matches!(
            parse_output("done 1\n"),
            Err(FirmwareError::Incomplete { .. })
        ));
        assert!(matches!(
            parse_output("pred 0 1 x ticks 1 label -\n"),
            Err(FirmwareError::Malformed { what: "score", .. })
        ));
    }

    #[test]
    fn elf_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("not.elf");
        fs::write(&p, b"\x7fELF\x01\x01").unwrap();
        let err = elf_memory(&p).unwrap_err().to_string();
        assert!(err.contains("not.elf") && err.contains("e_shoff"), "{err}");
    }
}
