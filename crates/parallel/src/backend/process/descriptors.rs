//! File descriptors passed over a Unix socket with the bytes of a frame (`SCM_RIGHTS`):
//! how a worker process receives the memory of a `Shared` array instead of a copy.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// Writes `bytes` with `descriptors` attached to their first byte.
pub(crate) fn send(
    stream: &UnixStream,
    bytes: &[u8],
    descriptors: &[BorrowedFd<'_>],
) -> io::Result<()> {
    if descriptors.is_empty() || bytes.is_empty() {
        return (&mut &*stream).write_all(bytes);
    }
    let raw: Vec<RawFd> = descriptors.iter().map(AsRawFd::as_raw_fd).collect();
    let payload = size_of_val(raw.as_slice());
    let length = u32::try_from(payload).map_err(io::Error::other)?;
    // SAFETY: computing a size has no preconditions.
    let space = unsafe { libc::CMSG_SPACE(length) } as usize;
    let mut control = vec![0_u8; space];
    let mut part = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    let message = message(&mut part, &mut control);
    // SAFETY: `message` points at a control buffer of `CMSG_SPACE(payload)` bytes, which
    // holds one header and `payload` bytes of data: the first header is inside it.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&raw const message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(length) as _;
        std::ptr::copy_nonoverlapping(raw.as_ptr().cast::<u8>(), libc::CMSG_DATA(header), payload);
    }
    let sent = retried(|| {
        // SAFETY: a valid socket and a message whose buffers outlive the call; the
        // descriptors are open (borrowed for the call).
        unsafe { libc::sendmsg(stream.as_raw_fd(), &raw const message, libc::MSG_NOSIGNAL) }
    })?;
    // The descriptors went with the first byte; the rest, if the kernel took less, follows.
    (&mut &*stream).write_all(&bytes[sent..])
}

/// The count a system call returned, called again when a signal interrupted it.
fn retried(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let count = call();
        if count >= 0 {
            return Ok(count.unsigned_abs());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Reads exactly `into.len()` bytes, and the descriptors (at most `limit`) that came with
/// them, close-on-exec.
pub(crate) fn receive(
    stream: &UnixStream,
    into: &mut [u8],
    limit: usize,
) -> io::Result<Vec<OwnedFd>> {
    if into.is_empty() {
        return Ok(Vec::new());
    }
    let payload = limit * size_of::<RawFd>();
    // SAFETY: computing a size has no preconditions.
    let space =
        unsafe { libc::CMSG_SPACE(u32::try_from(payload).map_err(io::Error::other)?) } as usize;
    let mut control = vec![0_u8; space];
    let mut part = libc::iovec {
        iov_base: into.as_mut_ptr().cast(),
        iov_len: into.len(),
    };
    let mut message = message(&mut part, &mut control);
    let received = retried(|| {
        // SAFETY: a valid socket and a message whose buffers outlive the call.
        unsafe { libc::recvmsg(stream.as_raw_fd(), &raw mut message, libc::MSG_CMSG_CLOEXEC) }
    })?;
    let descriptors = taken(&message);
    if message.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other(
            "more descriptors came than a frame may carry",
        ));
    }
    if received == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    (&mut &*stream).read_exact(&mut into[received..])?;
    Ok(descriptors)
}

/// A message of one part and a control buffer; both must outlive its use.
fn message(part: &mut libc::iovec, control: &mut [u8]) -> libc::msghdr {
    // SAFETY: an all-zero msghdr is a valid empty one.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = part;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = control.len() as _;
    message
}

/// The descriptors in a received message's control data, owned from here on.
fn taken(message: &libc::msghdr) -> Vec<OwnedFd> {
    let mut descriptors = Vec::new();
    // SAFETY: walking the control data the kernel wrote into the buffer `message`
    // describes, with the macros made for it; each descriptor in an `SCM_RIGHTS`
    // message is new in this process and owned by nothing else.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(message);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(header);
                let bytes = (*header).cmsg_len as usize - (data as usize - header as usize);
                for i in 0..bytes / size_of::<RawFd>() {
                    let fd = data
                        .add(i * size_of::<RawFd>())
                        .cast::<RawFd>()
                        .read_unaligned();
                    descriptors.push(OwnedFd::from_raw_fd(fd));
                }
            }
            header = libc::CMSG_NXTHDR(message, header);
        }
    }
    descriptors
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Seek;
    use std::os::fd::AsFd;

    #[test]
    fn descriptors_cross_with_their_bytes() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut file = tempfile_in_memory();
        file.write_all(b"hello").unwrap();
        send(&ours, b"12345678", &[file.as_fd()]).unwrap();
        send(&ours, b"abc", &[]).unwrap();
        let mut into = [0; 8];
        let received = receive(&theirs, &mut into, 4).unwrap();
        assert_eq!(&into, b"12345678");
        assert_eq!(received.len(), 1);
        let mut same = File::from(received.into_iter().next().unwrap());
        same.rewind().unwrap();
        let mut text = String::new();
        same.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
        let mut rest = [0; 3];
        assert!(receive(&theirs, &mut rest, 4).unwrap().is_empty());
        assert_eq!(&rest, b"abc");
        drop(ours);
        assert_eq!(
            receive(&theirs, &mut rest, 4).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn more_descriptors_than_allowed_is_an_error() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let files: Vec<File> = (0..3).map(|_| tempfile_in_memory()).collect();
        let borrowed: Vec<BorrowedFd<'_>> = files.iter().map(AsFd::as_fd).collect();
        send(&ours, b"x", &borrowed).unwrap();
        let mut into = [0; 1];
        assert!(receive(&theirs, &mut into, 2).is_err());
    }

    fn tempfile_in_memory() -> File {
        // SAFETY: a valid name and flags; the result is checked.
        let fd = unsafe { libc::memfd_create(c"test".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: a new descriptor owned by nothing else.
        unsafe { File::from_raw_fd(fd) }
    }
}
