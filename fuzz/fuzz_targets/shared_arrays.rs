//! `Shared` arrays that travelled inline, and plain vectors rebuilt from raw bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    parmemo_shared::__fuzz::arrays(data);
});
