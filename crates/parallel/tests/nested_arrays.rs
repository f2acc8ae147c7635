//! Vectors of numbers inside task arguments and results (a tuple, a struct's field, an
//! `Option`, a `Vec` of them) on worker processes: large ones cross beside the encoding
//! and are read straight into the vectors the values own, in every path a batch takes.

use parmemo_parallel::{Backend, BatchSize, Parallel, Processes};
use serde::{Deserialize, Serialize};

parmemo_parallel::enable_test_support!();

fn on_processes() -> Parallel<Processes> {
    Parallel::new().backend(Backend::Processes).n_jobs(2)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sample {
    name: String,
    values: Vec<f64>,
    counts: Option<Vec<u32>>,
    rows: Vec<Vec<i16>>,
}

fn sample(seed: u32, len: usize) -> Sample {
    Sample {
        name: format!("sample {seed}"),
        values: (0..len)
            .map(|i| f64::from(seed) + i as f64 * 0.25)
            .collect(),
        counts: seed
            .is_multiple_of(2)
            .then(|| (0..u32::try_from(len).unwrap()).map(|i| i ^ seed).collect()),
        rows: vec![vec![-1; len / 3], vec![i16::MAX; 2]],
    }
}

/// Reverses every vector of the sample: the result carries vectors back too.
fn reversed(mut sample: Sample) -> Sample {
    sample.values.reverse();
    if let Some(counts) = sample.counts.as_mut() {
        counts.reverse();
    }
    for row in &mut sample.rows {
        row.reverse();
    }
    sample
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn tuple_sum((values, k): (Vec<f64>, usize)) -> (f64, usize, Vec<f64>) {
    (values.iter().sum(), values.len() + k, values[..3].to_vec())
}

#[test]
fn structs_holding_vectors_cross_and_come_back_in_every_path() {
    let inputs: Vec<Sample> = [0, 1, 100_000, 3 << 20, 7]
        .into_iter()
        .zip(0..)
        .map(|(len, seed)| sample(seed, len))
        .collect();
    let expected: Vec<Sample> = inputs.iter().cloned().map(reversed).collect();
    for batch in [BatchSize::Auto, BatchSize::Fixed(1), BatchSize::Fixed(4)] {
        let results = on_processes()
            .batch_size(batch)
            .map(reversed, inputs.clone())
            .unwrap();
        assert_eq!(results, expected, "{batch:?}");
    }
    let mut unordered: Vec<(usize, Sample)> = on_processes()
        .run_unordered(reversed, inputs.clone())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    unordered.sort_by_key(|(index, _)| *index);
    assert!(unordered
        .into_iter()
        .map(|(_, s)| s)
        .eq(expected.iter().cloned()));
}

#[test]
fn a_large_vector_in_a_tuple_keeps_its_bits() {
    let values: Vec<f64> = (0..2_000_000_u64)
        .map(|i| f64::from_bits(0x7ff8_0000_0000_0001 ^ i))
        .chain([f64::NAN, -0.0, f64::INFINITY])
        .collect();
    let results = on_processes()
        .map(
            tuple_sum,
            vec![(values.clone(), 5), (vec![1.0, 2.0, 3.0], 1)],
        )
        .unwrap();
    assert_eq!(results[0].1, values.len() + 5);
    assert_eq!(
        results[0].2.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        values[..3].iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(results[1], (6.0, 4, vec![1.0, 2.0, 3.0]));
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn pairs_len(pairs: Vec<(f64, f64)>) -> usize {
    pairs.len()
}

#[test]
#[ignore = "run by a_large_value_sent_element_by_element_is_named_once_on_stderr"]
fn large_pairs_entry() {
    // 2 million pairs (32 MB): no vector of numbers, so element by element, twice.
    let pairs = vec![(1.0, 2.0); 2_000_000];
    let p = on_processes().batch_size(BatchSize::Fixed(1));
    assert_eq!(
        p.map(pairs_len, [pairs.clone(), pairs]).unwrap(),
        [2_000_000; 2]
    );
}

#[test]
fn a_large_value_sent_element_by_element_is_named_once_on_stderr() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "large_pairs_entry", "--ignored", "--nocapture"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("element by element").count(), 1, "{stderr}");
    assert!(stderr.contains("parmemo::Shared"), "{stderr}");
}
