//! The dispatching core, as rayon-core is to rayon: plans, batches, the dispatcher that
//! sizes and hands them out, the thread pools, and the drivers of a run. It imports none
//! of the names users see (the backend types, `Config`, the result streams): where a
//! batch runs is a `spawn` callback, and the configuration a run's tasks see an
//! [`Around`] callback, both given by the layer above.

mod batch;
mod claim;
mod dispatch;
mod ordered;
mod pool;
mod relief;
mod run;
mod sizing;

#[cfg(feature = "processes")]
pub(crate) use batch::{panic_message, Batch, Completion, Outcome, RunState};
pub(crate) use batch::{settle, Failure, TaskResult};
#[cfg(feature = "processes")]
pub(crate) use dispatch::Dispatcher;
pub(crate) use dispatch::{Around, Event, Plan};
pub(crate) use ordered::{OrderedResults, SettledResults};
pub(crate) use pool::{inside_worker, install, shutdown};
#[cfg(feature = "processes")]
pub(crate) use run::{drive, Stream};
pub(crate) use run::{execute_owned, execute_scoped, execute_streaming, EventSource};
pub use sizing::BatchSize;
#[cfg(feature = "processes")]
pub(crate) use sizing::PROCESS_TARGET;
pub(crate) use sizing::THREAD_TARGET;
