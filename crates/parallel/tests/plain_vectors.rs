//! Plain vectors of numbers as task arguments and results on worker processes: they cross
//! whole, as raw bytes, in every path a batch can take (batched, one task per batch,
//! as completed, fallible), for every element type, empty or large.

use parmemo_parallel::{Backend, BatchSize, Parallel, Processes};

fn on_processes() -> Parallel<Processes> {
    Parallel::new().backend(Backend::Processes).n_jobs(2)
}

fn reversed<E: Copy>(mut values: Vec<E>) -> Vec<E> {
    values.reverse();
    values
}

fn lengths() -> Vec<usize> {
    vec![0, 1, 7, 100_000, 3 << 20, 5]
}

#[test]
fn vectors_of_every_length_cross_and_come_back() {
    let inputs: Vec<Vec<f64>> = lengths()
        .into_iter()
        .map(|n| (0..n).map(|i| i as f64 * 0.5 - 3.0).collect())
        .collect();
    let expected: Vec<Vec<f64>> = inputs.iter().cloned().map(reversed).collect();
    for batch in [BatchSize::Auto, BatchSize::Fixed(1), BatchSize::Fixed(4)] {
        let results = on_processes()
            .batch_size(batch)
            .map(reversed::<f64>, inputs.clone())
            .unwrap();
        assert_eq!(results, expected, "{batch:?}");
    }
}

#[test]
fn every_element_type_keeps_its_bits() {
    let bytes: Vec<Vec<u8>> = vec![(0..=255).collect(), vec![]];
    assert_eq!(
        on_processes().map(reversed::<u8>, bytes.clone()).unwrap(),
        bytes.into_iter().map(reversed).collect::<Vec<_>>()
    );
    let signed: Vec<Vec<i16>> = vec![vec![i16::MIN, -1, 0, i16::MAX]; 3];
    assert_eq!(
        on_processes().map(reversed::<i16>, signed).unwrap()[2],
        [i16::MAX, 0, -1, i16::MIN]
    );
    let wide: Vec<Vec<u64>> = vec![vec![u64::MAX, 1 << 63, 42]];
    assert_eq!(
        on_processes().map(reversed::<u64>, wide).unwrap(),
        [vec![42, 1 << 63, u64::MAX]]
    );
    // NaN payloads and negative zero survive: the bytes cross, not the values.
    let odd = f32::from_bits(0x7fc0_1234);
    let floats = vec![vec![odd, -0.0_f32, f32::INFINITY]];
    let back = on_processes().map(reversed::<f32>, floats).unwrap();
    let bits: Vec<u32> = back[0].iter().map(|x| x.to_bits()).collect();
    assert_eq!(
        bits,
        [f32::INFINITY.to_bits(), (-0.0_f32).to_bits(), 0x7fc0_1234]
    );
}

fn total(values: Vec<u32>) -> u64 {
    values.into_iter().map(u64::from).sum()
}

fn ramp(n: u32) -> Vec<u32> {
    (0..n).collect()
}

#[test]
fn vectors_as_only_the_argument_or_only_the_result() {
    let sums = on_processes()
        .map(total, vec![vec![1; 1000], vec![], vec![u32::MAX; 3]])
        .unwrap();
    assert_eq!(sums, [1000, 0, 3 * u64::from(u32::MAX)]);
    let ramps = on_processes().map(ramp, [0, 3, 200_000]).unwrap();
    assert_eq!(ramps[1], [0, 1, 2]);
    assert_eq!(ramps[2].len(), 200_000);
    assert_eq!(ramps[2][199_999], 199_999);
}

#[test]
fn vectors_as_completed_one_task_at_a_time() {
    let inputs: Vec<Vec<i32>> = (0..20).map(|n| (0..n * 1000).collect()).collect();
    let mut results: Vec<(usize, Vec<i32>)> = on_processes()
        .batch_size(BatchSize::Fixed(5))
        .run_unordered(reversed::<i32>, inputs.clone())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    results.sort_by_key(|(index, _)| *index);
    let expected: Vec<(usize, Vec<i32>)> = inputs.into_iter().map(reversed).enumerate().collect();
    assert_eq!(results, expected);
}

fn checked_mean(values: Vec<f64>) -> Result<Vec<f64>, String> {
    if values.is_empty() {
        return Err("no values".to_owned());
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    Ok(values.into_iter().map(|x| x - mean).collect())
}

#[test]
fn fallible_tasks_on_vectors_report_the_failing_one() {
    let centered = on_processes()
        .try_map(checked_mean, vec![vec![1.0, 3.0], vec![2.0; 10_000]])
        .unwrap();
    assert_eq!(centered[0], [-1.0, 1.0]);
    assert!(centered[1].iter().all(|&x| x == 0.0));
    let err = on_processes()
        .try_map(checked_mean, vec![vec![1.0], vec![], vec![2.0]])
        .unwrap_err();
    assert_eq!(
        err.task_error::<String>().map(String::as_str),
        Some("no values")
    );
    assert!(err.to_string().contains("no values"), "{err}");
}

#[test]
fn nested_vectors_still_travel_encoded() {
    #[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
    fn pairs(pair: (Vec<f64>, u8)) -> (usize, u8) {
        (pair.0.len(), pair.1)
    }
    let results = on_processes()
        .map(pairs, vec![(vec![1.0; 70_000], 1), (vec![], 2)])
        .unwrap();
    assert_eq!(results, [(70_000, 1), (0, 2)]);
}
