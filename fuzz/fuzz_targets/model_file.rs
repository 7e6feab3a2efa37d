//! Any byte sequence as a saved model: the first two bytes (little-endian) give the length of
//! the `model.json` text, the rest is `model.safetensors`. The same text also goes through the
//! architecture-file reader (tinyconv and Keras JSON). Nothing may panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (json, weights) = rest.split_at(len);
    let Ok(json) = std::str::from_utf8(json) else {
        return;
    };
    let dir = Path::new("fuzz-model");
    if let Ok(model) = host::save::load_from_bytes(dir, json, weights.to_vec()) {
        let _ = model.param_count();
    }
    if let Ok(arch) = host::arch_file::parse(json, &dir.join("model.json")) {
        let _ = arch.layers.len();
    }
});
