use parmemo_macros::cache;
use parmemo_memory::Memory;
use std::sync::LazyLock;

static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new("target/ui-cache"));

#[cache(MEMORY)]
fn log_it(x: u32) {
    println!("{x}");
}

fn main() {}
