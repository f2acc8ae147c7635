//! Reading a stored array from its file into a new vector, hashing it on the way, at
//! the speed of the kernel's copy.
//!
//! The kernel's copy slows to a third where the vector lies just past the stored bytes
//! within a page, the usual placement of a large vector against a page-aligned array
//! (see `parmemo_shared::copy`): the bytes then go through a buffer placed where both
//! copies run at full speed. 200 MB: 80-87 ms read straight in at 16 bytes apart,
//! 32-37 ms through the buffer, 23-26 ms straight in at a good distance.

use parmemo_shared::copy::{at_full_speed, Bounce, STEP as CHUNK};
use std::fs::File;
use std::hash::Hasher;
use std::os::unix::fs::FileExt;
use twox_hash::XxHash3_64;

const PAGE: usize = 4096;

/// Fills `into` from `file` at `offset`, hashing what is read.
pub(crate) fn read_hashed(
    file: &File,
    offset: u64,
    into: &mut [u8],
    hasher: &mut XxHash3_64,
) -> std::io::Result<()> {
    // Where the bytes lie in the page cache: only their place within a page matters,
    // which truncating the offset keeps.
    #[allow(clippy::cast_possible_truncation)]
    let source = offset as usize % PAGE;
    if at_full_speed(source, into.as_ptr() as usize) {
        let mut at = offset;
        for chunk in into.chunks_mut(CHUNK) {
            file.read_exact_at(chunk, at)?;
            hasher.write(chunk);
            at += chunk.len() as u64;
        }
        return Ok(());
    }
    let mut bounce = Bounce::new(source, into.len());
    let buffer = bounce.buffer();
    let mut at = offset;
    for chunk in into.chunks_mut(CHUNK) {
        let read = &mut buffer[..chunk.len()];
        file.read_exact_at(read, at)?;
        hasher.write(read);
        chunk.copy_from_slice(read);
        at += chunk.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    #[allow(clippy::cast_possible_truncation)] // bytes below 253
    fn every_placement_reads_and_hashes_the_same_bytes() {
        let data: Vec<u8> = (0..3 * CHUNK + 999).map(|i| (i * 7 % 253) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let expected = XxHash3_64::oneshot(&data[4096..]);
        let mut space = vec![0_u8; data.len()];
        for shift in [0, 8, 16, 64] {
            let into = &mut space[shift..shift + data.len() - 4096];
            let mut hasher = XxHash3_64::new();
            read_hashed(&file, 4096, into, &mut hasher).unwrap();
            assert_eq!(hasher.finish(), expected, "shift {shift}");
            assert_eq!(into, &data[4096..], "shift {shift}");
        }
        let mut past_the_end = vec![0_u8; data.len()];
        let mut hasher = XxHash3_64::new();
        assert!(read_hashed(&file, 10, &mut past_the_end, &mut hasher).is_err());
    }
}
