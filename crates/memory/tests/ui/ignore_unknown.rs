use parmemo_macros::cache;
use parmemo_memory::Memory;
use std::sync::LazyLock;

static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new("target/ui-cache"));

#[cache(MEMORY, ignore = [logger])]
fn fit(data: &[f64], log: bool) -> f64 {
    let _ = log;
    data[0]
}

fn main() {}
