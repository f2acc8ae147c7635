//! Naming a function to another process without registration: the other process runs
//! the same executable and loads the same libraries, so a function is its object (by
//! digest) and its offset in it (see [`objects`](super::objects)). A task travels as two
//! such names: the user's `fn(A) -> R` and the trampoline monomorphized for `A` and `R`,
//! which decodes the arguments, calls the function on each and encodes the results.
//!
//! The pairing of a trampoline with the function it was monomorphized for is the whole
//! safety argument, so it is made in one place: [`RemoteFn`], whose constructors take a
//! typed `fn` and derive both halves from it. Nothing else turns a number into a function.

use super::objects::{self, Located, Unreachable};
use super::values::{decode_values, encode_values};
use super::wire::{decode, encode, unframed, Payload, Reply};
use crate::engine::panic_message;
use crate::error::TaskError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A trampoline: the address of a `fn` and a batch's encoded arguments in, a reply out,
/// the results' arrays travelling as `Arrays` says.
///
/// # Safety
/// The `usize` must be the address, in this process, of the `fn` type the trampoline was
/// monomorphized for.
pub(crate) type Trampoline = unsafe fn(usize, Payload, Arrays) -> Reply;

/// A plain function paired with the trampoline that can call it on encoded arguments.
#[derive(Clone, Copy)]
pub(crate) struct RemoteFn {
    trampoline: Trampoline,
    function: usize,
    /// Turns the encoding of a failing task's error value back into the value, in the
    /// parent (it never crosses: only the two offsets do).
    error: fn(&[u8]) -> TaskError,
}

/// The error of a function that has none: its failures are panics.
fn no_error(_: &[u8]) -> TaskError {
    TaskError::default()
}

/// The `E` a worker encoded, as the caller's own value; none if it does not decode
/// (then the message alone tells what went wrong).
fn decode_error<E: DeserializeOwned + Send + Sync + 'static>(bytes: &[u8]) -> TaskError {
    if bytes.is_empty() {
        return TaskError::default();
    }
    decode::<E>(bytes).map_or_else(|_| TaskError::default(), TaskError::new)
}

/// A [`RemoteFn`] as places in loaded objects: what crosses to a process running the
/// same executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Offsets {
    pub(crate) trampoline: Located,
    pub(crate) function: Located,
}

impl RemoteFn {
    /// The task of `map(f)`.
    pub(crate) fn map<A: DeserializeOwned + 'static, R: Serialize + 'static>(
        f: fn(A) -> R,
    ) -> Self {
        RemoteFn {
            trampoline: map_trampoline::<A, R>,
            function: f as usize,
            error: no_error,
        }
    }

    /// The task of `try_map(f)`.
    pub(crate) fn try_map<A, R, E>(f: fn(A) -> Result<R, E>) -> Self
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
        E: Serialize + DeserializeOwned + Display + Send + Sync + 'static,
    {
        RemoteFn {
            trampoline: try_map_trampoline::<A, R, E>,
            function: f as usize,
            error: decode_error::<E>,
        }
    }

    /// The task of `map_settled(f)`: each task's outcome is a result of its own, a
    /// panic included ([`Settled`]), and the batch always runs to its end.
    pub(crate) fn map_settled<A: DeserializeOwned + 'static, R: Serialize + 'static>(
        f: fn(A) -> R,
    ) -> Self {
        RemoteFn {
            trampoline: map_settled_trampoline::<A, R>,
            function: f as usize,
            error: no_error,
        }
    }

    /// The task of `try_map_settled(f)`: as [`map_settled`](Self::map_settled), with a
    /// task's `Err` carried as its encoding.
    pub(crate) fn try_map_settled<A, R, E>(f: fn(A) -> Result<R, E>) -> Self
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
        E: Serialize + DeserializeOwned + Display + Send + Sync + 'static,
    {
        RemoteFn {
            trampoline: try_map_settled_trampoline::<A, R, E>,
            function: f as usize,
            error: decode_error::<E>,
        }
    }

    /// The task of `map_with(f, context)`: each batch's arguments come [`framed`] after
    /// the run's context part ([`context_part`]), which a worker decodes once per run.
    ///
    /// [`framed`]: super::wire::framed
    pub(crate) fn map_with<C, A, R>(f: fn(&C, A) -> R) -> Self
    where
        C: DeserializeOwned + Send + Sync + 'static,
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        RemoteFn {
            trampoline: map_with_trampoline::<C, A, R>,
            function: f as usize,
            error: no_error,
        }
    }

    /// A worker's initializer: `setup` runs once, on a batch of no arguments.
    pub(crate) fn init(setup: fn()) -> Self {
        RemoteFn {
            trampoline: init_trampoline,
            function: setup as usize,
            error: no_error,
        }
    }

    /// Runs the function on a batch's encoded arguments, in this process; the arrays of
    /// the results stay attached (no copy).
    pub(crate) fn call(self, arguments: Payload) -> Reply {
        // SAFETY: both halves come from one constructor, which monomorphized the
        // trampoline for the very `fn` type whose address it stored.
        unsafe { (self.trampoline)(self.function, arguments, Arrays::Attached) }
    }

    /// A failing task's error value, from the bytes its reply carried.
    pub(crate) fn error_value(self, bytes: &[u8]) -> TaskError {
        (self.error)(bytes)
    }

    /// What names this function to a process running the same executable.
    ///
    /// # Errors
    /// When the function (or its trampoline) lies in an object that such a process does
    /// not load, or in none.
    pub(crate) fn offsets(self) -> Result<Offsets, Unreachable> {
        Ok(Offsets {
            trampoline: objects::locate(self.trampoline as usize)?,
            function: objects::locate(self.function)?,
        })
    }
}

/// Whether the arrays of a task's values (its `Shared` arrays, its plain vectors) travel
/// beside them (to a process on this machine, which can take raw bytes and map memory)
/// or inside them, encoded (to an MPI rank, which may be on another machine).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Arrays {
    Attached,
    Inline,
}

/// Calls, in a worker, the function that `offsets` names; a name that lands in no code
/// of an object with the named digest (another build of a library, one not loaded here)
/// fails the batch instead.
///
/// # Safety
/// `offsets` must come from [`RemoteFn::offsets`] in a process running this same
/// program: then each name, found in an object with the same contents, lands on the
/// function it named there. The process backend receives them only over a channel that
/// only its own parent holds; an MPI rank only after every rank proved it runs the same
/// executable (a hash of its contents), each library checked here by its digest.
pub(crate) unsafe fn call(offsets: Offsets, arguments: Payload, arrays: Arrays) -> Reply {
    let found = objects::address_of(offsets.trampoline)
        .and_then(|trampoline| Ok((trampoline, objects::address_of(offsets.function)?)));
    let (trampoline, function) = match found {
        Ok(found) => found,
        Err(err) => return Reply::failed(0, format!("the task's function cannot be found: {err}")),
    };
    // SAFETY: by this function's contract the address is that of a `Trampoline` of this
    // program; fn pointers and usize have the same size on every platform Rust supports.
    let trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(trampoline) };
    // SAFETY: by the same contract, the function's name lands on the `fn` type this
    // trampoline was monomorphized for.
    unsafe { trampoline(function, arguments, arrays) }
}

/// Calls, in a worker, the function that `offsets` names on each task of a batch sent
/// with `each` (its one-task batches [`framed`](super::wire::framed)), handing `answer`
/// each task's result (a `Vec<R>` of one) as it ends; returns the reply that closes the
/// batch. Stops at the first failure, when `answer` says the parent can no longer be
/// told, or at the first task `claim` refuses (the parent took the rest back).
///
/// # Safety
/// As [`call`].
pub(crate) unsafe fn call_each(
    offsets: Offsets,
    arguments: Payload,
    arrays: Arrays,
    answer: &mut dyn FnMut(Payload) -> bool,
    claim: &dyn Fn(usize) -> bool,
) -> Reply {
    let singles = match unframed(arguments) {
        Ok(singles) => singles,
        Err(err) => return Reply::failed(0, format!("the worker could not read the batch: {err}")),
    };
    for (offset, single) in singles.into_iter().enumerate() {
        if !claim(offset) {
            break;
        }
        // SAFETY: the caller's contract, for each one-task batch of the same function.
        match unsafe { call(offsets, single, arrays) } {
            Reply::Done(result) => {
                if !answer(result) {
                    return Reply::failed(offset, "the parent stopped listening".to_owned());
                }
            }
            Reply::Failed { message, error, .. } => {
                return Reply::Failed {
                    offset,
                    message,
                    error,
                }
            }
            other => return other,
        }
    }
    // Every result went ahead: an empty `Vec` closes the batch, whatever `R` is.
    closing()
}

/// The reply of a batch with no results to carry: an empty `Vec`, whatever `R` is.
pub(crate) fn closing() -> Reply {
    no_values().map_or_else(|message| Reply::failed(0, message), Reply::Done)
}

/// An empty batch, read as one of any type: the arguments of an initializer, the results
/// that close a batch answered task by task.
pub(crate) fn no_values() -> Result<Payload, String> {
    encode_values(Vec::<()>::new(), Arrays::Inline)
}

/// The trampoline for `map(f: fn(A) -> R)`.
///
/// # Safety
/// `function` is the address of a `fn(A) -> R` of this process.
unsafe fn map_trampoline<A: DeserializeOwned + 'static, R: Serialize + 'static>(
    function: usize,
    arguments: Payload,
    arrays: Arrays,
) -> Reply {
    // SAFETY: the caller's contract; fn pointers and usize have the same size.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(function) };
    run_each(arguments, arrays, |argument| Ok::<R, Refusal>(f(argument)))
}

/// The trampoline for `try_map(f: fn(A) -> Result<R, E>)`.
///
/// # Safety
/// `function` is the address of a `fn(A) -> Result<R, E>` of this process.
unsafe fn try_map_trampoline<A, R, E>(function: usize, arguments: Payload, arrays: Arrays) -> Reply
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
    E: Serialize + Display,
{
    // SAFETY: the caller's contract; fn pointers and usize have the same size.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> Result<R, E>>(function) };
    run_each(arguments, arrays, |argument| {
        f(argument).map_err(|err| Refusal {
            message: err.to_string(),
            // An error that does not encode still fails the task, with its message.
            error: encode(&err).unwrap_or_default(),
        })
    })
}

/// A settled task's result as it crosses back: its value, or its failure's message and
/// the encoding of its error value (empty for a panic).
pub(crate) type Settled<R> = Result<R, (String, Vec<u8>)>;

/// The trampoline for `map_settled(f: fn(A) -> R)`.
///
/// # Safety
/// `function` is the address of a `fn(A) -> R` of this process.
unsafe fn map_settled_trampoline<A: DeserializeOwned + 'static, R: Serialize + 'static>(
    function: usize,
    arguments: Payload,
    arrays: Arrays,
) -> Reply {
    // SAFETY: the caller's contract; fn pointers and usize have the same size.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(function) };
    run_each(arguments, arrays, |argument| {
        Ok::<Settled<R>, Refusal>(settle(|| Ok(f(argument))))
    })
}

/// The trampoline for `try_map_settled(f: fn(A) -> Result<R, E>)`.
///
/// # Safety
/// `function` is the address of a `fn(A) -> Result<R, E>` of this process.
unsafe fn try_map_settled_trampoline<A, R, E>(
    function: usize,
    arguments: Payload,
    arrays: Arrays,
) -> Reply
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
    E: Serialize + Display,
{
    // SAFETY: the caller's contract; fn pointers and usize have the same size.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> Result<R, E>>(function) };
    run_each(arguments, arrays, |argument| {
        Ok::<Settled<R>, Refusal>(settle(|| {
            f(argument).map_err(|err| (err.to_string(), encode(&err).unwrap_or_default()))
        }))
    })
}

/// A settled task's outcome, its panic caught here so that the batch goes on.
fn settle<R>(task: impl FnOnce() -> Settled<R>) -> Settled<R> {
    catch_unwind(AssertUnwindSafe(task)).unwrap_or_else(|payload| {
        let message = panic_message(payload.as_ref());
        // As in `run_each`: a payload whose `Drop` panics is leaked, not dropped.
        std::mem::forget(payload);
        Err((message, Vec::new()))
    })
}

/// The trampoline for `map_with(f: fn(&C, A) -> R, context)`.
///
/// # Safety
/// `function` is the address of a `fn(&C, A) -> R` of this process.
unsafe fn map_with_trampoline<C, A, R>(function: usize, arguments: Payload, arrays: Arrays) -> Reply
where
    C: DeserializeOwned + Send + Sync + 'static,
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    // SAFETY: the caller's contract; fn pointers and usize have the same size.
    let f = unsafe { std::mem::transmute::<usize, fn(&C, A) -> R>(function) };
    let (context, batch) = match super::context::split(arguments) {
        Ok(parts) => parts,
        Err(err) => return Reply::failed(0, format!("the worker could not read the batch: {err}")),
    };
    let context = match super::context::decoded::<C>(context) {
        Ok(context) => context,
        Err(err) => {
            return Reply::failed(0, format!("the worker could not decode the context: {err}"))
        }
    };
    run_each(batch, arrays, |argument| {
        Ok::<R, Refusal>(f(&context, argument))
    })
}

/// The trampoline of an initializer: calls the `fn()`, and replies with no results.
///
/// # Safety
/// `function` is the address of a `fn()` of this process.
unsafe fn init_trampoline(function: usize, _arguments: Payload, _arrays: Arrays) -> Reply {
    // SAFETY: the caller's contract; fn pointers and usize have the same size.
    let setup = unsafe { std::mem::transmute::<usize, fn()>(function) };
    match catch_unwind(setup) {
        Ok(()) => closing(),
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            std::mem::forget(payload);
            Reply::failed(0, message)
        }
    }
}

/// A task's `Err`: its message and the encoding of its value.
struct Refusal {
    message: String,
    error: Vec<u8>,
}

fn run_each<A: DeserializeOwned + 'static, R: Serialize + 'static>(
    arguments: Payload,
    arrays: Arrays,
    f: impl Fn(A) -> Result<R, Refusal>,
) -> Reply {
    let arguments: Vec<A> = match decode_values(arguments) {
        Ok(arguments) => arguments,
        Err(err) => {
            return Reply::Failed {
                error: Vec::new(),
                offset: 0,
                message: format!("the worker could not decode the arguments: {err}"),
            }
        }
    };
    let mut results = Vec::with_capacity(arguments.len());
    for (offset, argument) in arguments.into_iter().enumerate() {
        match catch_unwind(AssertUnwindSafe(|| f(argument))) {
            Ok(Ok(result)) => results.push(result),
            Ok(Err(Refusal { message, error })) => {
                return Reply::Failed {
                    offset,
                    message,
                    error,
                }
            }
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                // A payload whose `Drop` panics would unwind out of here; leaking the
                // few bytes of one failed task's payload keeps the worker alive.
                std::mem::forget(payload);
                return Reply::failed(offset, message);
            }
        }
    }
    match encode_values(results, arrays) {
        Ok(results) => Reply::Done(results),
        Err(err) => Reply::Failed {
            error: Vec::new(),
            offset: 0,
            message: format!("the worker could not encode the results: {err}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        2 * x
    }

    #[test]
    fn offsets_name_the_same_function_again() {
        let task = RemoteFn::map(double);
        let arguments = encode_values(vec![1_u32, 20], Arrays::Inline).unwrap();
        // SAFETY: the offsets were made in this very process.
        let reply = unsafe { call(task.offsets().unwrap(), arguments.clone(), Arrays::Attached) };
        let Reply::Done(results) = reply else {
            panic!("expected results")
        };
        let Reply::Done(local) = task.call(arguments) else {
            panic!("expected results")
        };
        assert_eq!(local.bytes, results.bytes);
        assert_eq!(decode_values::<u32>(results).unwrap(), [2, 40]);
    }
}
