//! Which tasks of a batch answered task by task a worker has started, shared by the
//! loop that runs them and whoever gives the rest back while a task runs (a listening
//! thread in a worker process, the MPI thread of a rank). Both change one atomic word,
//! so a task is either started where it was sent or given back, never both and never
//! neither.

use std::sync::atomic::{AtomicU64, Ordering};

/// The next task to start (low half) and the end of the batch here (high half).
pub(crate) struct Cursor(AtomicU64);

fn pack(next: u32, end: u32) -> u64 {
    u64::from(end) << 32 | u64::from(next)
}

fn unpack(word: u64) -> (u32, u32) {
    // The halves of a packed word: truncation is the point.
    #[allow(clippy::cast_possible_truncation)]
    ((word & u64::from(u32::MAX)) as u32, (word >> 32) as u32)
}

impl Cursor {
    pub(crate) fn new() -> Cursor {
        Cursor(AtomicU64::new(pack(0, u32::MAX)))
    }

    /// Whether task `offset` (the next one, in order) may start here.
    pub(crate) fn claim(&self, offset: usize) -> bool {
        let Ok(offset) = u32::try_from(offset) else {
            return false;
        };
        let mut word = self.0.load(Ordering::Acquire);
        loop {
            let (_, end) = unpack(word);
            if offset >= end {
                return false;
            }
            match self.0.compare_exchange_weak(
                word,
                pack(offset + 1, end),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// Ends the batch here at the first task not started; returns its offset.
    pub(crate) fn give_back(&self) -> usize {
        let mut word = self.0.load(Ordering::Acquire);
        loop {
            let (next, end) = unpack(word);
            match self.0.compare_exchange_weak(
                word,
                pack(next, next.min(end)),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return next as usize,
                Err(now) => word = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_either_started_or_given_back() {
        let cursor = Cursor::new();
        assert!(cursor.claim(0));
        assert!(cursor.claim(1));
        assert_eq!(cursor.give_back(), 2);
        assert!(!cursor.claim(2));
        assert_eq!(cursor.give_back(), 2, "asked twice: the same answer");
        let racing = Cursor::new();
        std::thread::scope(|scope| {
            let claimer = scope.spawn(|| (0..100_000).take_while(|&i| racing.claim(i)).count());
            std::thread::yield_now();
            let from = racing.give_back();
            assert_eq!(claimer.join().unwrap(), from);
        });
    }
}
