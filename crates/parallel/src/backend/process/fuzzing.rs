//! What the fuzz targets (`fuzz/`, feature `fuzzing`) and this crate's property tests
//! feed arbitrary bytes to: every decoder of what a worker or a parent reads from the
//! other end of its channel, and of what an MPI rank receives.

use super::channel::{receive_reply, receive_request, Channel};
use crate::backend::remote::decode_values;
use crate::backend::remote::wire::{unframed, Payload};
use parmemo_shared::Shared;
use std::io::{self, Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};

/// A channel that reads `data` and carries no descriptors.
struct Bytes<'a>(&'a [u8]);

impl Read for Bytes<'_> {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        self.0.read(into)
    }
}

impl Write for Bytes<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Channel for Bytes<'_> {
    fn write_with(&mut self, _: &[u8], _: &[BorrowedFd<'_>]) -> io::Result<()> {
        Ok(())
    }

    fn read_with(&mut self, into: &mut [u8]) -> io::Result<Vec<OwnedFd>> {
        self.0.read_exact(into)?;
        Ok(Vec::new())
    }
}

/// Reads `data` as a worker reads requests and as a parent reads replies (the hello
/// among them), frame after frame; as a framed batch; as the values of a batch of a few
/// argument types; and, with the feature `mpi`, as an MPI rank's header and payload.
/// Never panics, aborts, or allocates what the bytes claim.
pub fn wire(data: &[u8]) {
    let mut requests = Bytes(data);
    while receive_request(&mut requests).is_ok() {}
    let mut replies = Bytes(data);
    while receive_reply(&mut replies).is_ok() {}
    if let Ok(parts) = unframed(Payload {
        bytes: data.to_vec(),
        attached: Vec::new(),
    }) {
        for part in parts {
            values(&part.bytes);
        }
    }
    values(data);
    #[cfg(feature = "mpi")]
    {
        let split = data.len() / 2;
        let _ = crate::backend::remote::wire::request_from_parts(
            &data[..split],
            data[split..].to_vec(),
            |_| Ok(parmemo_shared::attach::Attachment::copied(&data[..split])),
        );
        let _ =
            crate::backend::remote::wire::reply_from_parts(&data[..split], data[split..].to_vec());
    }
}

/// `bytes` as a batch's values of a few types, plain vectors among them.
fn values(bytes: &[u8]) {
    let payload = || Payload {
        bytes: bytes.to_vec(),
        attached: Vec::new(),
    };
    let _ = decode_values::<(Vec<u64>, String, Option<i8>)>(payload());
    let _ = decode_values::<Vec<f64>>(payload());
    // Vectors inside other values: read whole by the codec, or named as set aside.
    let _ = decode_values::<(Vec<f64>, Vec<u32>, Option<Vec<f32>>)>(payload());
    let _ = decode_values::<Vec<Vec<i8>>>(payload());
    let _ = decode_values::<Shared<[f32]>>(payload());
    let _ = decode_values::<std::collections::HashMap<String, (u8, bool)>>(payload());
}

#[cfg(test)]
mod tests {
    use super::super::channel::{send_reply, send_request};
    use super::*;
    use crate::backend::remote::encode_values;
    use crate::backend::remote::wire::{Reply, Request};
    use crate::backend::remote::{Arrays, RemoteFn};
    use proptest::prelude::*;

    fn double(x: u64) -> u64 {
        2 * x
    }

    /// A real conversation, to start the random changes from: a request, a hello, a
    /// result, a failure.
    fn conversation() -> Vec<u8> {
        let (writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
        let task = RemoteFn::map(double).offsets().unwrap();
        let arguments = encode_values(
            vec![(vec![1_u64, 2], "a".to_owned(), Some(-1_i8))],
            Arrays::Inline,
        )
        .unwrap();
        let mut wire = &writer;
        send_request(
            &mut wire,
            &Request::Run {
                task,
                arguments,
                each: false,
            },
        )
        .unwrap();
        send_reply(&mut wire, &Reply::Hello { pid: 7, nonce: 3 }).unwrap();
        let results = encode_values(vec![vec![0.5_f64; 10]], Arrays::Inline).unwrap();
        send_reply(&mut wire, &Reply::Done(results)).unwrap();
        send_reply(&mut wire, &Reply::failed(1, "no".to_owned())).unwrap();
        drop(writer);
        let mut bytes = Vec::new();
        (&reader).read_to_end(&mut bytes).unwrap();
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            wire(&data);
        }

        #[test]
        fn changed_conversations_never_panic(
            changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut data = conversation();
            for (at, value) in changes {
                let at = at % data.len();
                data[at] = value;
            }
            data.truncate(data.len() - cut % data.len());
            wire(&data);
        }
    }

    /// The corpus of the fuzz target, replayed: every input a fuzzing run kept.
    #[test]
    fn the_fuzz_corpus_replays() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/parallel_wire");
        let mut replayed = 0;
        for file in std::fs::read_dir(&corpus).unwrap() {
            wire(&std::fs::read(file.unwrap().path()).unwrap());
            replayed += 1;
        }
        assert!(replayed > 0, "the corpus at {} is empty", corpus.display());
    }

    #[test]
    fn the_conversation_reads_back() {
        let data = conversation();
        let mut channel = Bytes(&data);
        assert!(receive_request(&mut channel).is_ok());
        assert!(matches!(
            receive_reply(&mut channel),
            Ok(Reply::Hello { pid: 7, .. })
        ));
    }
}
