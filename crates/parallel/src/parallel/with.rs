//! `map_with`: joblib's `delayed(f)(x, constants)` without sending the constants once per
//! item. A context is shared by every task of a run: borrowed on threads, sent to each
//! worker process or MPI rank once per run and shared there by reference.

use super::Parallel;
#[cfg(feature = "processes")]
use crate::backend::remote::{self, RemoteFn};
#[cfg(feature = "mpi")]
use crate::backend::Mpi;
#[cfg(feature = "processes")]
use crate::backend::Processes;
use crate::backend::{InProcess, Sequential, Threads};
use crate::config::Chosen;
use crate::{Configured, Error, Timed, Untimed};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

impl<B: InProcess> Parallel<B, Untimed> {
    /// [`map`](Parallel::map) with a context every task reads: `f(&context, item)`. On
    /// threads the tasks borrow it (nothing is copied); on worker processes and MPI
    /// ranks it is sent once per worker, not once per item.
    ///
    /// # Errors
    /// As [`map`](Parallel::map).
    ///
    /// ```
    /// use parmemo_parallel::Parallel;
    /// let reference: Vec<f64> = (0..1000).map(f64::from).collect();
    /// let distance = |reference: &Vec<f64>, shift: f64| {
    ///     reference.iter().map(|x| (x - shift).abs()).sum::<f64>()
    /// };
    /// let distances = Parallel::new().map_with(distance, reference, [0.0, 500.0])?;
    /// assert_eq!(distances[0], 499_500.0);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn map_with<C, A, R, F, I>(&self, f: F, context: C, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = A>,
        C: Sync,
        A: Send,
        R: Send,
        F: Fn(&C, A) -> R + Sync,
    {
        self.collect_ordered(items.into_iter(), &|item: A| Ok(f(&context, item)))
    }
}

impl<B: InProcess> Parallel<B, Timed> {
    /// [`map_with`](Parallel::map_with) under a timeout: the context, the items and the
    /// results own their data, since a task past the deadline is left running.
    ///
    /// # Errors
    /// As the untimed [`map`](Parallel::map).
    pub fn map_with<C, A, R, F, I>(&self, f: F, context: C, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = A>,
        C: Send + Sync + 'static,
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(&C, A) -> R + Send + Sync + 'static,
    {
        let context = Arc::new(context);
        self.collect_owned(items.into_iter(), move |item: A| Ok(f(&context, item)))
    }
}

/// `map_with` of the out-of-process backends, as `out_of_process_api!` writes the rest.
#[cfg(feature = "processes")]
macro_rules! with_out_of_process_api {
    ($backend:ty) => {
        impl<T> Parallel<$backend, T> {
            /// [`map`](Self::map) with a context every task reads: `f(&context, item)`.
            /// The context is encoded once per run and reaches each worker once (to a
            /// worker process as shared memory, to an MPI rank as one message), which
            /// decodes it at its first task of the run; its tasks share it by reference.
            ///
            /// # Errors
            /// As [`map`](Self::map), and [`Error::Context`] when the context cannot be
            /// encoded (before any task runs).
            ///
            /// ```no_run
            /// use parmemo_parallel::{Backend, Parallel};
            ///
            /// fn scaled(weights: &Vec<f64>, row: usize) -> f64 {
            ///     weights.iter().map(|w| w * row as f64).sum()
            /// }
            ///
            /// fn main() -> Result<(), parmemo_parallel::Error> {
            ///     parmemo_parallel::init();
            ///     let weights = vec![0.5; 1_000_000]; // 8 MB, sent once per worker
            ///     let p = Parallel::new().backend(Backend::Processes);
            ///     let sums = p.map_with(scaled, weights, 0..64)?;
            ///     assert_eq!(sums[2], 1_000_000.0);
            ///     Ok(())
            /// }
            /// ```
            pub fn map_with<C, A, R, I>(
                &self,
                f: fn(&C, A) -> R,
                context: C,
                items: I,
            ) -> Result<Vec<R>, Error>
            where
                I: IntoIterator<Item = A>,
                C: Serialize + DeserializeOwned + Send + Sync + 'static,
                A: Serialize + DeserializeOwned + 'static,
                R: Serialize + DeserializeOwned + Send + 'static,
            {
                remote::collect_with(
                    self.placement()?,
                    &context,
                    items.into_iter(),
                    RemoteFn::map_with(f),
                )
            }
        }
    };
}

#[cfg(feature = "processes")]
with_out_of_process_api!(Processes);
#[cfg(feature = "mpi")]
with_out_of_process_api!(Mpi);

impl<T> Parallel<Configured, T> {
    /// [`map`](Self::map) with a context every task reads, on the backend the scope
    /// chose: see that backend's `map_with`.
    ///
    /// # Errors
    /// As the chosen backend's `map_with`.
    ///
    /// ```
    /// use parmemo_parallel::{Backend, Parallel};
    /// fn offset(base: &u64, x: u64) -> u64 {
    ///     base + x
    /// }
    /// let p = Parallel::new().backend(Backend::Configured);
    /// assert_eq!(p.map_with(offset, 100, [1, 2])?, [101, 102]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn map_with<C, A, R, I>(
        &self,
        f: fn(&C, A) -> R,
        context: C,
        items: I,
    ) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = A>,
        C: Serialize + DeserializeOwned + Send + Sync + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        on_chosen_backend!(self, map_with(f, context), items, collect_owned, {
            // In process, the tasks own their data: they share the context by an `Arc`.
            let context = Arc::new(context);
            move |item: A| Ok(f(&context, item))
        })
    }
}
