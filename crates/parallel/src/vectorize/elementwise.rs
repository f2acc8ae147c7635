//! `vectorize`: a scalar kernel applied elementwise over slices, scalars broadcast.

use super::chunks::{fold_chunks, splits, Run, Target};
use crate::Error;
use std::fmt::Display;

/// One input of a vectorized kernel: a slice, or a scalar repeated for every element
/// (numpy's broadcasting of a 0-d value).
///
/// Built with `From`: `&[T]`, `&Vec<T>` and `&[T; N]` become slices, a bare `T` a scalar.
/// The element type comes from the kernel's parameter types, which is why a kernel's
/// closure names them (`|x: f64| ...`).
///
/// ```
/// use parmemo_parallel::vectorize::Arg;
/// let xs = vec![1.0, 2.0];
/// let slice: Arg<f64> = Arg::from(&xs);
/// let scalar: Arg<f64> = Arg::from(3.0);
/// assert!(matches!(slice, Arg::Slice(s) if s.len() == 2));
/// assert!(matches!(scalar, Arg::Scalar(v) if v == 3.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a, T> {
    /// One value per element.
    Slice(&'a [T]),
    /// The same value for every element.
    Scalar(T),
}

impl<'a, T> From<&'a [T]> for Arg<'a, T> {
    fn from(values: &'a [T]) -> Self {
        Arg::Slice(values)
    }
}

impl<'a, T> From<&'a Vec<T>> for Arg<'a, T> {
    fn from(values: &'a Vec<T>) -> Self {
        Arg::Slice(values)
    }
}

impl<'a, T, const N: usize> From<&'a [T; N]> for Arg<'a, T> {
    fn from(values: &'a [T; N]) -> Self {
        Arg::Slice(values)
    }
}

impl<T> From<T> for Arg<'_, T> {
    fn from(value: T) -> Self {
        Arg::Scalar(value)
    }
}

impl<T> Arg<'_, T> {
    fn len(&self) -> Option<usize> {
        match self {
            Arg::Slice(values) => Some(values.len()),
            Arg::Scalar(_) => None,
        }
    }
}

/// The length all slice arguments share, `None` when every argument is a scalar. A
/// slice of one element stretches to any length, as a numpy dimension of 1 does.
fn common_len(lens: &[Option<usize>]) -> Result<Option<usize>, Error> {
    let mut common = None;
    for (argument, len) in lens.iter().enumerate() {
        let Some(got) = *len else { continue };
        match common {
            None | Some(1) => common = Some(got),
            Some(expected) if expected != got && got != 1 => {
                return Err(Error::LengthMismatch {
                    argument,
                    expected,
                    got,
                });
            }
            Some(_) => {}
        }
    }
    Ok(common)
}

/// The length the inputs of an `_into` call run over: their common one, except that
/// slices of one element stretch to fill a longer output (`None`: every input repeats).
fn into_len(len: Option<usize>, out: usize) -> Option<usize> {
    match len {
        Some(1) if out != 1 => None,
        other => other,
    }
}

impl<T: Copy> Arg<'_, T> {
    /// The argument with a one-element slice made a scalar when the call runs over
    /// another length than 1: broadcasting, as numpy's.
    fn stretched(self, len: Option<usize>) -> Self {
        match self {
            Arg::Slice(&[only]) if len != Some(1) => Arg::Scalar(only),
            other => other,
        }
    }
}

/// A scalar kernel made to work over slices, as numba's `@vectorize`. Built by
/// [`vectorize()`]; [`apply`](Self::apply), [`apply2`](Self::apply2) to
/// [`apply6`](Self::apply6) call it for kernels of one to six parameters (each with an
/// `_into` form that writes into an output). Arguments broadcast as numpy's: a scalar,
/// or a slice of one element, repeats for every element; other slices share one length.
///
/// ```
/// use parmemo_parallel::vectorize::vectorize;
/// let line = vectorize(|a: f64, x: f64, b: f64, shift: f64| a * x + b - shift);
/// assert_eq!(line.apply4(2.0, &[1.0, 2.0, 3.0], &[1.0], 0.5)?, [2.5, 4.5, 6.5]);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Vectorize<F> {
    kernel: F,
    run: Run,
}

/// Makes `kernel`, a function of one to six scalars, apply elementwise over slices.
///
/// ```
/// use parmemo_parallel::vectorize::{vectorize, Target};
/// let pdf = |x: f64, mu: f64, sigma: f64| {
///     let z = (x - mu) / sigma;
///     (-0.5 * z * z).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt())
/// };
/// let points = [-1.0, 0.0, 1.0];
/// let density = vectorize(pdf).target(Target::Parallel).apply3(&points, 0.0, 1.0)?;
/// assert_eq!(density[0], density[2]);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
pub fn vectorize<F>(kernel: F) -> Vectorize<F> {
    Vectorize {
        kernel,
        run: Run::from(Target::Sequential),
    }
}

/// One input as the chunk loops see it: a window of a slice, or a repeated scalar.
trait Lane: Copy + Sync {
    type Item: Copy;
    fn window(&self, start: usize, len: usize) -> impl Iterator<Item = Self::Item>;
}

impl<T: Copy + Sync> Lane for &[T] {
    type Item = T;
    #[inline]
    fn window(&self, start: usize, len: usize) -> impl Iterator<Item = T> {
        self[start..start + len].iter().copied()
    }
}

#[derive(Clone, Copy)]
struct Repeat<T>(T);

impl<T: Copy + Sync> Lane for Repeat<T> {
    type Item = T;
    #[inline]
    fn window(&self, _start: usize, len: usize) -> impl Iterator<Item = T> {
        std::iter::repeat_n(self.0, len)
    }
}

/// Where the values the kernel computes go, filled chunk by chunk: `chunk(start, out)`
/// writes the outputs of elements `start..start + out.len()`.
trait Sink<R> {
    type Output;
    fn fill(self, chunk: impl Fn(usize, &mut [R]) + Sync + Send) -> Self::Output;
}

struct NewVec {
    len: usize,
    run: Run,
}

impl<R: Default + Clone + Send> Sink<R> for NewVec {
    type Output = Result<Vec<R>, Error>;

    fn fill(self, chunk: impl Fn(usize, &mut [R]) + Sync + Send) -> Self::Output {
        // For zero-valued defaults (numbers) the allocator hands out zeroed pages that
        // are first touched by the workers, so this costs no extra pass.
        let mut out = vec![R::default(); self.len];
        Into {
            out: &mut out,
            run: self.run,
        }
        .fill(chunk)?;
        Ok(out)
    }
}

struct Into<'o, R> {
    out: &'o mut [R],
    run: Run,
}

impl<R: Send> Sink<R> for Into<'_, R> {
    type Output = Result<(), Error>;

    fn fill(self, chunk: impl Fn(usize, &mut [R]) + Sync + Send) -> Self::Output {
        let threads = splits(self.run, self.out.len())?;
        fold_chunks(self.out, 1, 1, threads, chunk, || (), |(), ()| ())
    }
}

fn into_sink<R>(out: &mut [R], len: Option<usize>, run: Run) -> Result<Into<'_, R>, Error> {
    match len {
        Some(expected) if expected != out.len() => Err(Error::OutputLength {
            expected,
            got: out.len(),
        }),
        _ => Ok(Into { out, run }),
    }
}

/// The chunk loop of a fallible kernel: stops at its chunk's first failure.
fn try_chunk<'f, R, E, F, LA>(
    f: &'f F,
    a: LA,
) -> impl Fn(usize, &mut [R]) -> Option<(usize, E)> + Sync + Send + 'f
where
    F: Fn(LA::Item) -> Result<R, E> + Sync,
    LA: Lane + Send + 'f,
{
    move |start, out| {
        let n = out.len();
        for ((offset, slot), x) in out.iter_mut().enumerate().zip(a.window(start, n)) {
            match f(x) {
                Ok(value) => *slot = value,
                Err(error) => return Some((start + offset, error)),
            }
        }
        None
    }
}

/// Of two chunks' first failures, the one at the lower index.
pub(super) fn earliest<E>(a: Option<(usize, E)>, b: Option<(usize, E)>) -> Option<(usize, E)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

// The chunk loops: one tight loop per chunk over zipped windows of the inputs, so that
// the per-element cost is the kernel's alone.

fn chunk1<'f, R, F, LA>(f: &'f F, a: LA) -> impl Fn(usize, &mut [R]) + Sync + Send + 'f
where
    F: Fn(LA::Item) -> R + Sync,
    LA: Lane + Send + 'f,
{
    move |start, out| {
        let n = out.len();
        for (slot, x) in out.iter_mut().zip(a.window(start, n)) {
            *slot = f(x);
        }
    }
}

fn chunk2<'f, R, F, LA, LB>(f: &'f F, a: LA, b: LB) -> impl Fn(usize, &mut [R]) + Sync + Send + 'f
where
    F: Fn(LA::Item, LB::Item) -> R + Sync,
    LA: Lane + Send + 'f,
    LB: Lane + Send + 'f,
{
    move |start, out| {
        let n = out.len();
        for (slot, (x, y)) in out
            .iter_mut()
            .zip(a.window(start, n).zip(b.window(start, n)))
        {
            *slot = f(x, y);
        }
    }
}

fn chunk3<'f, R, F, LA, LB, LC>(
    kernel: &'f F,
    first: LA,
    second: LB,
    third: LC,
) -> impl Fn(usize, &mut [R]) + Sync + Send + 'f
where
    F: Fn(LA::Item, LB::Item, LC::Item) -> R + Sync,
    LA: Lane + Send + 'f,
    LB: Lane + Send + 'f,
    LC: Lane + Send + 'f,
{
    move |start, out| {
        let n = out.len();
        let inputs = first
            .window(start, n)
            .zip(second.window(start, n))
            .zip(third.window(start, n));
        for (slot, ((x, y), z)) in out.iter_mut().zip(inputs) {
            *slot = kernel(x, y, z);
        }
    }
}

impl<F> Vectorize<F> {
    /// Where to run: [`Target::Sequential`] (the default) or [`Target::Parallel`].
    ///
    /// ```
    /// use parmemo_parallel::vectorize::{vectorize, Target};
    /// let v = vectorize(|x: u32| x + 1).target(Target::Parallel);
    /// assert_eq!(v.apply(&[1, 2][..])?, [2, 3]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    #[must_use]
    pub fn target(mut self, target: Target) -> Self {
        self.run.target = target;
        self
    }

    /// How many threads [`Target::Parallel`] uses, as [`Parallel::n_jobs`](crate::Parallel::n_jobs):
    /// `-1` all cores (the default), `n > 0` exactly `n`, `1` the calling thread. Unset,
    /// the enclosing [`Config`](crate::Config) scope's `n_jobs` applies.
    ///
    /// ```
    /// use parmemo_parallel::vectorize::{vectorize, Target};
    /// let square = vectorize(|x: u64| x * x).target(Target::Parallel).n_jobs(2);
    /// let input: Vec<u64> = (0..100_000).collect();
    /// assert_eq!(square.apply(&input)?[300], 90_000);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    #[must_use]
    pub fn n_jobs(mut self, n_jobs: i32) -> Self {
        self.run.n_jobs = Some(n_jobs);
        self
    }

    /// The kernel of one parameter over `a`, in a new vector (one element for a scalar).
    ///
    /// # Errors
    /// [`Error::ThreadPool`] if the pool cannot start.
    ///
    /// ```
    /// use parmemo_parallel::vectorize::vectorize;
    /// assert_eq!(vectorize(|x: f64| x.sqrt()).apply(&[4.0, 9.0])?, [2.0, 3.0]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply<'a, A, R>(&self, a: impl std::convert::Into<Arg<'a, A>>) -> Result<Vec<R>, Error>
    where
        F: Fn(A) -> R + Sync,
        A: Copy + Send + Sync + 'a,
        R: Default + Clone + Send,
    {
        let a = a.into();
        let len = a.len().unwrap_or(1);
        self.broadcast1(a, NewVec { len, run: self.run })
    }

    /// The kernel of one parameter over `a`, written into `out`.
    ///
    /// # Errors
    /// [`Error::OutputLength`] unless `out` is as long as `a` (any length for a scalar,
    /// which fills it); [`Error::ThreadPool`] if the pool cannot start.
    ///
    /// ```
    /// use parmemo_parallel::vectorize::vectorize;
    /// let mut out = [0; 3];
    /// vectorize(|x: i32| x * x).apply_into(&[1, 2, 3], &mut out)?;
    /// assert_eq!(out, [1, 4, 9]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply_into<'a, A, R>(
        &self,
        a: impl std::convert::Into<Arg<'a, A>>,
        out: &mut [R],
    ) -> Result<(), Error>
    where
        F: Fn(A) -> R + Sync,
        A: Copy + Send + Sync + 'a,
        R: Send,
    {
        let a = a.into();
        let len = into_len(a.len(), out.len());
        let a = a.stretched(len);
        let sink = into_sink(out, len, self.run)?;
        self.broadcast1(a, sink)
    }

    /// [`apply_into`](Self::apply_into) for a kernel that can fail: the failure at the
    /// lowest index is returned as [`Error::Task`] naming that element.
    ///
    /// What `out` holds then: every element before the failing one is written, as are
    /// whole chunks after it that ran on other threads (numba keeps computing the other
    /// elements too); the rest of the failing chunk keeps what `out` held before. Treat
    /// `out` past the failing index as unspecified.
    ///
    /// # Errors
    /// As [`apply_into`](Self::apply_into), and [`Error::Task`] for a failing element.
    ///
    /// ```
    /// use parmemo_parallel::{vectorize::vectorize, Error};
    /// let mut out = [0.0; 3];
    /// let checked_ln = |x: f64| if x > 0.0 { Ok(x.ln()) } else { Err(format!("ln({x})")) };
    /// let result = vectorize(checked_ln).try_apply_into(&[1.0, -2.0, 3.0], &mut out);
    /// assert_eq!(result, Err(Error::task(1, "ln(-2)")));
    /// assert_eq!(out[0], 0.0); // ln(1): elements before the failure are written
    /// ```
    pub fn try_apply_into<'a, A, R, E>(
        &self,
        a: impl std::convert::Into<Arg<'a, A>>,
        out: &mut [R],
    ) -> Result<(), Error>
    where
        F: Fn(A) -> Result<R, E> + Sync,
        A: Copy + Send + Sync + 'a,
        R: Send,
        E: Display + Send,
    {
        let a = a.into();
        let len = into_len(a.len(), out.len());
        let a = a.stretched(len);
        let Into { out, run } = into_sink(out, len, self.run)?;
        let kernel = &self.kernel;
        let threads = splits(run, out.len())?;
        let failure = match a {
            Arg::Slice(a) => {
                fold_chunks(out, 1, 1, threads, try_chunk(kernel, a), || None, earliest)?
            }
            Arg::Scalar(a) => fold_chunks(
                out,
                1,
                1,
                threads,
                try_chunk(kernel, Repeat(a)),
                || None,
                earliest,
            )?,
        };
        match failure {
            None => Ok(()),
            Some((index, error)) => Err(Error::task(index, error.to_string())),
        }
    }

    /// The kernel of two parameters over `a` and `b`, in a new vector.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for slices of different lengths;
    /// [`Error::ThreadPool`] if the pool cannot start.
    ///
    /// ```
    /// use parmemo_parallel::vectorize::vectorize;
    /// let add = vectorize(|x: i64, y: i64| x + y);
    /// assert_eq!(add.apply2(&[1, 2], &[10, 20])?, [11, 22]);
    /// assert_eq!(add.apply2(&[1, 2], 100)?, [101, 102]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply2<'a, A, B, R>(
        &self,
        a: impl std::convert::Into<Arg<'a, A>>,
        b: impl std::convert::Into<Arg<'a, B>>,
    ) -> Result<Vec<R>, Error>
    where
        F: Fn(A, B) -> R + Sync,
        A: Copy + Send + Sync + 'a,
        B: Copy + Send + Sync + 'a,
        R: Default + Clone + Send,
    {
        let (a, b) = (a.into(), b.into());
        let len = common_len(&[a.len(), b.len()])?;
        let (a, b) = (a.stretched(len), b.stretched(len));
        let len = len.unwrap_or(1);
        self.broadcast2(a, b, NewVec { len, run: self.run })
    }

    /// The kernel of two parameters over `a` and `b`, written into `out`.
    ///
    /// # Errors
    /// As [`apply2`](Self::apply2), and [`Error::OutputLength`] for an `out` of another
    /// length than the slices.
    ///
    /// ```
    /// use parmemo_parallel::vectorize::vectorize;
    /// let mut out = [0.0; 2];
    /// vectorize(|x: f64, y: f64| x * y).apply2_into(2.0, &[1.5, 2.5], &mut out)?;
    /// assert_eq!(out, [3.0, 5.0]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply2_into<'a, A, B, R>(
        &self,
        a: impl std::convert::Into<Arg<'a, A>>,
        b: impl std::convert::Into<Arg<'a, B>>,
        out: &mut [R],
    ) -> Result<(), Error>
    where
        F: Fn(A, B) -> R + Sync,
        A: Copy + Send + Sync + 'a,
        B: Copy + Send + Sync + 'a,
        R: Send,
    {
        let (a, b) = (a.into(), b.into());
        let len = into_len(common_len(&[a.len(), b.len()])?, out.len());
        let (a, b) = (a.stretched(len), b.stretched(len));
        let sink = into_sink(out, len, self.run)?;
        self.broadcast2(a, b, sink)
    }

    /// The kernel of three parameters over `a`, `b` and `c`, in a new vector.
    ///
    /// # Errors
    /// As [`apply2`](Self::apply2).
    ///
    /// ```
    /// use parmemo_parallel::{vectorize::vectorize, Error};
    /// let fma = vectorize(|x: f64, a: f64, b: f64| x.mul_add(a, b));
    /// assert_eq!(fma.apply3(&[1.0, 2.0], 3.0, &[0.5, 0.25])?, [3.5, 6.25]);
    /// assert_eq!(
    ///     fma.apply3(&[1.0, 2.0], 3.0, &[0.5, 0.25, 0.0]),
    ///     Err(Error::LengthMismatch { argument: 2, expected: 2, got: 3 })
    /// );
    /// // A slice of one element broadcasts like a scalar (numpy's rule).
    /// assert_eq!(fma.apply3(&[1.0, 2.0], &[3.0], &[0.5])?, [3.5, 6.5]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply3<'a, A, B, C, R>(
        &self,
        a: impl std::convert::Into<Arg<'a, A>>,
        b: impl std::convert::Into<Arg<'a, B>>,
        c: impl std::convert::Into<Arg<'a, C>>,
    ) -> Result<Vec<R>, Error>
    where
        F: Fn(A, B, C) -> R + Sync,
        A: Copy + Send + Sync + 'a,
        B: Copy + Send + Sync + 'a,
        C: Copy + Send + Sync + 'a,
        R: Default + Clone + Send,
    {
        let (a, b, c) = (a.into(), b.into(), c.into());
        let len = common_len(&[a.len(), b.len(), c.len()])?;
        let (a, b, c) = (a.stretched(len), b.stretched(len), c.stretched(len));
        let len = len.unwrap_or(1);
        self.broadcast3(a, b, c, NewVec { len, run: self.run })
    }

    /// The kernel of three parameters over `a`, `b` and `c`, written into `out`.
    ///
    /// # Errors
    /// As [`apply2_into`](Self::apply2_into).
    ///
    /// ```
    /// use parmemo_parallel::vectorize::{vectorize, Target};
    /// let points: Vec<f64> = (0..100_000).map(|i| f64::from(i) / 1e4).collect();
    /// let mut out = vec![0.0; points.len()];
    /// vectorize(|x: f64, lo: f64, hi: f64| x.clamp(lo, hi))
    ///     .target(Target::Parallel)
    ///     .apply3_into(&points, 1.0, 2.0, &mut out)?;
    /// assert_eq!((out[0], out[15_000], out[99_999]), (1.0, 1.5, 2.0));
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply3_into<'a, A, B, C, R>(
        &self,
        a: impl std::convert::Into<Arg<'a, A>>,
        b: impl std::convert::Into<Arg<'a, B>>,
        c: impl std::convert::Into<Arg<'a, C>>,
        out: &mut [R],
    ) -> Result<(), Error>
    where
        F: Fn(A, B, C) -> R + Sync,
        A: Copy + Send + Sync + 'a,
        B: Copy + Send + Sync + 'a,
        C: Copy + Send + Sync + 'a,
        R: Send,
    {
        let (a, b, c) = (a.into(), b.into(), c.into());
        let len = into_len(common_len(&[a.len(), b.len(), c.len()])?, out.len());
        let (a, b, c) = (a.stretched(len), b.stretched(len), c.stretched(len));
        let sink = into_sink(out, len, self.run)?;
        self.broadcast3(a, b, c, sink)
    }

    // One arm per mix of slices and scalars, so that each compiles to its own loop with
    // the scalars hoisted out of it.

    fn broadcast1<A, R, S>(&self, a: Arg<'_, A>, sink: S) -> S::Output
    where
        F: Fn(A) -> R + Sync,
        A: Copy + Send + Sync,
        S: Sink<R>,
    {
        let f = &self.kernel;
        match a {
            Arg::Slice(a) => sink.fill(chunk1(f, a)),
            Arg::Scalar(a) => sink.fill(chunk1(f, Repeat(a))),
        }
    }

    fn broadcast2<A, B, R, S>(&self, a: Arg<'_, A>, b: Arg<'_, B>, sink: S) -> S::Output
    where
        F: Fn(A, B) -> R + Sync,
        A: Copy + Send + Sync,
        B: Copy + Send + Sync,
        S: Sink<R>,
    {
        use Arg::{Scalar as S_, Slice as V};
        let f = &self.kernel;
        match (a, b) {
            (V(a), V(b)) => sink.fill(chunk2(f, a, b)),
            (V(a), S_(b)) => sink.fill(chunk2(f, a, Repeat(b))),
            (S_(a), V(b)) => sink.fill(chunk2(f, Repeat(a), b)),
            (S_(a), S_(b)) => sink.fill(chunk2(f, Repeat(a), Repeat(b))),
        }
    }

    fn broadcast3<A, B, C, R, S>(
        &self,
        a: Arg<'_, A>,
        b: Arg<'_, B>,
        c: Arg<'_, C>,
        sink: S,
    ) -> S::Output
    where
        F: Fn(A, B, C) -> R + Sync,
        A: Copy + Send + Sync,
        B: Copy + Send + Sync,
        C: Copy + Send + Sync,
        S: Sink<R>,
    {
        use Arg::{Scalar as S_, Slice as V};
        let f = &self.kernel;
        match (a, b, c) {
            (V(a), V(b), V(c)) => sink.fill(chunk3(f, a, b, c)),
            (V(a), V(b), S_(c)) => sink.fill(chunk3(f, a, b, Repeat(c))),
            (V(a), S_(b), V(c)) => sink.fill(chunk3(f, a, Repeat(b), c)),
            (S_(a), V(b), V(c)) => sink.fill(chunk3(f, Repeat(a), b, c)),
            (V(a), S_(b), S_(c)) => sink.fill(chunk3(f, a, Repeat(b), Repeat(c))),
            (S_(a), V(b), S_(c)) => sink.fill(chunk3(f, Repeat(a), b, Repeat(c))),
            (S_(a), S_(b), V(c)) => sink.fill(chunk3(f, Repeat(a), Repeat(b), c)),
            (S_(a), S_(b), S_(c)) => sink.fill(chunk3(f, Repeat(a), Repeat(b), Repeat(c))),
        }
    }
}

/// An input of a kernel of four to six parameters: a slice or a repeated scalar, decided
/// at run time. Beyond three parameters one loop per mix of slices and scalars (`2^n`)
/// would be too much code; instead every input is seen as a slice, a scalar as a block
/// of copies of itself, so the loop over a block is one loop over slices, which the
/// compiler vectorizes (a branch per element on the kind of input made `apply4` three
/// times slower than a hand loop).
enum Either<'a, T> {
    Slice(&'a [T]),
    Repeat([T; BLOCK]),
}

/// The elements a kernel of four to six parameters computes per inner loop.
const BLOCK: usize = 256;

impl<'a, T: Copy> Either<'a, T> {
    fn new(arg: Arg<'a, T>) -> Self {
        match arg {
            Arg::Slice(values) => Either::Slice(values),
            Arg::Scalar(value) => Either::Repeat([value; BLOCK]),
        }
    }

    /// The `len <= BLOCK` inputs from `start` on.
    #[inline]
    fn block(&self, start: usize, len: usize) -> &[T] {
        match self {
            Either::Slice(values) => &values[start..start + len],
            Either::Repeat(copies) => &copies[..len],
        }
    }
}

/// `apply4`/`apply4_into` to `apply6`/`apply6_into`: the kernels of four to six
/// parameters, broadcasting as the others do.
macro_rules! wide_apply {
    ($count:literal, $apply:ident, $apply_into:ident, $($arg:ident: $T:ident),+) => {
        impl<F> Vectorize<F> {
            #[doc = concat!("The kernel of ", $count, " parameters over its arguments (slices of one")]
            /// length, one-element slices or scalars, broadcast), in a new vector.
            ///
            /// # Errors
            /// As [`apply2`](Self::apply2).
            #[allow(clippy::too_many_arguments)]
            pub fn $apply<'a, $($T,)+ R>(
                &self,
                $($arg: impl std::convert::Into<Arg<'a, $T>>,)+
            ) -> Result<Vec<R>, Error>
            where
                F: Fn($($T),+) -> R + Sync,
                $($T: Copy + Send + Sync + 'a,)+
                R: Default + Clone + Send,
            {
                $(let $arg = $arg.into();)+
                let len = common_len(&[$($arg.len()),+])?.unwrap_or(1);
                let mut out = vec![R::default(); len];
                self.$apply_into($($arg,)+ &mut out)?;
                Ok(out)
            }

            #[doc = concat!("The kernel of ", $count, " parameters over its arguments, written into `out`.")]
            ///
            /// # Errors
            /// As [`apply2_into`](Self::apply2_into).
            #[allow(clippy::too_many_arguments)]
            pub fn $apply_into<'a, $($T,)+ R>(
                &self,
                $($arg: impl std::convert::Into<Arg<'a, $T>>,)+
                out: &mut [R],
            ) -> Result<(), Error>
            where
                F: Fn($($T),+) -> R + Sync,
                $($T: Copy + Send + Sync + 'a,)+
                R: Send,
            {
                $(let $arg = $arg.into();)+
                let len = into_len(common_len(&[$($arg.len()),+])?, out.len());
                $(let $arg = $arg.stretched(len);)+
                let sink = into_sink(out, len, self.run)?;
                let kernel = &self.kernel;
                sink.fill(move |start, out: &mut [R]| {
                    $(let $arg = Either::new($arg);)+
                    for (index, out) in out.chunks_mut(BLOCK).enumerate() {
                        let n = out.len();
                        let at = start + index * BLOCK;
                        $(let $arg = $arg.block(at, n);)+
                        for (i, slot) in out.iter_mut().enumerate() {
                            *slot = kernel($($arg[i]),+);
                        }
                    }
                })
            }
        }
    };
}

wide_apply!("four", apply4, apply4_into, a: A, b: B, c: C, d: D);
wide_apply!("five", apply5, apply5_into, a: A, b: B, c: C, d: D, e: E);
wide_apply!("six", apply6, apply6_into, a: A, b: B, c: C, d: D, e: E, g: G);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_of_four_to_six_parameters_broadcast_as_numba_does() {
        // numba's broadcasting test: a kernel of four arguments, slices and scalars mixed.
        let axpb = vectorize(|a: f64, x: f64, b: f64, c: f64| a * x + b - c);
        let xs: Vec<f64> = (0..10_000).map(f64::from).collect();
        let expected: Vec<f64> = xs.iter().map(|&x| 2.0 * x + 1.0 - 0.5).collect();
        assert_eq!(axpb.apply4(2.0, &xs, &[1.0], 0.5), Ok(expected.clone()));
        let parallel = axpb.target(Target::Parallel);
        assert_eq!(
            parallel.apply4(&[2.0], &xs, 1.0, &[0.5]),
            Ok(expected.clone())
        );
        let mut out = vec![0.0; xs.len()];
        parallel.apply4_into(2.0, &xs, 1.0, 0.5, &mut out).unwrap();
        assert_eq!(out, expected);
        assert_eq!(
            axpb.apply4(&xs, &xs[..3], 1.0, 0.5),
            Err(Error::LengthMismatch {
                argument: 1,
                expected: 10_000,
                got: 3
            })
        );
        let sum5 = vectorize(|a: i32, b: i32, c: i32, d: i32, e: i32| a + b + c + d + e);
        assert_eq!(
            sum5.apply5(&[1, 2], 10, &[100], 1000, &[0, 5]),
            Ok(vec![1111, 1117])
        );
        let sum6 = vectorize(|a: u8, b: u8, c: u8, d: u8, e: u8, g: u8| a + b + c + d + e + g);
        let mut six = [0_u8; 3];
        sum6.apply6_into(1, 1, 1, 1, &[1], &[1, 2, 3], &mut six)
            .unwrap();
        assert_eq!(six, [6, 7, 8]);
        assert_eq!(sum6.apply6(1, 1, 1, 1, 1, 1), Ok(vec![6]));
    }

    #[test]
    fn one_element_slices_broadcast_and_fill_an_output() {
        let add = vectorize(|x: i32, y: i32| x + y);
        assert_eq!(add.apply2(&[1, 2, 3], &[10]), Ok(vec![11, 12, 13]));
        assert_eq!(add.apply2(&[1], &[10]), Ok(vec![11]));
        let mut out = [0; 4];
        add.apply2_into(&[1], &[10], &mut out).unwrap();
        assert_eq!(out, [11; 4]);
        let mut out = [0; 3];
        vectorize(|x: i32| -x).apply_into(&[7], &mut out).unwrap();
        assert_eq!(out, [-7; 3]);
    }

    #[test]
    fn lengths_must_agree() {
        assert_eq!(common_len(&[None, None]), Ok(None));
        assert_eq!(common_len(&[Some(3), None, Some(3)]), Ok(Some(3)));
        assert_eq!(
            common_len(&[None, Some(3), Some(4)]),
            Err(Error::LengthMismatch {
                argument: 2,
                expected: 3,
                got: 4
            })
        );
    }

    #[test]
    fn scalars_alone_make_one_element_or_fill_the_output() {
        let v = vectorize(|x: i32, y: i32| x * y);
        assert_eq!(v.apply2(3, 4), Ok(vec![12]));
        let mut out = [0; 4];
        v.apply2_into(3, 4, &mut out).unwrap();
        assert_eq!(out, [12; 4]);
    }

    #[test]
    fn output_length_is_checked() {
        let mut out = [0; 2];
        assert_eq!(
            vectorize(|x: i32| x).apply_into(&[1, 2, 3], &mut out),
            Err(Error::OutputLength {
                expected: 3,
                got: 2
            })
        );
    }

    #[test]
    fn the_first_failure_wins_in_parallel_too() {
        let input: Vec<i64> = (0..100_000).collect();
        let mut out = vec![0; input.len()];
        let result = vectorize(|x: i64| if x % 30_000 == 29_999 { Err(x) } else { Ok(x) })
            .target(Target::Parallel)
            .try_apply_into(&input, &mut out);
        assert_eq!(result, Err(Error::task(29_999, "29999")));
    }
}
