//! A batch answered task by task (`run_unordered`), whose tasks any thread may claim,
//! one at a time: what keeps a slow task from holding back the quick tasks batched
//! behind it. The batch goes to the pool twice, as its owner and a helper; whichever
//! thread gets there takes the next task, so once one thread is held by a slow task
//! another takes the rest of its batch. Each task is reported as it ends (`last:
//! false`); whoever ends the last task closes the batch. Under a timeout the batch has
//! one slot naming its running task, so it has no helper.

use super::batch::{Batch, Completion, Outcome, Running};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// The tasks of one batch, claimable by any thread.
pub(crate) struct Claimable<J> {
    start: usize,
    len: usize,
    jobs: Mutex<std::iter::Enumerate<std::vec::IntoIter<J>>>,
    /// The timeout's slot, which names the one task running.
    running: Option<Arc<Running>>,
    /// Tasks not yet ended, by whoever claimed them.
    unfinished: AtomicUsize,
    /// Set by the first failure, which closes the batch: nothing more is claimed.
    closed: AtomicBool,
    /// When a thread first took a task: the batch's duration is counted from there, as
    /// a batch run whole counts its own (the sizing reads it).
    began: OnceLock<Instant>,
}

impl<J> Claimable<J> {
    /// The tasks of `batch`.
    pub(crate) fn new(batch: Batch<J>) -> Self {
        let len = batch.jobs.len();
        Claimable {
            start: batch.start,
            len,
            jobs: Mutex::new(batch.jobs.into_iter().enumerate()),
            running: batch.running,
            unfinished: AtomicUsize::new(len),
            closed: AtomicBool::new(false),
            began: OnceLock::new(),
        }
    }

    /// Whether a second thread may take tasks of this batch: when it has several, and no
    /// timeout slot (a slot names one running task, and two threads would each run one).
    pub(crate) fn wants_help(&self) -> bool {
        self.len > 1 && self.running.is_none()
    }

    fn claim(&self) -> Option<(usize, J)> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        // Nothing panics while the lock is held.
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next()
    }

    /// Runs tasks of this batch with `run_one` until none is left to claim, reporting
    /// each as it ends.
    pub(crate) fn drain<R>(
        &self,
        run_one: &impl Fn(Batch<J>) -> Completion<R>,
        report: &impl Fn(Completion<R>),
    ) {
        let began = *self.began.get_or_init(Instant::now);
        while let Some((offset, job)) = self.claim() {
            let mut completion = run_one(Batch {
                start: self.start + offset,
                jobs: vec![job],
                running: self.running.clone(),
            });
            if !matches!(completion.outcome, Outcome::Done(_)) {
                // A failure (or a cancellation) ends the batch: reported once, closing it.
                if !self.closed.swap(true, Ordering::AcqRel) {
                    completion.start = self.start;
                    completion.len = self.len;
                    completion.elapsed = began.elapsed();
                    report(completion);
                }
                return;
            }
            completion.last = false;
            report(completion);
            if self.unfinished.fetch_sub(1, Ordering::AcqRel) == 1
                && !self.closed.load(Ordering::Acquire)
            {
                report(Completion {
                    start: self.start,
                    len: self.len,
                    elapsed: began.elapsed(),
                    outcome: Outcome::Done(Vec::new()),
                    last: true,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn two_threads_share_a_batch_and_close_it_once() {
        let claimable = Arc::new(Claimable::new(Batch {
            start: 100,
            jobs: (0..1000_u32).collect(),
            running: None,
        }));
        let reports = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (claimable, reports) = (Arc::clone(&claimable), Arc::clone(&reports));
                std::thread::spawn(move || {
                    claimable.drain(
                        &|batch: Batch<u32>| Completion {
                            start: batch.start,
                            len: 1,
                            elapsed: std::time::Duration::ZERO,
                            outcome: Outcome::Done(batch.jobs),
                            last: true,
                        },
                        &|completion: Completion<u32>| {
                            reports.lock().unwrap().push(completion);
                        },
                    );
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let reports = reports.lock().unwrap();
        let closing: Vec<_> = reports.iter().filter(|c| c.last).collect();
        assert_eq!(closing.len(), 1);
        assert_eq!((closing[0].start, closing[0].len), (100, 1000));
        let mut seen: Vec<u32> = reports
            .iter()
            .filter(|c| !c.last)
            .flat_map(|c| match &c.outcome {
                Outcome::Done(values) => {
                    assert_eq!(c.start, 100 + values[0] as usize);
                    values.clone()
                }
                _ => panic!("only results"),
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }
}
