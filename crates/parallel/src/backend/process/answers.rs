//! A worker's answers to a batch sent with `each`: each task's result goes to the parent
//! soon after its task ends, but not in a message of its own. A message costs a few
//! microseconds on each side, far more than a tiny task, so the results that end within
//! `GATHER` of the first one waiting travel together. A thread of the worker sends them,
//! so that a long task never holds back the results that ended before it. When nothing
//! has been answered for `LISTEN_AFTER` (a long task), it also starts the thread that
//! listens for the parent asking for the tasks not started (`yielding.rs`): batches of
//! quick tasks, which nobody asks back, pay for no thread and no pipe.

use super::channel::send_reply;
use super::yielding::{listen, Wake};
use crate::backend::remote::wire::{framed, Payload, Reply};
use crate::backend::remote::Cursor;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::Scope;
use std::time::{Duration, Instant};

/// How long a result may wait for others to travel with it.
const GATHER: Duration = Duration::from_millis(1);

/// How long the batch may answer nothing before a listener starts: well below the quiet
/// after which a parent asks (`YIELD_AFTER`, 100 ms), and a request sent before it
/// starts waits in the channel meanwhile.
const LISTEN_AFTER: Duration = Duration::from_millis(20);

/// The listener of a batch: the pipe that stops it once it started, whether it still
/// runs, and whether it may still start.
#[derive(Default)]
struct Listener {
    wake: Option<Arc<Wake>>,
    running: bool,
    closed: bool,
}

#[derive(Default)]
struct Waiting {
    results: Vec<Payload>,
    /// Replies about the batch itself (where it was given back), sent at once.
    control: Vec<Reply>,
    since: Option<Instant>,
    finished: bool,
    broken: bool,
}

/// The results waiting to be sent, shared by the task loop and the sending thread, and
/// the batch's listener.
#[derive(Default)]
pub(super) struct Answers {
    waiting: Mutex<Waiting>,
    changed: Condvar,
    listener: Mutex<Listener>,
    listener_ended: Condvar,
}

impl Answers {
    /// Runs `work` (the task loop, handed a way to answer each result), while a thread
    /// sends the results on `channel`; returns once every result answered was sent (or
    /// the channel broke), so that the reply closing the batch comes after them. With a
    /// `cursor`, a third thread listens meanwhile for the parent asking for the tasks
    /// not started (see `yielding.rs`), and is gone before this returns.
    pub(super) fn gathered<T>(
        channel: &UnixStream,
        cursor: Option<&Cursor>,
        work: impl FnOnce(&mut dyn FnMut(Payload) -> bool) -> T,
    ) -> T {
        let answers = Answers::default();
        answers.listening().closed = cursor.is_none();
        std::thread::scope(|scope| {
            let answers = &answers;
            let start_listener = move || {
                if let Some(cursor) = cursor {
                    answers.start_listener(scope, channel, cursor);
                }
            };
            let sender = scope.spawn(move || answers.send_all(channel, &start_listener));
            // Ends the other threads even if `work` unwinds: the scope joins them.
            let finish = Finish(answers);
            let outcome = work(&mut |result| answers.answer(result));
            // The listener goes first: a reply it queued is sent before the sender ends.
            drop(finish);
            let _ = sender.join();
            outcome
        })
    }

    fn listening(&self) -> std::sync::MutexGuard<'_, Listener> {
        self.listener.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the listener of a batch, unless it runs or the batch is over. Without a
    /// pipe to stop it, none starts: the batch just cannot be given back.
    fn start_listener<'scope, 'env>(
        &'env self,
        scope: &'scope Scope<'scope, 'env>,
        channel: &'env UnixStream,
        cursor: &'env Cursor,
    ) {
        let mut listener = self.listening();
        if listener.closed || listener.wake.is_some() {
            return;
        }
        let Ok(wake) = Wake::new() else {
            listener.closed = true;
            return;
        };
        let wake = Arc::new(wake);
        let woken = Arc::clone(&wake);
        listener.wake = Some(wake);
        listener.running = true;
        scope.spawn(move || {
            listen(channel, &woken, cursor, &|from| {
                self.control(Reply::Yielded { from });
            });
            self.listening().running = false;
            self.listener_ended.notify_all();
        });
    }

    /// Stops the listener, if it started, and waits until it has ended; none starts
    /// after.
    fn stop_listener(&self) {
        let mut listener = self.listening();
        listener.closed = true;
        if let Some(wake) = &listener.wake {
            wake.wake();
        }
        while listener.running {
            listener = self
                .listener_ended
                .wait(listener)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Queues a reply about the batch, sent ahead of any gathering.
    fn control(&self, reply: Reply) {
        let mut waiting = self.lock();
        waiting.control.push(reply);
        self.changed.notify_one();
    }

    /// Queues one result; false once the parent can no longer be told.
    fn answer(&self, result: Payload) -> bool {
        let mut waiting = self.lock();
        if waiting.broken {
            return false;
        }
        if waiting.results.is_empty() {
            waiting.since = Some(Instant::now());
            self.changed.notify_one();
        }
        waiting.results.push(result);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sending thread: waits for a first result, gathers for up to `GATHER` more,
    /// sends them as one reply; until the task loop is over and nothing waits. Each
    /// `LISTEN_AFTER` of waiting with nothing to send, it calls `quiet`.
    fn send_all(&self, channel: &UnixStream, quiet: &dyn Fn()) {
        let mut channel = channel;
        loop {
            let mut waiting = self.lock();
            while waiting.results.is_empty() && waiting.control.is_empty() && !waiting.finished {
                let (now, timed_out) = self
                    .changed
                    .wait_timeout(waiting, LISTEN_AFTER)
                    .unwrap_or_else(PoisonError::into_inner);
                waiting = now;
                if timed_out.timed_out() {
                    drop(waiting);
                    quiet();
                    waiting = self.lock();
                }
            }
            let control = std::mem::take(&mut waiting.control);
            if !control.is_empty() {
                drop(waiting);
                for reply in &control {
                    if send_reply(&mut channel, reply).is_err() {
                        self.lock().broken = true;
                        return;
                    }
                }
                continue;
            }
            if waiting.results.is_empty() {
                return;
            }
            let since = waiting.since.unwrap_or_else(Instant::now);
            while !waiting.finished {
                let left = GATHER.saturating_sub(since.elapsed());
                if left.is_zero() {
                    break;
                }
                waiting = self
                    .changed
                    .wait_timeout(waiting, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            let results = std::mem::take(&mut waiting.results);
            drop(waiting);
            if send_reply(&mut channel, &Reply::Partial(framed(results))).is_err() {
                self.lock().broken = true;
                return;
            }
        }
    }
}

/// Stops the listener (none may start after) and waits for it, then tells the sending
/// thread that no more results come.
struct Finish<'a>(&'a Answers);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.stop_listener();
        self.0.lock().finished = true;
        self.0.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::super::channel::receive_reply;
    use super::*;
    use crate::backend::remote::wire::unframed;

    #[test]
    fn results_come_in_order_gathered_and_before_the_loop_returns() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let returned = Answers::gathered(&theirs, None, |answer| {
            for i in 0..1000_u32 {
                assert!(answer(Payload::plain(i.to_le_bytes().to_vec())));
            }
            // A slow last task: the results before it go ahead of it.
            std::thread::sleep(Duration::from_millis(50));
            assert!(answer(Payload::plain(vec![9])));
            "done"
        });
        assert_eq!(returned, "done");
        drop(theirs);
        let mut received = Vec::new();
        let mut replies = 0;
        while let Ok(Reply::Partial(results)) = receive_reply(&mut &ours) {
            replies += 1;
            received.extend(
                unframed(results)
                    .unwrap()
                    .into_iter()
                    .map(|part| part.bytes),
            );
        }
        let mut expected: Vec<Vec<u8>> = (0..1000_u32).map(|i| i.to_le_bytes().to_vec()).collect();
        expected.push(vec![9]);
        assert_eq!(received, expected);
        assert!(replies >= 2, "the slow task's result went alone");
        assert!(replies < 100, "{replies} replies for 1001 results");
    }

    #[test]
    fn a_broken_channel_stops_the_answers() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(ours);
        let stopped = Answers::gathered(&theirs, None, |answer| {
            (0..10_000)
                .take_while(|_| {
                    std::thread::sleep(Duration::from_micros(200));
                    answer(Payload::plain(vec![1]))
                })
                .count()
        });
        assert!(stopped < 10_000, "the loop went on after the parent left");
    }
}
