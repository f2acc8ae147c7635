//! Which file systems a cache entry may be mapped on.
//!
//! A mapped entry stays right on a local file system because the store never writes an
//! entry in place: a replaced or removed entry keeps its old inode, and the pages under
//! a mapping with it. A network or FUSE file system does not promise that: another
//! client's rename or removal (its `reduce_size`, its rewrite of the entry) can leave the
//! mapping with stale pages or make a read of it fault (`SIGBUS`), and a FUSE daemon can
//! serve anything. There a hit reads the entry instead, and checks it whole.

use std::fs::File;

/// File systems whose files another host, or a user-space daemon, may change under a
/// mapping (`statfs(2)`'s `f_type`).
const NOT_MAPPED: &[(u64, &str)] = &[
    (0x6969, "NFS"),
    (0x517B, "SMB"),
    (0xFF53_4D42, "CIFS"),
    (0xFE53_4D42, "SMB2"),
    (0x6573_5546, "FUSE (sshfs, bindfs, virtiofs, s3fs, ...)"),
    (0x0BD0_0BD0, "Lustre"),
    (0x4750_4653, "GPFS"),
    (0x0102_1997, "9p"),
    (0x00C3_6400, "Ceph"),
    (0x5346_414F, "AFS"),
    (0x6B41_4653, "kAFS"),
    (0x7375_7245, "Coda"),
    (0x7461_636F, "OCFS2"),
    (0x0116_1970, "GFS2"),
    (0x1983_0326, "BeeGFS"),
    (0x2003_0528, "OrangeFS"),
    (0x0000_564C, "NCP"),
    (UNKNOWN, "a file system statfs could not describe"),
];

/// What a failed `statfs` counts as: not local, so read (magic numbers are 32 bits).
const UNKNOWN: u64 = u64::MAX;

/// The name of the network or user-space file system that holds `file`, if it is one
/// (then its entries are read, not mapped); `None` on a local file system, or where the
/// system cannot tell (not Linux: mapped, as before).
pub(crate) fn shared_file_system(file: &File) -> Option<&'static str> {
    let kind = file_system_kind(file)?;
    NOT_MAPPED
        .iter()
        .find(|(magic, _)| *magic == kind)
        .map(|(_, name)| *name)
}

// `None` stands for "cannot tell" on other systems; on Linux there is always an answer.
#[cfg(target_os = "linux")]
#[allow(clippy::unnecessary_wraps)]
fn file_system_kind(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut status = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `fstatfs` writes the struct it is given, for a descriptor this borrow keeps
    // open; the result is checked before the struct is read.
    #[allow(unsafe_code)]
    let status = unsafe {
        if libc::fstatfs(file.as_raw_fd(), status.as_mut_ptr()) != 0 {
            return Some(UNKNOWN);
        }
        status.assume_init()
    };
    // `f_type`'s width and sign differ between architectures; the magic numbers are 32
    // bits wide.
    #[allow(
        clippy::cast_sign_loss,
        clippy::cast_lossless,
        clippy::unnecessary_cast
    )]
    Some(status.f_type as u64 & 0xFFFF_FFFF)
}

#[cfg(not(target_os = "linux"))]
fn file_system_kind(_: &File) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_directory_is_local() {
        let file = tempfile::tempfile().unwrap();
        // The tests' TMPDIR is a local file system on every machine that runs them.
        assert_eq!(shared_file_system(&file), None);
    }
}
