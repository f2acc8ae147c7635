//! A look into a cache directory (joblib has none): which functions it holds, their code
//! versions, entries, bytes and last use; and clearing one function, or the versions of
//! functions other than their latest (what an edited function left behind with
//! `keep_versions`).
//!
//! ```text
//! cargo run --example cache -- <dir>                           # the table
//! cargo run --example cache -- <dir> clear <function>          # path, last segments or digest
//! cargo run --example cache -- <dir> clear-stale [<function>]  # every function, or one
//! ```

use parmemo::memory::{human_bytes, DirStore, FunctionSummary};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), rest) = (args.first(), args.get(1..).unwrap_or_default()) else {
        eprintln!("usage: cache <dir> [clear <function> | clear-stale [<function>]]");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    if !dir.is_dir() {
        eprintln!("cache: {} is not a directory", dir.display());
        return ExitCode::from(2);
    }
    match run(&dir, rest) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cache: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &std::path::Path, rest: &[String]) -> Result<(), String> {
    let store = DirStore::open(dir).map_err(|err| err.to_string())?;
    let functions = store.functions().map_err(|err| err.to_string())?;
    match rest {
        [] => {
            print_table(&functions);
            Ok(())
        }
        [command, query] if command == "clear" => {
            let function = find(&functions, query)?;
            let removed = store
                .clear_function(function)
                .map_err(|err| err.to_string())?;
            println!("removed {removed} entries of {}", function.name);
            Ok(())
        }
        [command, query @ ..] if command == "clear-stale" && query.len() <= 1 => {
            let chosen: Vec<&FunctionSummary> = match query.first() {
                Some(query) => vec![find(&functions, query)?],
                None => functions.iter().collect(),
            };
            for function in chosen {
                let (removed, bytes) =
                    store.clear_stale(function).map_err(|err| err.to_string())?;
                if removed > 0 {
                    println!(
                        "removed {removed} entries ({}) of {}'s older versions",
                        human_bytes(bytes),
                        function.name
                    );
                }
            }
            Ok(())
        }
        _ => Err("the commands are `clear <function>` and `clear-stale [<function>]`".into()),
    }
}

fn find<'a>(functions: &'a [FunctionSummary], query: &str) -> Result<&'a FunctionSummary, String> {
    let found: Vec<&FunctionSummary> = functions.iter().filter(|f| f.is_named(query)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("no function named {query} in this cache")),
        many => Err(format!(
            "{query} names {} functions: {}; give more of its path",
            many.len(),
            many.iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn print_table(functions: &[FunctionSummary]) {
    if functions.is_empty() {
        println!("no entries");
        return;
    }
    println!(
        "{:<48} {:>8} {:>9} {:>10}  last use",
        "function", "versions", "entries", "size"
    );
    for function in functions {
        let last = function.versions.iter().map(|v| v.last_used).max();
        println!(
            "{:<48} {:>8} {:>9} {:>10}  {}",
            function.name,
            function.versions.len(),
            function.entries(),
            human_bytes(function.bytes()),
            last.map_or_else(String::new, ago)
        );
        for version in &function.versions {
            println!(
                "  {:<46} {:>8} {:>9} {:>10}  {}",
                format!(
                    "version {}{}",
                    version.version,
                    if version.latest { " (latest)" } else { "" }
                ),
                "",
                version.entries,
                human_bytes(version.bytes),
                ago(version.last_used)
            );
        }
    }
    let total: u64 = functions.iter().map(FunctionSummary::bytes).sum();
    let entries: usize = functions.iter().map(FunctionSummary::entries).sum();
    println!("{entries} entries, {} in all", human_bytes(total));
}

fn ago(when: SystemTime) -> String {
    let seconds = SystemTime::now()
        .duration_since(when)
        .map_or(0, |elapsed| elapsed.as_secs());
    match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}
