use parmemo_macros::cache;
use parmemo_memory::Memory;
use std::sync::LazyLock;

static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new("target/ui-cache"));

#[cache(MEMORY)]
fn first<T: Clone>(items: Vec<T>) -> T {
    items[0].clone()
}

fn main() {}
