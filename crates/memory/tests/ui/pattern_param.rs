use parmemo_macros::cache;
use parmemo_memory::Memory;
use std::sync::LazyLock;

static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new("target/ui-cache"));

#[cache(MEMORY)]
fn norm((x, y): (f64, f64)) -> f64 {
    x.hypot(y)
}

fn main() {}
