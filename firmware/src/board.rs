//! NUCLEO-F411RE platform: 100 MHz from the HSI through the PLL, defmt log over RTT, LD2 (PA5)
//! status LED, DWT cycle counts, and the classification server on USART2 (PA2 TX, PA3 RX: the
//! ST-LINK virtual COM port) at 115200 8N1.
//!
//! LD2 patterns: on = serving requests (it toggles after each answered request); repeated
//! groups of short blinks = a fault that stops the firmware, the group size naming it
//! ([`Fault`]). The defmt log says the same in words.

use cortex_m::peripheral::DWT;
use defmt_rtt as _;
use embedded_hal_nb::serial::{Read, Write};
use stm32f4xx_hal::gpio::{Output, Pin, PushPull};
use stm32f4xx_hal::pac;
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::Config;
use stm32f4xx_hal::serial::{self, Serial};

use crate::inputs::{self, UNKNOWN_LABEL};
use crate::model::{self, Classifier, INPUT_LEN, RESPONSE_LEN};
use crate::protocol::{self, Decoded, FrameError, RequestDecoder};
use crate::stack;

/// Core clock.
const SYSCLK_HZ: u32 = 100_000_000;
/// Serial speed of the virtual COM port.
const BAUD: u32 = 115_200;

/// The status LED, LD2 on PA5.
type Led = Pin<'A', 5, Output<PushPull>>;

/// A fault that stops the firmware; LD2 blinks the discriminant's count of times, repeatedly.
#[derive(Clone, Copy, defmt::Format)]
enum Fault {
    /// The embedded model blob is invalid (bad magic, version, CRC, shapes or quantization).
    Blob = 3,
    /// USART2 could not be configured for 115200 baud.
    Serial = 4,
}

/// Boots, classifies the embedded digits, then serves requests forever.
pub fn run() -> ! {
    let (Some(dp), Some(mut cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
        defmt::error!("peripherals already taken");
        halt();
    };
    // HSI (16 MHz) through the PLL: works on every NUCLEO-F411RE revision, whatever the
    // ST-LINK MCO solder bridges; the UART tolerates the HSI's 1 % accuracy.
    let mut rcc = dp.RCC.freeze(Config::hsi().sysclk(SYSCLK_HZ.Hz()));
    cp.DCB.enable_trace();
    cp.DWT.enable_cycle_counter();

    let gpioa = dp.GPIOA.split(&mut rcc);
    let mut led: Led = gpioa.pa5.into_push_pull_output();
    defmt::info!(
        "tinyconv on NUCLEO-F411RE, sysclk {=u32} Hz",
        rcc.clocks.sysclk().raw()
    );

    let classifier = match Classifier::load() {
        Ok(c) => c,
        Err(e) => {
            // `summary()` rather than the Display message: core::fmt costs ~5 KiB of flash.
            defmt::error!("bad model blob: {=str} (layer {})", e.summary(), e.layer());
            fault(&mut led, Fault::Blob);
        }
    };
    defmt::info!("model blob ok: {=usize} bytes", model::blob_len());
    let [h, w, c] = model::INPUT_SHAPE;
    defmt::info!(
        "model {=usize}x{=usize}x{=usize}, {=usize} layers, {=usize} scores, arena {=usize} B, \
         frames: request {=usize} B, response {=usize} B, engine {=str}",
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

    classify_inputs(classifier);
    defmt::info!("peak stack {=usize} bytes", stack::peak());

    let config = serial::Config::default().baudrate(BAUD.bps());
    let mut port: Serial<pac::USART2> =
        match Serial::new(dp.USART2, (gpioa.pa2, gpioa.pa3), config, &mut rcc) {
            Ok(port) => port,
            Err(_) => {
                defmt::error!("USART2 rejects {=u32} baud", BAUD);
                fault(&mut led, Fault::Serial);
            }
        };
    defmt::info!("serving requests on USART2 at {=u32} baud", BAUD);
    led.set_high();
    serve(classifier, &mut port, &mut led)
}

/// Classifies the embedded test inputs and logs each prediction with its cycle count.
fn classify_inputs(classifier: &mut Classifier) {
    let mut correct = 0u32;
    let mut labelled = 0u32;
    for (i, (image, label)) in inputs::all().enumerate() {
        let start = DWT::cycle_count();
        let p = classifier.classify(image);
        let cycles = DWT::cycle_count().wrapping_sub(start);
        if label == UNKNOWN_LABEL {
            defmt::info!(
                "input {=usize}: predicted {=u8} in {=u32} cycles, scores {}",
                i,
                p.class,
                cycles,
                p.scores
            );
        } else {
            labelled += 1;
            correct += u32::from(p.class == label);
            defmt::info!(
                "input {=usize}: predicted {=u8}, label {=u8}, in {=u32} cycles, scores {}",
                i,
                p.class,
                label,
                cycles,
                p.scores
            );
        }
    }
    if labelled > 0 {
        defmt::info!("{=u32}/{=u32} test inputs correct", correct, labelled);
    }
}

/// Answers request frames on `port` forever (see [`protocol`]).
fn serve(classifier: &mut Classifier, port: &mut Serial<pac::USART2>, led: &mut Led) -> ! {
    let mut decoder = RequestDecoder::<INPUT_LEN>::new();
    loop {
        match port.read() {
            Ok(byte) => match decoder.push(byte) {
                Decoded::Pending => {}
                Decoded::BadChecksum => {
                    defmt::warn!("request checksum mismatch");
                    send(port, &protocol::encode_error(FrameError::Checksum));
                }
                Decoded::Request => {
                    let start = DWT::cycle_count();
                    let p = classifier.classify(decoder.pixels());
                    let cycles = DWT::cycle_count().wrapping_sub(start);
                    let frame: [u8; RESPONSE_LEN] = protocol::encode_response(p.class, &p.scores);
                    send(port, &frame);
                    led.toggle();
                    defmt::info!("request: predicted {=u8} in {=u32} cycles", p.class, cycles);
                }
            },
            Err(nb::Error::WouldBlock) => {}
            Err(nb::Error::Other(e)) => {
                defmt::warn!("serial receive error: {=str}", serial_error(&e));
                if decoder.in_frame() {
                    send(port, &protocol::encode_error(FrameError::Link));
                }
                decoder.reset();
            }
        }
    }
}

/// The receive error in words (the HAL's error has no `defmt::Format`, and `Debug` would pull
/// in core::fmt).
fn serial_error(e: &serial::Error) -> &'static str {
    match e {
        serial::Error::Overrun => "overrun",
        serial::Error::FrameFormat => "framing",
        serial::Error::Parity => "parity",
        serial::Error::Noise => "noise",
        _ => "other",
    }
}

/// Writes a whole frame, waiting for the transmitter.
fn send(port: &mut Serial<pac::USART2>, frame: &[u8]) {
    for &byte in frame {
        if nb::block!(port.write(byte)).is_err() {
            defmt::warn!("serial transmit error");
            return;
        }
    }
    // Completes the frame before the next request is read; flush only waits for the line.
    let _ = nb::block!(port.flush());
}

/// Blinks the fault's pattern on LD2 forever.
fn fault(led: &mut Led, fault: Fault) -> ! {
    defmt::error!("stopped: {}", fault);
    let short = SYSCLK_HZ / 10; // 100 ms at 100 MHz
    loop {
        for _ in 0..fault as u32 {
            led.set_high();
            cortex_m::asm::delay(short);
            led.set_low();
            cortex_m::asm::delay(short);
        }
        cortex_m::asm::delay(8 * short);
    }
}

/// Stops without a LED (its GPIO port is not available).
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// A panic is a firmware bug (no blob or request can cause one): say so, then stop with an
/// undefined instruction so that probe-rs halts and prints the backtrace, which locates it (as
/// panic-probe does). Neither the message nor the location is logged: formatting the message
/// links core::fmt (~5 KiB), and keeping every panic location's file name costs ~3.6 KiB.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    defmt::error!("panicked (the backtrace locates it)");
    cortex_m::asm::udf()
}
