//! The worker's side of giving back a batch: which tasks of a batch sent with `each` it
//! has started, and a thread that listens, while the batch runs, for the parent asking
//! for the rest. A slow task then holds back no task behind it: the parent sends those
//! to an idle worker while this one is still inside the slow task.
//!
//! The task loop claims each task before it starts it; the listener moves the end of
//! the batch to the first task not claimed ([`Cursor`]).

use super::channel::receive_yield;
use crate::backend::remote::Cursor;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// A pipe that wakes the listener when its batch is over.
pub(super) struct Wake {
    read: OwnedFd,
    write: OwnedFd,
}

impl Wake {
    pub(super) fn new() -> io::Result<Wake> {
        let mut fds = [0; 2];
        // SAFETY: `pipe2` writes two descriptors into the array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and belong to nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(Wake { read, write })
    }

    /// Tells the listener to stop.
    pub(super) fn wake(&self) {
        // SAFETY: one byte from a valid buffer to a pipe this struct owns.
        let _ = unsafe { libc::write(self.write.as_raw_fd(), [1_u8].as_ptr().cast(), 1) };
    }
}

/// Listens on `channel` until `wake`: each request to give back ends the batch at the
/// first task not started, and `answer` sends the reply that says where. Returns when
/// woken, or when the channel fails (the parent is gone, or broke the protocol: the
/// task loop finds out on its own when it answers).
pub(super) fn listen(channel: &UnixStream, wake: &Wake, cursor: &Cursor, answer: &dyn Fn(usize)) {
    loop {
        let mut ready = [
            libc::pollfd {
                fd: channel.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid `pollfd`s for descriptors that outlive the call.
        let polled = unsafe { libc::poll(ready.as_mut_ptr(), 2, -1) };
        if polled < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if ready[1].revents != 0 {
            return;
        }
        if ready[0].revents != 0 {
            if receive_yield(&mut { channel }).is_err() {
                return;
            }
            answer(cursor.give_back());
        }
    }
}
