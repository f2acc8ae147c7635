//! The context of `map_with`, sent to each worker once per run rather than once per item.
//!
//! The parent encodes the context once into a [`Shared`] byte array (sealed memory on
//! Linux) and puts a small part before each batch's arguments: the run's id and that
//! array. The array travels as the other `Shared` arrays do: a descriptor to a worker
//! process (no copy), once to each MPI rank (which keeps it while rank 0 holds it). A
//! worker decodes the context the first time it meets the run's id and keeps it until
//! the next run's, so tasks share it by reference.

use super::function::Arrays;
use super::values::{decode_values, encode_values};
use super::wire::{framed, unframed, Payload};
use parmemo_shared::{codec, Shared};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A run's context, encoded once: what goes before each of its batches.
#[derive(Clone)]
pub(crate) struct Context {
    part: Payload,
}

/// Ids of the runs with a context started in this process (a worker serves one parent).
static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

/// The context this worker decoded last, by run id.
type Kept = Option<(u64, Arc<dyn Any + Send + Sync>)>;

static KEPT: Mutex<Kept> = Mutex::new(None);

impl Context {
    /// `context` encoded once for a new run whose batches go where `arrays` says.
    ///
    /// # Errors
    /// What the codec says when the context cannot be encoded.
    pub(crate) fn new<C: Serialize>(context: &C, arrays: Arrays) -> Result<Context, String> {
        let encoded = codec::encode(context).map_err(|err| err.to_string())?;
        let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let part = encode_values(vec![(run, Shared::from_slice(&encoded))], arrays)?;
        Ok(Context { part })
    }

    /// A batch's encoded arguments, behind this context's part.
    pub(crate) fn before(&self, batch: Payload) -> Payload {
        framed(vec![self.part.clone(), batch])
    }
}

/// The context part and the batch of a payload made by [`Context::before`].
pub(crate) fn split(arguments: Payload) -> Result<(Payload, Payload), String> {
    let mut parts = unframed(arguments)?.into_iter();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(context), Some(batch), None) => Ok((context, batch)),
        _ => Err("a batch with a context must hold two parts".to_owned()),
    }
}

/// The context of a part made by [`Context::new`]: the one kept for its run, or decoded
/// now (and kept in place of the previous run's).
pub(crate) fn decoded<C: DeserializeOwned + Send + Sync + 'static>(
    part: Payload,
) -> Result<Arc<C>, String> {
    let (run, encoded) = decode_values::<(u64, Shared<[u8]>)>(part)?
        .pop()
        .ok_or("a context part without a context")?;
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((id, context)) = kept.as_ref() {
        // One id is one run of one `C`; the downcast is a second check of the type.
        if *id == run {
            if let Ok(context) = Arc::clone(context).downcast::<C>() {
                return Ok(context);
            }
        }
    }
    let context: Arc<C> = Arc::new(codec::decode_whole(&encoded).map_err(|err| err.to_string())?);
    *kept = Some((run, Arc::clone(&context) as Arc<dyn Any + Send + Sync>));
    Ok(context)
}

/// A batch with a context, split into its tasks' one-task batches (each behind the same
/// context part), to find which task kills a worker.
pub(crate) fn split_tasks<A: Serialize + DeserializeOwned + 'static>(
    arguments: &Payload,
) -> Result<Vec<Payload>, String> {
    let (context, batch) = split(arguments.clone())?;
    let context = Context { part: context };
    Ok(super::split_batch::<A>(&batch)?
        .into_iter()
        .map(|single| context.before(single))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_is_decoded_once_per_run_and_shared() {
        let context = Context::new(&vec![1.5_f64; 50_000], Arrays::Attached).unwrap();
        let batch = encode_values(vec![1_u32, 2], Arrays::Attached).unwrap();
        let first = context.before(batch.clone());
        let second = context.before(batch);
        let (part, _) = split(first).unwrap();
        let a = decoded::<Vec<f64>>(part).unwrap();
        let (part, batch) = split(second).unwrap();
        let b = decoded::<Vec<f64>>(part).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "decoded twice");
        assert_eq!(a.len(), 50_000);
        assert_eq!(decode_values::<u32>(batch).unwrap(), [1, 2]);
        // Another run: decoded anew.
        let other = Context::new(&vec![2.5_f64; 3], Arrays::Inline).unwrap();
        let (part, _) = split(other.before(Payload::default())).unwrap();
        assert_eq!(*decoded::<Vec<f64>>(part).unwrap(), [2.5; 3]);
    }
}
