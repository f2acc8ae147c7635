use parmemo_macros::cache;
use parmemo_memory::Memory;
use std::sync::LazyLock;

static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new("target/ui-cache"));

#[cache(MEMORY)]
fn sum(count: u32, _: ...) -> u32 {
    count
}

fn main() {}
