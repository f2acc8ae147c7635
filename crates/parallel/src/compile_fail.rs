//! Promises the compiler keeps: each example below must fail to compile (rustdoc checks
//! it; the error codes say which error was meant, each checked by hand), as rayon pins
//! its own in `src/compile_fail/`.
//!
//! Worker processes receive a task as a plain function and its serialized arguments, so
//! a closure that captures, `run(delayed(..))`, and an argument without serde's traits
//! are compile errors there, never run-time surprises.
//!
//! A closure that captures state cannot go to a worker process (it coerces to a
//! function pointer only when it captures nothing):
//!
//! ```compile_fail,E0308
//! use parmemo_parallel::{Backend, Parallel};
//! let offset = 10_u64;
//! let _ = Parallel::new()
//!     .backend(Backend::Processes)
//!     .map(move |x: u64| x + offset, 0..4_u64);
//! ```
//!
//! `run(delayed(..))` takes closures, which only threads can run:
//!
//! ```compile_fail,E0599
//! use parmemo_parallel::{delayed, Backend, Parallel};
//! let _ = Parallel::new()
//!     .backend(Backend::Processes)
//!     .run((0..4_u64).map(|x| delayed(move || x * x)));
//! ```
//!
//! An argument must cross as bytes, so it must be serializable:
//!
//! ```compile_fail,E0277
//! use parmemo_parallel::{Backend, Parallel};
//! struct Opaque(u64);
//! fn unwrap(value: Opaque) -> u64 {
//!     value.0
//! }
//! fn main() {
//!     let _ = Parallel::new()
//!         .backend(Backend::Processes)
//!         .map(unwrap, vec![Opaque(1)]);
//! }
//! ```
//!
//! And so must a result:
//!
//! ```compile_fail,E0277
//! use parmemo_parallel::{Backend, Parallel};
//! struct Opaque(u64);
//! fn wrap(value: u64) -> Opaque {
//!     Opaque(value)
//! }
//! fn main() {
//!     let _ = Parallel::new().backend(Backend::Processes).map(wrap, 0..4_u64);
//! }
//! ```
//!
//! The same function and arguments compile once they are plain and serializable:
//!
//! ```no_run
//! use parmemo_parallel::{Backend, Parallel};
//! fn add_ten(x: u64) -> u64 {
//!     x + 10
//! }
//! fn main() {
//!     parmemo_parallel::init();
//!     let _ = Parallel::new().backend(Backend::Processes).map(add_ten, 0..4_u64);
//! }
//! ```
