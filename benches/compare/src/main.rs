//! The parmemo side of `benches/compare/run.sh`, and the chart of its results.
//!
//! ```text
//! parmemo-compare run DATA_DIR OUT_DIR      # the workloads, on the Python side's inputs
//! parmemo-compare chart RATIOS_TSV OUT_SVG  # the ratios as a bar chart, log scale
//! parmemo-compare miss-round DIR START      # seconds per miss of 1 000 small results
//! parmemo-compare fresh-store DATA_DIR DIR  # the 200 MB array stored in a cache at DIR
//! parmemo-compare fresh-hit DIR             # seconds of this process's first call: a hit
//! ```

mod big_data;
mod chart;
mod workloads;

use std::path::Path;
use workloads::Failure;

const USAGE: &str = "usage: parmemo-compare run DATA_DIR OUT_DIR | chart RATIOS_TSV OUT_SVG \
                     | miss-round DIR START | fresh-store DATA_DIR DIR | fresh-hit DIR";

fn main() -> Result<(), Failure> {
    // First: in the worker processes of `Backend::Processes`, this serves tasks.
    parmemo::parallel::init();
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.as_slice() {
        [command, data, out] if command == "run" => workloads::run(Path::new(data), Path::new(out)),
        [command, ratios, svg] if command == "chart" => {
            chart::draw(Path::new(ratios), Path::new(svg))
        }
        [command, dir, start] if command == "miss-round" => {
            let seconds = workloads::miss_round(Path::new(dir), start.parse()?)?;
            println!("{seconds:.9}");
            Ok(())
        }
        [command, data, dir] if command == "fresh-store" => {
            big_data::fresh_store(Path::new(data), Path::new(dir))
        }
        [command, dir] if command == "fresh-hit" => {
            let (seconds, summary) = big_data::fresh_hit(Path::new(dir))?;
            println!("{seconds:.9}\t{summary:?}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}
