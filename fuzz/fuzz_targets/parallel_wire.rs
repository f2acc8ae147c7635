//! What a worker reads from its parent and a parent from its worker (requests, replies,
//! the hello, framed batches, a batch's values): never a panic, an abort, or an
//! allocation of what the bytes claim.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    parmemo_parallel::__fuzz::wire(data);
});
