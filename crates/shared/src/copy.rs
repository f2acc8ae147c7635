//! Large copies that keep clear of the one placement that makes them slow.
//!
//! `memcpy` (and the kernel's copy behind `read`) moves large blocks with `rep movsb`,
//! which on the processors measured here runs at a third of its speed when the
//! destination lies just past the source modulo 4 KiB (1 to 31 bytes after it: the
//! stores alias the loads that follow them). That is the usual case for a large vector:
//! glibc hands it out 16 bytes into a page, while the bytes it is filled from start on a
//! page (a mapped region, a stored array's place in its file). 200 MB in 256 KiB steps,
//! measured: 23-26 ms with the two at the same place in their pages or 32 or more bytes
//! apart, 75-103 ms at 8 or 16 bytes apart. Such a copy goes through a small buffer
//! placed [`SAFE_DISTANCE`] bytes past the source instead ([`Bounce`]), so that both of
//! its copies keep their distance (32-37 ms).

/// A destination this many bytes or more past its source (modulo a page) is copied into
/// at full speed, and one at the same place too. Measured slow at 8 and 16 bytes, fast
/// from 32; 64 leaves room for processors whose copies move 64 bytes at a time.
pub const SAFE_DISTANCE: usize = 64;

/// The bytes a step of a copy through a buffer moves: small enough to stay in the cache
/// between its two copies.
pub const STEP: usize = 256 << 10;

const PAGE: usize = 4096;

/// Below this a copy is not worth a second look.
const LARGE: usize = 1 << 20;

/// Whether a copy from the address `source` to the address `destination` runs at full
/// speed.
///
/// ```
/// use parmemo_shared::copy::at_full_speed;
/// assert!(at_full_speed(4096, 8192));
/// assert!(!at_full_speed(4096, 8192 + 16));
/// ```
#[must_use]
pub fn at_full_speed(source: usize, destination: usize) -> bool {
    let distance = destination.wrapping_sub(source) % PAGE;
    distance == 0 || distance >= SAFE_DISTANCE
}

/// A buffer of up to [`STEP`] bytes placed [`SAFE_DISTANCE`] bytes past a source's place
/// within its page, so that copies into it from the source and out of it to a
/// destination just past the source both run at full speed.
///
/// ```
/// use parmemo_shared::copy::{at_full_speed, Bounce};
/// let source = 4096; // where the bytes to copy lie (only the place in a page matters)
/// let mut bounce = Bounce::new(source, 1 << 20);
/// let buffer = bounce.buffer();
/// assert_eq!(buffer.len(), 256 << 10);
/// let at = buffer.as_ptr() as usize;
/// assert!(at_full_speed(source, at) && at_full_speed(at, source + 16));
/// ```
#[derive(Debug)]
pub struct Bounce {
    space: Vec<u8>,
    start: usize,
    len: usize,
}

impl Bounce {
    /// A buffer for a copy of `len` bytes from `source` (an address or an offset with
    /// the same place in its page), taken [`STEP`] bytes at a time.
    #[must_use]
    pub fn new(source: usize, len: usize) -> Self {
        let len = len.min(STEP);
        let space = vec![0_u8; len + PAGE];
        let start = buffer_start(space.as_ptr() as usize, source);
        Bounce { space, start, len }
    }

    /// The buffer itself.
    pub fn buffer(&mut self) -> &mut [u8] {
        &mut self.space[self.start..self.start + self.len]
    }
}

/// Where in an allocation at address `base` a buffer starts that lies `SAFE_DISTANCE`
/// bytes past `source` within its page. Always below 4096: an allocation of the
/// buffer's length plus 4096 holds it.
fn buffer_start(base: usize, source: usize) -> usize {
    let wanted = (source + SAFE_DISTANCE) % PAGE;
    (wanted + PAGE - base % PAGE) % PAGE
}

/// `into.copy_from_slice(from)`, through a buffer when a direct copy would be slow.
///
/// # Panics
/// When the two lengths differ, as `copy_from_slice`.
///
/// ```
/// let from = vec![7_u8; 3 << 20];
/// let mut into = vec![0_u8; 3 << 20];
/// parmemo_shared::copy::copy_bytes(&mut into, &from);
/// assert_eq!(into, from);
/// ```
pub fn copy_bytes(into: &mut [u8], from: &[u8]) {
    assert_eq!(into.len(), from.len(), "copy_bytes: lengths differ");
    let (source, destination) = (from.as_ptr() as usize, into.as_ptr() as usize);
    if from.len() < LARGE || at_full_speed(source, destination) {
        into.copy_from_slice(from);
        return;
    }
    let mut bounce = Bounce::new(source, from.len());
    let buffer = bounce.buffer();
    for (into, from) in into.chunks_mut(STEP).zip(from.chunks(STEP)) {
        let buffer = &mut buffer[..from.len()];
        buffer.copy_from_slice(from);
        into.copy_from_slice(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_just_past_the_source_are_slow() {
        assert!(at_full_speed(0, 0));
        assert!(!at_full_speed(0, 16));
        assert!(!at_full_speed(4090, 4098), "8 bytes past, across a page");
        assert!(at_full_speed(16, 0), "before the source");
        assert!(at_full_speed(0, 64));
    }

    #[test]
    fn the_buffer_keeps_its_distance_from_both_sides() {
        for base in [0, 16, 4000, 4095, 1 << 20] {
            for source in [0, 8, 100, 4064, 4095] {
                let start = buffer_start(base, source);
                assert!(start < PAGE);
                let buffer = base + start;
                assert!(at_full_speed(source, buffer), "{base} {source}");
                for past in [1, 8, 16, 63] {
                    assert!(at_full_speed(buffer, source + past), "{base} {source}");
                }
            }
        }
    }

    #[test]
    #[allow(clippy::cast_possible_truncation)] // bytes below 251
    fn every_placement_copies_the_same_bytes() {
        let len = 2 * STEP + LARGE + 999;
        let data: Vec<u8> = (0..len + 64).map(|i| (i % 251) as u8).collect();
        let mut space = vec![0_u8; len + 64];
        for (from, to) in [(0, 0), (0, 16), (8, 16), (16, 0), (0, 64)] {
            let into = &mut space[to..to + len];
            copy_bytes(into, &data[from..from + len]);
            assert_eq!(into, &data[from..from + len], "{from} -> {to}");
        }
    }
}
