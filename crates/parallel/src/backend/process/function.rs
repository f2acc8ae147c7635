//! Naming a function to a child without registration: the child runs the same
//! executable, so a function is its code address relative to a known function of ours
//! (as procspawn does). The parent sends two offsets: the user's `fn(A) -> R` and the
//! trampoline monomorphized for `A` and `R`, which decodes the arguments, calls the
//! function on each and encodes the results.

use super::wire::{decode, encode, Reply};
use crate::backend::panic_message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a trampoline is: a function pointer and the batch's encoded arguments in, a reply
/// out.
pub(crate) type Trampoline = fn(usize, &[u8]) -> Reply;

/// The reference point of every offset: any function of this crate would do.
#[inline(never)]
fn anchor() {}

fn anchor_address() -> usize {
    anchor as fn() as *const () as usize
}

/// The distance from the anchor, in wrapping arithmetic (a function may lie below it).
pub(crate) fn offset_of(address: usize) -> usize {
    address.wrapping_sub(anchor_address())
}

fn address_of(offset: usize) -> usize {
    anchor_address().wrapping_add(offset)
}

/// Calls, in the child, the trampoline at `trampoline` with the function at `function`.
///
/// # Safety
/// The offsets must come from `offset_of` applied, in a process running this same
/// executable, to a `Trampoline` and to the `fn(A) -> R` that trampoline was
/// monomorphized for. The parent only sends offsets it computed that way, over a socket
/// only it and its own children can reach.
pub(crate) unsafe fn call(trampoline: usize, function: usize, arguments: &[u8]) -> Reply {
    // SAFETY: by the contract above, the address is that of a `Trampoline` in this same
    // executable image (same binary, so offsets from the anchor are equal across processes).
    let trampoline: Trampoline =
        unsafe { std::mem::transmute::<usize, Trampoline>(address_of(trampoline)) };
    trampoline(address_of(function), arguments)
}

/// The trampoline for `map(f: fn(A) -> R)`.
pub(crate) fn map_trampoline<A: DeserializeOwned, R: Serialize>(
    function: usize,
    arguments: &[u8],
) -> Reply {
    // SAFETY: `function` is the address of a `fn(A) -> R` (see `call`); fn pointers and
    // usize have the same size on every platform Rust supports.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(function) };
    run_each(arguments, |argument| Ok::<R, String>(f(argument)))
}

/// The trampoline for `try_map(f: fn(A) -> Result<R, E>)`.
pub(crate) fn try_map_trampoline<A: DeserializeOwned, R: Serialize, E: Display>(
    function: usize,
    arguments: &[u8],
) -> Reply {
    // SAFETY: as in `map_trampoline`, for a `fn(A) -> Result<R, E>`.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> Result<R, E>>(function) };
    run_each(arguments, |argument| {
        f(argument).map_err(|err| err.to_string())
    })
}

fn run_each<A: DeserializeOwned, R: Serialize>(
    arguments: &[u8],
    f: impl Fn(A) -> Result<R, String>,
) -> Reply {
    let arguments: Vec<A> = match decode(arguments) {
        Ok(arguments) => arguments,
        Err(err) => {
            return Reply::Failed {
                offset: 0,
                message: format!("the worker could not decode the arguments: {err}"),
            }
        }
    };
    let mut results = Vec::with_capacity(arguments.len());
    for (offset, argument) in arguments.into_iter().enumerate() {
        match catch_unwind(AssertUnwindSafe(|| f(argument))) {
            Ok(Ok(result)) => results.push(result),
            Ok(Err(message)) => return Reply::Failed { offset, message },
            Err(payload) => {
                return Reply::Failed {
                    offset,
                    message: panic_message(payload.as_ref()),
                }
            }
        }
    }
    match encode(&results) {
        Ok(bytes) => Reply::Done(bytes),
        Err(err) => Reply::Failed {
            offset: 0,
            message: format!("the worker could not encode the results: {err}"),
        },
    }
}
