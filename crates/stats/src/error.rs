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
    /// The parallel machinery could not run (a thread pool that would not start).
    #[error("parallel execution failed: {0}")]
    Parallel(#[from] parmemo_parallel::Error),
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
