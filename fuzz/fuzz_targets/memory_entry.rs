//! A cache entry as read from disk: header, payload, array table, arrays, plain vectors.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    parmemo_memory::__fuzz::entry(data);
});
