//! Reading a stored array from its file into a new vector, hashing it on the way, at
//! the speed of the kernel's copy.
//!
//! The kernel copies the page cache into the vector with `rep movsb`, which on the
//! processors measured here runs at a third of its speed when the destination lies just
//! past the source modulo 4 KiB (1 to 31 bytes after it: the stores alias the loads that
//! follow). That is the usual case: the allocator hands out a large vector 16 bytes into
//! a page, and a stored array starts on a page of its file. 200 MB in 256 KiB reads,
//! measured: 23-26 ms with the two at the same place in their pages or 32 or more bytes
//! apart, 80-87 ms at 8 or 16 bytes apart; glibc's `memcpy` the same (75-103 ms). Where
//! the vector lies that way, the bytes go through a buffer placed 64 bytes after the
//! source, so that both copies keep their distance (32-37 ms).

use std::fs::File;
use std::hash::Hasher;
use std::os::unix::fs::FileExt;
use twox_hash::XxHash3_64;

/// Bytes read, hashed and written per step: small enough that the hash reads them from
/// the cache the copy left them in.
const CHUNK: usize = 256 << 10;

/// A destination this many bytes or more past the source (modulo a page) is copied
/// into at full speed; 0 too. Measured slow at 8 and 16, fast from 32; 64 leaves room
/// for processors whose copies move 64 bytes at a time.
const SAFE_DISTANCE: usize = 64;

const PAGE: usize = 4096;

/// Fills `into` from `file` at `offset`, hashing what is read.
pub(crate) fn read_hashed(
    file: &File,
    offset: u64,
    into: &mut [u8],
    hasher: &mut XxHash3_64,
) -> std::io::Result<()> {
    // Only the places within a page matter: truncating the offset keeps them.
    #[allow(clippy::cast_possible_truncation)]
    let source = offset as usize % PAGE;
    if copies_at_full_speed(source, into.as_ptr() as usize % PAGE) {
        let mut at = offset;
        for chunk in into.chunks_mut(CHUNK) {
            file.read_exact_at(chunk, at)?;
            hasher.write(chunk);
            at += chunk.len() as u64;
        }
        return Ok(());
    }
    let mut space = vec![0_u8; CHUNK.min(into.len()) + 2 * PAGE];
    let start = buffer_start(space.as_ptr() as usize, source);
    let buffer = &mut space[start..start + CHUNK.min(into.len())];
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

/// Whether a copy from `source` to `destination` (their places within a page) runs at
/// full speed.
fn copies_at_full_speed(source: usize, destination: usize) -> bool {
    let distance = (destination + PAGE - source) % PAGE;
    distance == 0 || distance >= SAFE_DISTANCE
}

/// Where in an allocation at `base` a buffer starts that lies `SAFE_DISTANCE` bytes past
/// `source` within its page: the read into it and the copy out of it (to a destination
/// just past the source) both keep their distance. Within the first `PAGE` bytes.
fn buffer_start(base: usize, source: usize) -> usize {
    let wanted = (source + SAFE_DISTANCE) % PAGE;
    (wanted + PAGE - base % PAGE) % PAGE
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn distances_just_past_the_source_are_slow() {
        assert!(copies_at_full_speed(0, 0));
        assert!(!copies_at_full_speed(0, 16));
        assert!(
            !copies_at_full_speed(4090, 2),
            "8 bytes past, across the page"
        );
        assert!(copies_at_full_speed(16, 0), "before the source");
        assert!(copies_at_full_speed(0, 64));
    }

    #[test]
    fn the_buffer_keeps_its_distance_from_both_sides() {
        for base in [0, 16, 4000, 4095, 1 << 20] {
            for source in [0, 8, 100, 4064, 4095] {
                let start = buffer_start(base, source);
                assert!(start < PAGE);
                let buffer = (base + start) % PAGE;
                assert!(copies_at_full_speed(source, buffer), "{base} {source}");
                let destination = (source + 16) % PAGE;
                assert!(copies_at_full_speed(buffer, destination), "{base} {source}");
            }
        }
    }

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
