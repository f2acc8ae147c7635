//! vectorize, guvectorize and reduce against plain loops, on both targets.

use parmemo_parallel::vectorize::{guvectorize, reduce, vectorize, Arg, Target, PARALLEL_MIN_LEN};
use parmemo_parallel::Error;
use proptest::prelude::*;

fn kernel(x: f64, y: f64, z: f64) -> f64 {
    x.mul_add(y, z).sin()
}

/// An argument that is either a slice of `len` values or a scalar.
fn argument(len: usize) -> impl Strategy<Value = Result<Vec<f64>, f64>> {
    prop_oneof![
        prop::collection::vec(-10.0_f64..10.0, len).prop_map(Ok),
        (-10.0_f64..10.0).prop_map(Err),
    ]
}

fn as_arg(value: &Result<Vec<f64>, f64>) -> Arg<'_, f64> {
    match value {
        Ok(values) => Arg::Slice(values),
        Err(scalar) => Arg::Scalar(*scalar),
    }
}

fn at(value: &Result<Vec<f64>, f64>, i: usize) -> f64 {
    match value {
        Ok(values) => values[i],
        Err(scalar) => *scalar,
    }
}

fn three_arguments() -> impl Strategy<Value = [Result<Vec<f64>, f64>; 3]> {
    // Lengths on both sides of the parallel threshold.
    prop_oneof![0_usize..50, Just(PARALLEL_MIN_LEN + 3)]
        .prop_flat_map(|len| [argument(len), argument(len), argument(len)])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn apply3_broadcasts_like_a_loop(args in three_arguments()) {
        let len = args.iter().find_map(|a| a.as_ref().ok().map(Vec::len)).unwrap_or(1);
        let expected: Vec<f64> = (0..len)
            .map(|i| kernel(at(&args[0], i), at(&args[1], i), at(&args[2], i)))
            .collect();
        for target in [Target::Sequential, Target::Parallel] {
            let v = vectorize(kernel).target(target);
            let got = v.apply3(as_arg(&args[0]), as_arg(&args[1]), as_arg(&args[2]))?;
            prop_assert_eq!(&got, &expected);
            let mut out = vec![0.0; len];
            v.apply3_into(as_arg(&args[0]), as_arg(&args[1]), as_arg(&args[2]), &mut out)?;
            prop_assert_eq!(&out, &expected);
        }
    }

    #[test]
    fn apply2_and_apply_broadcast_like_a_loop(args in three_arguments()) {
        let len = args[..2].iter().find_map(|a| a.as_ref().ok().map(Vec::len)).unwrap_or(1);
        let add = |x: f64, y: f64| x - 2.0 * y;
        let expected: Vec<f64> = (0..len).map(|i| add(at(&args[0], i), at(&args[1], i))).collect();
        for target in [Target::Sequential, Target::Parallel] {
            let got = vectorize(add).target(target).apply2(as_arg(&args[0]), as_arg(&args[1]))?;
            prop_assert_eq!(&got, &expected);
        }
        let len = args[0].as_ref().map_or(1, Vec::len);
        let expected: Vec<f64> = (0..len).map(|i| at(&args[0], i).abs()).collect();
        let got = vectorize(f64::abs).target(Target::Parallel).apply(as_arg(&args[0]))?;
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn guvectorize_matches_a_row_loop(rows in 0_usize..300, row_len in 1_usize..80, out_len in 1_usize..4) {
        let data: Vec<f64> = (0..rows * row_len).map(|i| (i as f64 * 0.37).cos()).collect();
        let row_kernel = |row: &[f64], out: &mut [f64]| {
            for (k, slot) in out.iter_mut().enumerate() {
                *slot = row.iter().map(|v| v * (k + 1) as f64).sum();
            }
        };
        let mut expected = vec![0.0; rows * out_len];
        for (row, out) in data.chunks_exact(row_len).zip(expected.chunks_exact_mut(out_len)) {
            row_kernel(row, out);
        }
        for target in [Target::Sequential, Target::Parallel] {
            let got = guvectorize(row_kernel).target(target).apply(&data, row_len, out_len)?;
            prop_assert_eq!(&got, &expected);
        }
    }
}

#[test]
fn mismatched_slices_are_errors_not_panics() {
    let v = vectorize(|x: f64, y: f64| x + y);
    assert_eq!(
        v.apply2(&[1.0, 2.0], &[1.0, 2.0, 3.0]),
        Err(Error::LengthMismatch {
            argument: 1,
            expected: 2,
            got: 3
        })
    );
    let mut short = [0.0; 1];
    assert_eq!(
        v.apply2_into(&[1.0, 2.0], 1.0, &mut short),
        Err(Error::OutputLength {
            expected: 2,
            got: 1
        })
    );
}

#[test]
fn guvectorize_shapes_are_checked() {
    let g = guvectorize(|r: &[f64], o: &mut [f64]| o[0] = r[0]);
    assert_eq!(g.apply(&[1.0; 10], 0, 1), Err(Error::ZeroRowLen));
    assert_eq!(
        g.apply(&[1.0; 10], 3, 1),
        Err(Error::RaggedRows {
            len: 10,
            row_len: 3
        })
    );
    let mut out = [0.0; 4];
    assert_eq!(
        g.apply_into(&[1.0; 10], 5, &mut out, 1),
        Err(Error::OutputLength {
            expected: 2,
            got: 4
        })
    );
}

#[test]
fn reduce_agrees_with_a_sequential_fold() {
    let data: Vec<f64> = (0..300_000).map(|i| f64::from(i % 1000) - 500.0).collect();
    let count_negative = |chunk: &[f64]| chunk.iter().filter(|v| **v < 0.0).count();
    let sequential = reduce(
        &data,
        Target::Sequential,
        || 0,
        count_negative,
        |a, b| a + b,
    );
    let parallel = reduce(&data, Target::Parallel, || 0, count_negative, |a, b| a + b);
    assert_eq!(sequential, Ok(150_000));
    assert_eq!(parallel, sequential);
}

#[cfg(feature = "ndarray")]
#[test]
fn guvectorize_over_ndarray_views() {
    let data = ndarray::Array2::from_shape_fn((50, 4), |(r, c)| (r * 4 + c) as f64);
    let sums =
        guvectorize(|r: &[f64], o: &mut [f64]| o[0] = r.iter().sum()).target(Target::Parallel);
    let by_row = sums.apply_array(&data, 1).unwrap();
    assert_eq!(by_row[[1, 0]], 4.0 + 5.0 + 6.0 + 7.0);
    let by_column = sums.apply_array(&data.t(), 1).unwrap();
    assert_eq!(by_column.dim(), (4, 1));
    assert_eq!(
        by_column[[0, 0]],
        (0..50).map(|r| f64::from(r * 4)).sum::<f64>()
    );
}

/// The threads a kernel ran on.
fn threads_used(run: impl FnOnce(&(dyn Fn() + Sync))) -> usize {
    let seen = std::sync::Mutex::new(std::collections::HashSet::new());
    run(&|| {
        seen.lock().unwrap().insert(std::thread::current().id());
    });
    seen.into_inner().unwrap().len()
}

#[test]
fn the_thread_count_is_the_kernels_the_scopes_or_all_cores() {
    use parmemo_parallel::Config;
    let input: Vec<u64> = (0..200_000).collect();
    let caller = std::thread::current().id();
    let only_the_caller = |n_jobs: i32| {
        let seen = std::sync::Mutex::new(std::collections::HashSet::new());
        let doubled = vectorize(|x: u64| {
            seen.lock().unwrap().insert(std::thread::current().id());
            2 * x
        })
        .target(Target::Parallel)
        .n_jobs(n_jobs)
        .apply(&input)
        .unwrap();
        assert_eq!(doubled[199_999], 399_998);
        let seen = seen.into_inner().unwrap();
        seen.len() == 1 && seen.contains(&caller)
    };
    assert!(only_the_caller(1), "n_jobs(1) is the calling thread");
    let two = threads_used(|mark| {
        let rows = guvectorize(|r: &[u64], o: &mut [u64]| {
            mark();
            o[0] = r[0];
        })
        .target(Target::Parallel)
        .n_jobs(2)
        .apply(&input, 10, 1)
        .unwrap();
        assert_eq!(rows[19_999], 199_990);
    });
    assert!(two <= 2, "{two} threads for n_jobs(2)");
    // A scope's n_jobs reaches kernels that set none, reduce included.
    let scoped = Config::new().n_jobs(1).scope(|| {
        threads_used(|mark| {
            let sum = reduce(
                &input,
                Target::Parallel,
                || 0,
                |chunk| {
                    mark();
                    chunk.iter().sum::<u64>()
                },
                |a, b| a + b,
            );
            assert_eq!(sum, Ok(199_999 * 200_000 / 2));
        })
    });
    assert_eq!(scoped, 1);
    assert_eq!(
        vectorize(|x: u64| x)
            .target(Target::Parallel)
            .n_jobs(0)
            .apply(&input),
        Err(Error::InvalidNJobs { n_jobs: 0 })
    );
}
