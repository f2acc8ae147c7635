//! joblib-style progress lines (or, with the `progress` feature, an indicatif bar).

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Writes `text` and a newline to stderr in one call, so that the lines of several
/// processes sharing a stderr never mix (`writeln!` writes the pieces of a line one by
/// one). Best effort: a closed stderr is ignored.
pub(crate) fn stderr_line(text: &str) {
    let mut whole = String::with_capacity(text.len() + 1);
    whole.push_str(text);
    whole.push('\n');
    let _ = std::io::stderr().write_all(whole.as_bytes());
}

/// Where progress lines go: stderr unless the builder was given a writer.
#[derive(Clone, Default)]
pub(crate) enum LogSink {
    #[default]
    Stderr,
    Writer(Arc<Mutex<dyn Write + Send>>),
    /// An indicatif bar on stderr when it is a terminal, lines otherwise (a batch job's
    /// log file gets lines, not escape codes).
    #[cfg(feature = "progress")]
    Bar,
}

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogSink::Stderr => f.write_str("Stderr"),
            LogSink::Writer(_) => f.write_str("Writer(..)"),
            #[cfg(feature = "progress")]
            LogSink::Bar => f.write_str("Bar"),
        }
    }
}

impl LogSink {
    pub(crate) fn line(&self, text: &str) {
        // Progress is best effort: a closed stderr must not fail the computation.
        match self {
            #[cfg(feature = "progress")]
            LogSink::Bar => stderr_line(text),
            LogSink::Stderr => stderr_line(text),
            LogSink::Writer(writer) => {
                let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = writeln!(writer, "{text}");
            }
        }
    }
}

/// joblib's short time format, padded as joblib pads it: `  0.3s`, ` 12.5s`, `  2.1min`.
pub(crate) fn format_elapsed(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds >= 60.0 {
        format!("{:5.1}min", seconds / 60.0)
    } else {
        format!("{seconds:5.1}s")
    }
}

/// Reports how many tasks are done, as joblib's `verbose`: nothing at 0, lines at
/// doubling counts from 1 to 9, a line per finished batch from 10 on, and a closing line;
/// `Done N out of M | elapsed | remaining` while the total is known.
pub(crate) struct Progress {
    verbose: u8,
    label: String,
    total: Option<usize>,
    began: Instant,
    next_report: usize,
    sink: LogSink,
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(crate) fn new(verbose: u8, n_jobs: usize, total: Option<usize>, sink: LogSink) -> Self {
        #[cfg(feature = "progress")]
        let bar = (verbose > 0
            && matches!(sink, LogSink::Bar)
            && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| {
            let bar = total.map_or_else(indicatif::ProgressBar::new_spinner, |n| {
                indicatif::ProgressBar::new(n as u64)
            });
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} {wide_bar} {pos}/{len} | elapsed {elapsed_precise} | remaining {eta_precise}",
            ) {
                bar.set_style(style);
            }
            bar.set_message(format!("Parallel(n_jobs={n_jobs})"));
            bar
        });
        Progress {
            verbose,
            label: format!("[Parallel(n_jobs={n_jobs})]"),
            total,
            began: Instant::now(),
            next_report: 1,
            sink,
            #[cfg(feature = "progress")]
            bar,
        }
    }

    /// `done` tasks have finished so far.
    pub(crate) fn update(&mut self, done: usize) {
        if self.verbose == 0 {
            return;
        }
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            return;
        }
        if self.verbose >= 10 || done >= self.next_report {
            self.next_report = done.saturating_mul(2).max(1);
            let took = self.began.elapsed();
            let elapsed = format_elapsed(took);
            let line = match self.total {
                Some(total) if done > 0 && done <= total => {
                    // joblib's estimate: the pace so far, over what is left.
                    let left = took.mul_f64((total - done) as f64 / done as f64);
                    format!(
                        "{}: Done {done:>3} out of {total:>3} | elapsed: {elapsed} remaining: {}",
                        self.label,
                        format_elapsed(left)
                    )
                }
                _ => format!(
                    "{}: Done {done:>3} tasks      | elapsed: {elapsed}",
                    self.label
                ),
            };
            self.sink.line(&line);
        }
    }

    /// Every one of `done` tasks has finished.
    pub(crate) fn finish(&mut self, done: usize) {
        if self.verbose == 0 {
            return;
        }
        // The bar gives way to joblib's closing line, so the report ends with a newline
        // and a record of the run.
        #[cfg(feature = "progress")]
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let total = self.total.unwrap_or(done);
        let elapsed = format_elapsed(self.began.elapsed());
        self.sink.line(&format!(
            "{}: Done {done:>3} out of {total:>3} | elapsed: {elapsed} finished",
            self.label
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(verbose: u8, total: Option<usize>, updates: &[usize]) -> Vec<String> {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = LogSink::Writer(buffer.clone());
        let mut progress = Progress::new(verbose, 2, total, sink);
        for &done in updates {
            progress.update(done);
        }
        progress.finish(*updates.last().unwrap_or(&0));
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn lines_look_like_joblib() {
        let lines = captured(1, Some(40), &[1, 2, 3, 40]);
        assert!(
            lines[0].starts_with(
                "[Parallel(n_jobs=2)]: Done   1 out of  40 | elapsed:   0.0s remaining:"
            ),
            "{lines:?}"
        );
        assert_eq!(lines.len(), 4, "1, 2, 40 and the closing line: {lines:?}");
        assert!(lines[3].ends_with("finished"), "{lines:?}");
        assert!(lines[3].starts_with("[Parallel(n_jobs=2)]: Done  40 out of  40 | elapsed: "));
        let unknown = captured(1, None, &[1]);
        assert!(
            unknown[0].starts_with("[Parallel(n_jobs=2)]: Done   1 tasks      | elapsed:   0.0s"),
            "{unknown:?}"
        );
    }

    #[test]
    fn high_verbosity_reports_every_update_and_zero_nothing() {
        assert_eq!(captured(10, None, &[1, 2, 3]).len(), 4);
        assert!(captured(0, None, &[1, 2, 3]).is_empty());
    }

    #[test]
    fn elapsed_formats() {
        assert_eq!(format_elapsed(Duration::from_millis(300)), "  0.3s");
        assert_eq!(format_elapsed(Duration::from_secs(126)), "  2.1min");
    }
}
