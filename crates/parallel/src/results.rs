//! The iterators `run_iter` and `run_unordered` return.

use crate::engine::{Event, EventSource};
use crate::Error;
use std::collections::BTreeMap;
use std::fmt;

/// The events of a run as a stream of batches that ends after the first failure: what
/// both result iterators are built on.
struct Batches<R> {
    source: Box<dyn EventSource<R>>,
    over: bool,
}

impl<R> Batches<R> {
    fn new(source: Box<dyn EventSource<R>>) -> Self {
        Batches {
            source,
            over: false,
        }
    }

    /// The next finished batch as `(start, results)`, or the run's failure (after which
    /// nothing more comes and the rest of the run is cancelled).
    fn next_batch(&mut self) -> Option<Result<(usize, Vec<R>), Error>> {
        if self.over {
            return None;
        }
        match self.source.next_event() {
            Some(Event::Results { start, results }) => Some(Ok((start, results))),
            // Streams are never settled; should one be, its first failure ends it.
            Some(Event::Failed(error) | Event::Settled { error, .. }) => {
                self.over = true;
                self.source.stop();
                Some(Err(error))
            }
            None => {
                self.over = true;
                None
            }
        }
    }
}

/// Results of [`Parallel::run_iter`](crate::Parallel::run_iter), in input order, each as
/// soon as it and every result before it are done.
///
/// A failure is yielded once as `Err`, then the iterator ends. Dropping it early
/// cancels the tasks that have not started.
pub struct RunIter<R> {
    batches: Batches<R>,
    waiting: BTreeMap<usize, Vec<R>>,
    current: std::vec::IntoIter<R>,
    next_start: usize,
}

impl<R> RunIter<R> {
    pub(crate) fn new(source: Box<dyn EventSource<R>>) -> Self {
        RunIter {
            batches: Batches::new(source),
            waiting: BTreeMap::new(),
            current: Vec::new().into_iter(),
            next_start: 0,
        }
    }
}

impl<R> Iterator for RunIter<R> {
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(result) = self.current.next() {
                return Some(Ok(result));
            }
            if let Some(results) = self.waiting.remove(&self.next_start) {
                self.next_start += results.len();
                self.current = results.into_iter();
                continue;
            }
            match self.batches.next_batch()? {
                Ok((start, results)) => {
                    self.waiting.insert(start, results);
                }
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

impl<R> fmt::Debug for RunIter<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunIter")
            .field("next_index", &(self.next_start - self.current.len()))
            .field("over", &self.batches.over)
            .finish_non_exhaustive()
    }
}

/// Results of [`Parallel::run_unordered`](crate::Parallel::run_unordered) as
/// `(index, result)` pairs, in the order tasks complete.
///
/// A failure is yielded once as `Err`, then the iterator ends. Dropping it early
/// cancels the tasks that have not started.
pub struct RunUnordered<R> {
    batches: Batches<R>,
    current: std::iter::Zip<std::ops::RangeFrom<usize>, std::vec::IntoIter<R>>,
}

impl<R> RunUnordered<R> {
    pub(crate) fn new(source: Box<dyn EventSource<R>>) -> Self {
        RunUnordered {
            batches: Batches::new(source),
            current: (0..).zip(Vec::new()),
        }
    }
}

impl<R> Iterator for RunUnordered<R> {
    type Item = Result<(usize, R), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(pair) = self.current.next() {
                return Some(Ok(pair));
            }
            match self.batches.next_batch()? {
                Ok((start, results)) => self.current = (start..).zip(results),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

impl<R> fmt::Debug for RunUnordered<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUnordered")
            .field("over", &self.batches.over)
            .finish_non_exhaustive()
    }
}
