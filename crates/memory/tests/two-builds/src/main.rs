//! `parmemo-two-builds <cache dir> <phase>`: calls its cached function on 30 arguments and
//! checks the outcome the phase expects, exiting non-zero with a message otherwise.
//!
//! - `first`: a fresh cache: 30 misses.
//! - `again`: the same build again: 30 hits, nothing computed.
//! - `changed`: the other build (its function's body differs): 30 misses, and the 30
//!   entries of the previous version are gone (the store holds 30 entries, not 60).

use parmemo_macros::cache;
use parmemo_memory::{last_call, CallOutcome, Memory};
use std::process::ExitCode;
use std::sync::LazyLock;

static MEMORY: LazyLock<Memory> = LazyLock::new(|| {
    Memory::new(
        std::env::args_os()
            .nth(1)
            .unwrap_or_else(|| "target/two-builds".into()),
    )
});

/// The first build's body.
#[cfg(not(feature = "edited"))]
#[cache(MEMORY)]
fn robust_center(x: u64) -> u64 {
    x * 2
}

/// The edited body.
#[cfg(feature = "edited")]
#[cache(MEMORY)]
fn robust_center(x: u64) -> u64 {
    x * 3
}

const FACTOR: u64 = if cfg!(feature = "edited") { 3 } else { 2 };

fn main() -> ExitCode {
    let phase = std::env::args().nth(2).unwrap_or_default();
    let mut outcomes = (0, 0);
    for x in 0..30 {
        if robust_center(x) != x * FACTOR {
            eprintln!("two-builds: robust_center({x}) returned another build's result");
            return ExitCode::FAILURE;
        }
        match last_call() {
            Some(CallOutcome::Hit) => outcomes.0 += 1,
            Some(CallOutcome::Miss) => outcomes.1 += 1,
            other => {
                eprintln!("two-builds: the call was {other:?}");
                return ExitCode::FAILURE;
            }
        }
    }
    let entries = MEMORY.stats().map_or(usize::MAX, |stats| stats.entries);
    let expected = match phase.as_str() {
        "first" | "changed" => (0, 30),
        "again" => (30, 0),
        _ => {
            eprintln!("two-builds: the phase is first, again or changed, not {phase:?}");
            return ExitCode::FAILURE;
        }
    };
    if outcomes != expected || entries != 30 {
        eprintln!(
            "two-builds: {phase}: {} hits and {} misses, {entries} entries stored; \
             expected {} hits, {} misses and 30 entries",
            outcomes.0, outcomes.1, expected.0, expected.1
        );
        return ExitCode::FAILURE;
    }
    println!(
        "two-builds: {phase}: {} hits, {} misses, {entries} entries",
        outcomes.0, outcomes.1
    );
    ExitCode::SUCCESS
}
