//! Any byte sequence as an IDX file (plain; gzip'd input goes through the same parser after
//! a bounded inflate). Nothing may panic, and a parsed array is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(array) = host::idx::parse_idx(data) {
        assert_eq!(array.dims.iter().product::<usize>(), array.data.len());
    }
});
