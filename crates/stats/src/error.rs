use thiserror::Error;

/// Everything that can go wrong in `parmemo-stats`.
///
/// Each variant says what was wrong with the input and, where there is one, where: the
/// index of the first offending value, so that the caller can find it in their data.
///
/// Serializable, so that a cached function can store its failures if asked
/// (`#[cache(MEMORY, errors = true)]`) and a worker process can report them.
///
/// ```
/// use parmemo_stats::StatsError;
/// let error = StatsError::TooFew { what: "walsh_median", needed: 2, got: 1 };
/// let bytes = postcard::to_stdvec(&error)?;
/// let back: StatsError = postcard::from_bytes(&bytes)?;
/// assert_eq!(back, error);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum StatsError {
    /// The input had no values at all.
    #[error("empty {what}: pass at least one value")]
    Empty {
        /// What was empty (`"sample"`, `"p-values"`, ...).
        #[serde(deserialize_with = "crate::error::interned")]
        what: Name,
    },
    /// The input had values, but fewer than the statistic needs.
    #[error("{what} needs at least {needed} values, got {got}: pass a longer sample")]
    TooFew {
        /// The statistic that was asked for.
        #[serde(deserialize_with = "crate::error::interned")]
        what: Name,
        /// The smallest number of values it accepts.
        needed: usize,
        /// The number of values it was given.
        got: usize,
    },
    /// A value was NaN or infinite.
    #[error("value at index {index} is {value}: remove or impute non-finite values first")]
    NonFinite {
        /// Position of the first non-finite value in the input slice.
        index: usize,
        /// The value itself (NaN, inf or -inf), widened to f64.
        value: f64,
    },
    /// A parameter of the computation (not the data) was NaN or infinite.
    #[error("parameter `{name}` is {value}: it must be a finite number")]
    NonFiniteParameter {
        /// The parameter's name, as in the function's signature.
        #[serde(deserialize_with = "crate::error::interned")]
        name: Name,
        /// The value given.
        value: f64,
    },
    /// A standard deviation was zero, negative, NaN or infinite (or, for [`Normal`](crate::Normal),
    /// below about 2.2e-309, where the peak density exceeds the range of `f64`).
    #[error("sigma is {sigma}: a standard deviation must be finite and > 0 (and for a normal distribution at least 2.2e-309, or its peak density overflows f64: rescale the data)")]
    InvalidSigma {
        /// The value given.
        sigma: f64,
    },
    /// A row length of zero was given for a row-major matrix.
    #[error("row_len is 0: give the number of values in one row (> 0)")]
    ZeroRowLen,
    /// The buffer length is not a whole number of rows.
    #[error("{len} values do not split into rows of {row_len}: the buffer length must be a multiple of row_len")]
    RaggedRows {
        /// Length of the flat buffer.
        len: usize,
        /// The row length given.
        row_len: usize,
    },
    /// An output buffer had the wrong length.
    #[error("output buffer holds {got} values but {expected} are needed: allocate one per input")]
    OutputLength {
        /// The length the output must have.
        expected: usize,
        /// The length it had.
        got: usize,
    },
    /// The threads that run a kernel in parallel could not start (the operating system
    /// refused them: a process or container thread limit).
    #[error("could not start {threads} threads for the kernel ({message}): run it inside Config::new().n_jobs(..).scope(..) with fewer, or raise the thread limit")]
    ThreadPool {
        /// The number of threads asked for.
        threads: usize,
        /// What the operating system said.
        message: String,
    },
    /// A bug of this crate, not of the input: a kernel was given data that was not
    /// checked first.
    #[error("internal error of parmemo-stats ({message}): please report it with the call that raised it")]
    Internal {
        /// What went wrong.
        message: String,
    },
    /// The data is too large for the kernel's output to be held or counted.
    #[error("{rows} rows of {out_len} outputs each are more values than memory can hold: split the data")]
    TooLarge {
        /// The number of rows.
        rows: usize,
        /// The outputs per row.
        out_len: usize,
    },
    /// A p-value was outside `[0, 1]` or NaN.
    #[error("p-value at index {index} is {value}: p-values must lie in [0, 1]")]
    PValueOutOfRange {
        /// Position of the first bad p-value.
        index: usize,
        /// The value given.
        value: f64,
    },
}

/// A name in an error (`"sample"`, `"sigma"`): a `&'static str`, named through an alias so
/// that serde reads it back owned instead of borrowing from its input.
pub type Name = &'static str;

/// A name read back from a serialized error, as the `&'static str` the variants hold:
/// each distinct name is kept once for the life of the program (the names are a handful
/// of fixed words, so this is bounded).
fn interned<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    use std::collections::HashSet;
    use std::sync::{Mutex, PoisonError};
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let name = <String as serde::Deserialize>::deserialize(deserializer)?;
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let names = names.get_or_insert_with(HashSet::new);
    if let Some(&known) = names.get(name.as_str()) {
        return Ok(known);
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    Ok(leaked)
}

/// What a kernel run by `parmemo-parallel`'s helpers can raise, as this crate's error. The
/// inputs' shapes are checked before a kernel runs, so a shape error from the helpers is a
/// bug of this crate: it says so rather than blaming the caller's data.
impl From<parmemo_parallel::Error> for StatsError {
    fn from(error: parmemo_parallel::Error) -> StatsError {
        use parmemo_parallel::Error;
        match error {
            Error::ThreadPool { threads, message } => StatsError::ThreadPool { threads, message },
            Error::OutputTooLarge { rows, out_len } => StatsError::TooLarge { rows, out_len },
            Error::OutputLength { expected, got } => StatsError::OutputLength { expected, got },
            other => StatsError::Internal {
                message: format!("a kernel was given data this crate had not checked: {other}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_helper_error_becomes_what_the_kernel_raised() {
        let pool = parmemo_parallel::Error::ThreadPool {
            threads: 4,
            message: "EAGAIN".to_owned(),
        };
        assert_eq!(
            StatsError::from(pool),
            StatsError::ThreadPool {
                threads: 4,
                message: "EAGAIN".to_owned()
            }
        );
        let shape = parmemo_parallel::Error::ZeroRowLen;
        let StatsError::Internal { message } = StatsError::from(shape) else {
            panic!("a shape error of the helpers is this crate's bug");
        };
        assert!(message.contains("row_len is 0"), "{message}");
    }
}
