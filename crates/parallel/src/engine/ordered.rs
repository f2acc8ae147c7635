//! The results of a run that returns them all at once, gathered in input order.

use super::dispatch::Event;
use crate::Error;

/// Gathers a run's batches for the calls that return every result at once (`run`,
/// `map` and their fallible forms, on any backend): results in input order, or the first
/// failure observed.
pub(crate) struct OrderedResults<R> {
    chunks: Vec<(usize, Vec<R>)>,
    failure: Option<Error>,
}

impl<R> OrderedResults<R> {
    pub(crate) fn new() -> Self {
        OrderedResults {
            chunks: Vec::new(),
            failure: None,
        }
    }

    /// Takes one event of the run; breaks at the first failure.
    pub(crate) fn take(&mut self, event: Event<R>) -> std::ops::ControlFlow<()> {
        match event {
            Event::Results { start, results } => {
                self.chunks.push((start, results));
                std::ops::ControlFlow::Continue(())
            }
            Event::Failed(error) => {
                self.failure = Some(error);
                std::ops::ControlFlow::Break(())
            }
        }
    }

    /// Every result in input order, or the failure.
    pub(crate) fn finish(mut self) -> Result<Vec<R>, Error> {
        if let Some(error) = self.failure {
            return Err(error);
        }
        self.chunks.sort_unstable_by_key(|(start, _)| *start);
        let mut ordered = Vec::with_capacity(self.chunks.iter().map(|(_, c)| c.len()).sum());
        for (_, chunk) in self.chunks {
            ordered.extend(chunk);
        }
        Ok(ordered)
    }
}
