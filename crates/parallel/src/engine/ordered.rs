//! The results of a run that returns them all at once, gathered in input order: every
//! result or the first failure (`map`), or one outcome per task (`map_settled`).

use super::batch::Failure;
use super::dispatch::Event;
use crate::Error;
use std::ops::ControlFlow;

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
            Event::Failed(error) | Event::Settled { error, .. } => {
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

/// Gathers a settled run: each task's own outcome in input order, whatever became of
/// the others. The run's results are the tasks' `Result<R, Failure>` (a task's own
/// failure, caught where it ran); the run adds the tasks it gave up on.
pub(crate) struct SettledResults<R> {
    outcomes: Vec<(usize, Result<R, Error>)>,
    failure: Option<Error>,
}

impl<R> SettledResults<R> {
    pub(crate) fn new() -> Self {
        SettledResults {
            outcomes: Vec::new(),
            failure: None,
        }
    }

    /// Takes one event of the run; breaks only at a failure of the run as a whole.
    pub(crate) fn take(&mut self, event: Event<Result<R, Failure>>) -> ControlFlow<()> {
        match event {
            Event::Results { start, results } => {
                self.outcomes
                    .extend(results.into_iter().enumerate().map(|(offset, result)| {
                        let index = start + offset;
                        let outcome = result.map_err(|Failure { message, error }| Error::Task {
                            index,
                            message,
                            error,
                        });
                        (index, outcome)
                    }));
                ControlFlow::Continue(())
            }
            Event::Settled { index, error } => {
                self.outcomes.push((index, Err(error)));
                ControlFlow::Continue(())
            }
            Event::Failed(error) => {
                self.failure = Some(error);
                ControlFlow::Break(())
            }
        }
    }

    /// One outcome per task in input order, or the failure of the run as a whole.
    pub(crate) fn finish(mut self) -> Result<Vec<Result<R, Error>>, Error> {
        if let Some(error) = self.failure {
            return Err(error);
        }
        self.outcomes.sort_by_key(|(index, _)| *index);
        let mut settled = Vec::with_capacity(self.outcomes.len());
        for (index, outcome) in self.outcomes {
            // Every task is reported exactly once; a gap would shift every later
            // outcome onto the wrong item, so it is filled with what is known of it.
            while settled.len() < index {
                let missing = settled.len();
                settled.push(Err(Error::task(
                    missing,
                    "no outcome was reported for this task (a bug in parmemo: please report it)",
                )));
            }
            if settled.len() == index {
                settled.push(outcome);
            }
        }
        Ok(settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_outcomes_land_on_their_items_in_any_order() {
        let mut collected = SettledResults::new();
        let _ = collected.take(Event::Results {
            start: 2,
            results: vec![Ok(20), Err(Failure::from("bad".to_owned()))],
        });
        let _ = collected.take(Event::Settled {
            index: 1,
            error: Error::Timeout { index: 1 },
        });
        let _ = collected.take(Event::Results {
            start: 0,
            results: vec![Ok(0)],
        });
        let settled = collected.finish().unwrap();
        assert_eq!(settled[0], Ok(0));
        assert_eq!(settled[1], Err(Error::Timeout { index: 1 }));
        assert_eq!(settled[2], Ok(20));
        assert!(
            matches!(&settled[3], Err(Error::Task { index: 3, message, .. }) if message == "bad")
        );
    }
}
