//! QEMU `netduinoplus2` platform (CI): the HSI clock as reset leaves it (QEMU does not model the
//! PLL), SysTick as a free-running tick counter, plain-text results and the exit status through
//! semihosting.
//!
//! Output lines (parsed by `tests/tests/firmware_harness`):
//! ```text
//! tinyconv qemu
//! model <h>x<w>x<c> layers <n> scores <k> arena <bytes> request <bytes> response <bytes> engine <mnist|interpreter>
//! blob ok <bytes>                         | blob error <message>  (then exit 1)
//! pred <i> <class> <s0> ... <sk-1> ticks <n> label <class|->
//! frame <i> <response frame as hex>       (the serial response for that input, see protocol)
//! stack <peak bytes>
//! done <count>
//! ```
//! With `-icount shift=0` each instruction takes 1 ns of virtual time and SysTick runs on the
//! 168 MHz core clock that QEMU gives the board, so instructions = ticks × 1000 / 168.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use cortex_m_semihosting::{debug, hprint, hprintln};

use crate::inputs::{self, UNKNOWN_LABEL};
use crate::model::{self, Classifier, INPUT_LEN, RESPONSE_LEN};
use crate::protocol::{self, Decoded, RequestDecoder};
use crate::stack;

/// SysTick reload value: the counter's full 24-bit range.
const RELOAD: u32 = 0x00FF_FFFF;

/// SysTick wraps since boot.
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Starts SysTick as a free-running down-counter on the core clock with a wrap interrupt.
fn start_ticks(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    // VAL reads 0 until the first reload; the count starts after it.
    while SYST::get_current() == 0 {}
}

/// Ticks since [`start_ticks`] (64-bit, wraps accounted for).
fn ticks() -> u64 {
    loop {
        let wraps = WRAPS.load(Ordering::Relaxed);
        let current = SYST::get_current();
        if WRAPS.load(Ordering::Relaxed) == wraps {
            return (u64::from(wraps) << 24) | u64::from(RELOAD - current);
        }
    }
}

/// Runs the self-test on the embedded inputs and exits QEMU: status 0 when every input was
/// classified, 1 otherwise.
pub fn run() -> ! {
    hprintln!("tinyconv qemu");
    let ok = match cortex_m::Peripherals::take() {
        Some(cp) => {
            start_ticks(cp.SYST);
            classify_inputs()
        }
        None => {
            hprintln!("error core peripherals already taken");
            false
        }
    };
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Semihosting exit does not return under QEMU; on a debugger that ignores it, stop here.
    loop {
        cortex_m::asm::wfi();
    }
}

fn classify_inputs() -> bool {
    let [h, w, c] = model::INPUT_SHAPE;
    hprintln!(
        "model {}x{}x{} layers {} scores {} arena {} request {} response {} engine {}",
        h,
        w,
        c,
        model::LAYERS,
        model::SCORES,
        model::ARENA_LEN,
        model::REQUEST_LEN,
        RESPONSE_LEN,
        model::ENGINE
    );
    let classifier = match Classifier::load() {
        Ok(c) => c,
        Err(e) => {
            hprintln!("blob error {}", e);
            return false;
        }
    };
    hprintln!("blob ok {}", model::blob_len());

    let mut decoder = RequestDecoder::<INPUT_LEN>::new();
    let mut count = 0usize;
    for (i, (image, label)) in inputs::all().enumerate() {
        let start = ticks();
        let prediction = classifier.classify(image);
        let elapsed = ticks() - start;
        hprint!("pred {} {}", i, prediction.class);
        for s in prediction.scores {
            hprint!(" {}", s);
        }
        if label == UNKNOWN_LABEL {
            hprintln!(" ticks {} label -", elapsed);
        } else {
            hprintln!(" ticks {} label {}", elapsed, label);
        }

        // The serial path on the same digit: request frame in, response frame out.
        let mut decoded = Decoded::Pending;
        for byte in protocol::request_bytes(image) {
            decoded = decoder.push(byte);
        }
        if decoded != Decoded::Request {
            hprintln!("error input {} request frame not decoded", i);
            return false;
        }
        let answer = classifier.classify(decoder.pixels());
        let frame: [u8; RESPONSE_LEN] = protocol::encode_response(answer.class, &answer.scores);
        hprint!("frame {} ", i);
        for byte in frame {
            hprint!("{:02x}", byte);
        }
        hprintln!();
        count += 1;
    }
    hprintln!("stack {}", stack::peak());
    hprintln!("done {}", count);
    count > 0
}

/// A panic is a firmware bug: say so and fail the run (the blob's errors never panic).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panicked {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
