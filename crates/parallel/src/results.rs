//! The iterators `run_iter` and `run_unordered` return.

use crate::backend::{Event, EventSource};
use crate::Error;
use std::collections::BTreeMap;
use std::fmt;

/// Results of [`Parallel::run_iter`](crate::Parallel::run_iter), in input order, each as
/// soon as it and every result before it are done.
///
/// A failure is yielded once as `Err`, then the iterator ends. Dropping it early
/// cancels the tasks that have not started.
pub struct RunIter<R> {
    source: Box<dyn EventSource<R>>,
    waiting: BTreeMap<usize, Vec<R>>,
    current: std::vec::IntoIter<R>,
    next_start: usize,
    over: bool,
}

impl<R> RunIter<R> {
    pub(crate) fn new(source: Box<dyn EventSource<R>>) -> Self {
        RunIter {
            source,
            waiting: BTreeMap::new(),
            current: Vec::new().into_iter(),
            next_start: 0,
            over: false,
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
            if self.over {
                return None;
            }
            if let Some(results) = self.waiting.remove(&self.next_start) {
                self.next_start += results.len();
                self.current = results.into_iter();
                continue;
            }
            match self.source.next_event() {
                Some(Event::Results { start, results }) => {
                    self.waiting.insert(start, results);
                }
                Some(Event::Failed(error)) => {
                    self.over = true;
                    self.source.stop();
                    return Some(Err(error));
                }
                None => {
                    self.over = true;
                    return None;
                }
            }
        }
    }
}

impl<R> fmt::Debug for RunIter<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunIter")
            .field("next_index", &(self.next_start - self.current.len()))
            .field("over", &self.over)
            .finish_non_exhaustive()
    }
}

/// Results of [`Parallel::run_unordered`](crate::Parallel::run_unordered) as
/// `(index, result)` pairs, in the order tasks complete.
///
/// A failure is yielded once as `Err`, then the iterator ends. Dropping it early
/// cancels the tasks that have not started.
pub struct RunUnordered<R> {
    source: Box<dyn EventSource<R>>,
    current: std::iter::Zip<std::ops::RangeFrom<usize>, std::vec::IntoIter<R>>,
    over: bool,
}

impl<R> RunUnordered<R> {
    pub(crate) fn new(source: Box<dyn EventSource<R>>) -> Self {
        RunUnordered {
            source,
            current: (0..).zip(Vec::new()),
            over: false,
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
            if self.over {
                return None;
            }
            match self.source.next_event() {
                Some(Event::Results { start, results }) => {
                    self.current = (start..).zip(results);
                }
                Some(Event::Failed(error)) => {
                    self.over = true;
                    self.source.stop();
                    return Some(Err(error));
                }
                None => {
                    self.over = true;
                    return None;
                }
            }
        }
    }
}

impl<R> fmt::Debug for RunUnordered<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUnordered")
            .field("over", &self.over)
            .finish_non_exhaustive()
    }
}
