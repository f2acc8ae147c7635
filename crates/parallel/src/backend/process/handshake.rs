//! What a parent tells a new worker and how the worker proves who it is: the channel's
//! file descriptor (the child's end of a `socketpair`, inherited and nowhere in the file
//! system) and a random nonce, in one environment variable that the worker consumes
//! before it runs anything; the worker's hello carries its pid and the nonce back.

use std::fmt;
use std::io::Read;

/// The environment variable that makes a process a worker: `<fd>:<nonce in hex>`.
pub(crate) const WORKER_VARIABLE: &str = "PARMEMO_WORKER";

/// The exit status of a process started as a worker that reached pool creation without
/// serving: `init()` did not run first, and no constructor recognised it before `main`.
pub(crate) const INIT_MISSING_EXIT: i32 = 97;

/// What the variable says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invitation {
    pub(crate) fd: i32,
    pub(crate) nonce: u128,
}

impl fmt::Display for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:032x}", self.fd, self.nonce)
    }
}

impl Invitation {
    /// Reads the variable's value; `None` for anything a parent of ours would not write.
    pub(crate) fn parse(value: &str) -> Option<Invitation> {
        let (fd, nonce) = value.split_once(':')?;
        let fd: i32 = fd.parse().ok().filter(|&fd| fd > 2)?;
        if nonce.len() != 32 {
            return None;
        }
        let nonce = u128::from_str_radix(nonce, 16).ok()?;
        Some(Invitation { fd, nonce })
    }
}

/// A fresh nonce from the operating system's random source. Only the parent and the
/// child it starts ever see it (the environment of a process is readable by its own user
/// alone), so a process that did not receive it cannot pass for the worker.
pub(crate) fn fresh_nonce() -> std::io::Result<u128> {
    let mut bytes = [0_u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(u128::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitations_round_trip_and_garbage_is_refused() {
        let invitation = Invitation {
            fd: 5,
            nonce: fresh_nonce().unwrap(),
        };
        assert_eq!(Invitation::parse(&invitation.to_string()), Some(invitation));
        for garbage in [
            "",
            "/tmp/parmemo-1-2/w0-0.sock",
            "5",
            "5:",
            "x:00000000000000000000000000000001",
            "1:00000000000000000000000000000001",
            "5:1",
            "5:zz000000000000000000000000000001",
        ] {
            assert_eq!(Invitation::parse(garbage), None, "{garbage}");
        }
        assert_ne!(fresh_nonce().unwrap(), fresh_nonce().unwrap());
    }
}
