//! zstd for large payloads, behind the feature `zstd` (a C library to build, which a
//! cache that never compresses does not need). Without it nothing is compressed, and an
//! entry another build compressed is unreadable here: a miss, never a wrong value.

/// `bytes` compressed at `level`.
#[cfg(feature = "zstd")]
pub(crate) fn compress(bytes: &[u8], level: i32) -> Result<Vec<u8>, String> {
    zstd::bulk::compress(bytes, level).map_err(|err| format!("zstd: {err}"))
}

/// `bytes` compressed at `level`: never asked for without the feature (`Memory::compress`
/// does not exist then).
#[cfg(not(feature = "zstd"))]
pub(crate) fn compress(_: &[u8], _: i32) -> Result<Vec<u8>, String> {
    Err("this build of parmemo-memory has no feature zstd".to_owned())
}

/// The bytes `compressed` holds.
#[cfg(feature = "zstd")]
pub(crate) fn decompress(compressed: &[u8]) -> Result<Vec<u8>, String> {
    zstd::stream::decode_all(compressed).map_err(|err| format!("undecompressable payload: {err}"))
}

/// An entry compressed by a build with the feature `zstd`: unreadable here.
#[cfg(not(feature = "zstd"))]
pub(crate) fn decompress(_: &[u8]) -> Result<Vec<u8>, String> {
    Err(
        "the entry is compressed with zstd, and this build has no feature zstd (enable \
         parmemo's feature zstd to read it)"
            .to_owned(),
    )
}
