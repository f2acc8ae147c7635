"""The Python side of the side-by-side benchmark: the tutorial's workloads in numpy,
numba (jit, prange, vectorize and guvectorize on all cores) and joblib (Parallel on loky
and threading, Memory).

    python workloads.py data DATA_DIR          # writes the shared inputs, once
    python workloads.py run DATA_DIR OUT_DIR   # times each workload, writes answers

Inputs are raw little-endian arrays (`<name>.f32` / `<name>.f64`) that the Rust side
reads as they are. Each implementation writes its answer to OUT_DIR/<workload>.<impl>.bin
and its best time to OUT_DIR/timings.tsv, so that report.py can check that both sides
computed the same thing before it compares speeds.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import joblib
import numba
import numpy as np
from numba import guvectorize, njit, prange, vectorize

SEED = 2019
N_JOBS = os.cpu_count() or 1


# ---------------------------------------------------------------- data


def make_data(data_dir):
    os.makedirs(data_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    arrays = {
        "walsh_1k.f64": rng.random(1_000),
        "walsh_10k.f64": rng.random(10_000),
        "wald.f64": rng.normal(0.1, 1.0, (10_000, 100)),
        "rows.f32": rng.random((10_000, 100)).astype(np.float32),
        "job.f32": rng.random((100, 10_000)).astype(np.float32),
        "memory_40kb.f32": rng.random(10_000).astype(np.float32),
        "memory_8mb.f32": rng.random(2_000_000).astype(np.float32),
        "big_64mb.f64": rng.random(8 << 20),
        "big_200mb.f64": rng.random(25 << 20),
    }
    for name, array in arrays.items():
        array.astype(array.dtype.newbyteorder("<")).tofile(os.path.join(data_dir, name))


def load(data_dir, name, shape=None):
    dtype = np.float32 if name.endswith(".f32") else np.float64
    array = np.fromfile(os.path.join(data_dir, name), dtype=dtype)
    return array.reshape(shape) if shape else array


# ---------------------------------------------------------------- kernels


def walsh_median_numpy(x):
    """The tutorial's numpy version, with the i < j averages the estimator is defined on."""
    pairs = (x[:, None] + x[None, :]) / 2
    return np.median(pairs[np.triu_indices(len(x), k=1)])


@njit(nogil=True, cache=False)
def walsh_median_numba(x):
    n = x.shape[0]
    averages = np.empty(n * (n - 1) // 2, dtype=x.dtype)
    k = 0
    for i in range(n):
        for j in range(i + 1, n):
            averages[k] = (x[i] + x[j]) / 2
            k += 1
    return np.median(averages)


@njit
def pair_averages_f32(row):
    n = row.shape[0]
    averages = np.empty(n * (n - 1) // 2, dtype=np.float32)
    k = 0
    for i in range(n):
        for j in range(i + 1, n):
            averages[k] = (row[i] + row[j]) / np.float32(2)
            k += 1
    return averages


@guvectorize(["void(float32[:], float32[:])"], "(n)->()", target="parallel", nopython=True)
def walsh_median_rows_numba(row, out):
    out[0] = np.median(pair_averages_f32(row))


@guvectorize(["void(float32[:], float32[:])"], "(n)->()", target="parallel", nopython=True)
def walsh_median_rows_numba_sort(row, out):
    """The weaker form, kept for reference: a full sort of the averages."""
    averages = pair_averages_f32(row)
    averages.sort()
    m = averages.shape[0]
    if m % 2 == 1:
        out[0] = averages[m // 2]
    else:
        out[0] = (averages[m // 2 - 1] + averages[m // 2]) / np.float32(2)


@njit(parallel=True)
def wald_bonferroni_numba(data, mu0, sigma):
    rows, n = data.shape
    p = np.empty(rows)
    for i in prange(rows):
        total = 0.0
        for j in range(n):
            total += data[i, j]
        z = (total / n - mu0) * math.sqrt(n) / sigma
        p[i] = min(math.erfc(abs(z) / math.sqrt(2.0)) * rows, 1.0)
    return p


def wald_bonferroni_numpy(data, mu0, sigma):
    rows, n = data.shape
    z = (data.mean(axis=1) - mu0) * math.sqrt(n) / sigma
    from scipy.special import erfc

    return np.minimum(erfc(np.abs(z) / math.sqrt(2.0)) * rows, 1.0)


@vectorize(["float64(float64, float64, float64)"], target="parallel")
def normal_pdf_numba(x, mean, sd):
    z = (x - mean) / sd
    return math.exp(-0.5 * z * z) / (sd * math.sqrt(2.0 * math.pi))


def normal_pdf_numpy(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def add_one(x):
    return x + 1


def checksum(values, salt):
    return float(values.sum(dtype=np.float64)) + salt


def small_result(i):
    """A result of about 100 bytes: what the miss of a small result costs is the store."""
    return [float(i)] * 12


def length(values):
    """As little as possible, so that the transfer is what is measured."""
    return float(len(values))


def length_of_pair(pair):
    """An array inside a tuple, as joblib users pass one: `delayed(f)((samples, k))`."""
    values, k = pair
    return float(len(values) + k)


def summary(values):
    return [float(len(values)), float(values[0]), float(values[-1])]


# ---------------------------------------------------------------- timing


def best_of(repeats, function, warm_up=None):
    """Warm up (numba compiles, loky starts its workers): by default with one full run,
    or with `warm_up` when a full run is too long to repeat. Then the fastest of
    `repeats` runs: the least disturbed by the rest of the machine."""
    result = (warm_up or function)()
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return result, best


class Recorder:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self.timings = open(os.path.join(out_dir, "timings.tsv"), "w")

    def record(self, workload, implementation, seconds, answer):
        np.asarray(answer, dtype=np.float64).astype("<f8").tofile(
            os.path.join(self.out_dir, f"{workload}.{implementation}.bin")
        )
        self.timings.write(f"{workload}\t{implementation}\t{seconds:.9f}\n")
        self.timings.flush()
        print(f"  {workload:<22} {implementation:<26} {seconds * 1e3:12.3f} ms", flush=True)


# ---------------------------------------------------------------- workloads


def run(data_dir, out_dir):
    recorder = Recorder(out_dir)
    record = recorder.record

    x = load(data_dir, "walsh_1k.f64")
    answer, seconds = best_of(10, lambda: walsh_median_numpy(x))
    record("walsh_1k", "numpy", seconds, [answer])
    answer, seconds = best_of(10, lambda: walsh_median_numba(x))
    record("walsh_1k", "numba_jit", seconds, [answer])

    x = load(data_dir, "walsh_10k.f64")
    answer, seconds = best_of(2, lambda: walsh_median_numpy(x))
    record("walsh_10k", "numpy", seconds, [answer])
    answer, seconds = best_of(3, lambda: walsh_median_numba(x))
    record("walsh_10k", "numba_jit", seconds, [answer])

    data = load(data_dir, "wald.f64", (10_000, 100))
    answer, seconds = best_of(20, lambda: wald_bonferroni_numba(data, 0.0, 1.0))
    record("wald_bonferroni", "numba_prange", seconds, answer)
    answer, seconds = best_of(20, lambda: wald_bonferroni_numpy(data, 0.0, 1.0))
    record("wald_bonferroni", "numpy", seconds, answer)

    points = -4.0 + 8e-7 * np.arange(10_000_000, dtype=np.float64)
    answer, seconds = best_of(5, lambda: normal_pdf_numpy(points))
    record("pdf_1e7", "numpy", seconds, answer)
    from scipy.stats import norm

    answer, seconds = best_of(3, lambda: norm.pdf(points))
    record("pdf_1e7", "scipy", seconds, answer)
    answer, seconds = best_of(5, lambda: normal_pdf_numba(points, 0.0, 1.0))
    record("pdf_1e7", "numba_vectorize_parallel", seconds, answer)

    rows = load(data_dir, "rows.f32", (10_000, 100))
    answer, seconds = best_of(3, lambda: walsh_median_rows_numba(rows))
    record("walsh_rows", "numba_guvectorize_parallel", seconds, answer)
    answer, seconds = best_of(3, lambda: walsh_median_rows_numba_sort(rows))
    record("walsh_rows", "numba_guvectorize_sort", seconds, answer)

    # Each task sorts 5e7 averages (about a second): one timed run, after a short one
    # that compiles numba in every worker.
    samples = load(data_dir, "job.f32", (100, 10_000))
    for backend in ("threading", "loky"):
        parallel = joblib.Parallel(n_jobs=N_JOBS, backend=backend)
        answer, seconds = best_of(
            1,
            lambda: parallel(joblib.delayed(walsh_median_numba)(s) for s in samples),
            warm_up=lambda: parallel(
                joblib.delayed(walsh_median_numba)(s[:100]) for s in samples[: 4 * N_JOBS]
            ),
        )
        workload = "job_threads" if backend == "threading" else "job_processes"
        record(workload, f"joblib_{backend}_numba", seconds, answer)

    for backend in ("threading", "loky"):
        parallel = joblib.Parallel(n_jobs=N_JOBS, backend=backend)
        answer, seconds = best_of(
            5, lambda: parallel(joblib.delayed(add_one)(i) for i in range(10_000))
        )
        record("tiny_tasks_10k", f"joblib_{backend}", seconds, [sum(answer)])

    location = tempfile.mkdtemp(prefix="parmemo-compare-joblib-")
    try:
        memory = joblib.Memory(location, verbose=0)
        cached = memory.cache(checksum)
        for workload, name in (("memory_hit_40kb", "memory_40kb.f32"), ("memory_hit_8mb", "memory_8mb.f32")):
            values = load(data_dir, name)
            cached(values, 0)
            answer, seconds = best_of(20, lambda: cached(values, 0))
            record(workload, "joblib_memory", seconds, [answer])
        values = load(data_dir, "memory_40kb.f32")
        salts = iter(range(1, 10**9))
        _, call = best_of(50, lambda: checksum(values, 1))
        _, miss = best_of(50, lambda: cached(values, next(salts)))
        salt = next(salts)
        answer = cached(values, salt) - salt
        record("memory_miss_overhead_40kb", "joblib_memory", max(miss - call, 0.0), [answer])
        # 1 000 misses of a small result, per miss: each repeat on new arguments.
        small = memory.cache(small_result)
        rounds = iter(range(10**6))

        def thousand_misses():
            start = next(rounds) * 1000
            return sum(sum(small(i)) for i in range(start, start + 1000))

        _, seconds = best_of(3, thousand_misses)
        record("memory_miss_small", "joblib_memory", seconds / 1000, [sum(sum(small_result(i)) for i in range(1000))])
    finally:
        shutil.rmtree(location, ignore_errors=True)

    big_data(data_dir, record)
    fresh_big_hit(data_dir, out_dir, record)


def best_with_setup(repeats, make, function):
    """The fastest of `repeats` runs of `function` on a fresh value from `make` (made
    outside the time), after one warm-up."""
    result = function(make())
    best = math.inf
    for _ in range(repeats):
        value = make()
        started = time.perf_counter()
        result = function(value)
        best = min(best, time.perf_counter() - started)
    return result, best


def big_data(data_dir, record):
    """Large arrays: joblib's auto-memmapping to loky workers (arrays over 1 MB are
    dumped to a file the workers map) and its Memory, read or mapped (`mmap_mode='r'`)."""
    parallel = joblib.Parallel(n_jobs=N_JOBS, backend="loky")
    big = load(data_dir, "big_64mb.f64")
    # A new array each call (a copy made outside the time): joblib dumps it again.
    answer, seconds = best_with_setup(
        10, lambda: big.copy(), lambda array: parallel([joblib.delayed(length)(array)])
    )
    record("big_to_one_task", "joblib_loky", seconds, answer)
    # The same array inside a tuple, then eight tuples each with an array of its own.
    answer, seconds = best_with_setup(
        10,
        lambda: big.copy(),
        lambda array: parallel([joblib.delayed(length_of_pair)((array, 1))]),
    )
    record("big_tuple_to_one_task", "joblib_loky", seconds, answer)
    answer, seconds = best_with_setup(
        5,
        lambda: [(big.copy(), k) for k in range(8)],
        lambda pairs: parallel(joblib.delayed(length_of_pair)(pair) for pair in pairs),
    )
    record("big_tuples_to_8_tasks", "joblib_loky", seconds, answer)
    answer, seconds = best_of(
        10, lambda: parallel(joblib.delayed(length)(big) for _ in range(8))
    )
    record("big_to_8_tasks", "joblib_loky", seconds, answer)
    del big

    huge = load(data_dir, "big_200mb.f64")
    location = tempfile.mkdtemp(prefix="parmemo-compare-joblib-big-")
    try:
        def stored(seed):
            return huge

        for workload, mmap_mode in (("big_hit_200mb", None), ("big_hit_200mb_mapped", "r")):
            cached = joblib.Memory(location, mmap_mode=mmap_mode, verbose=0).cache(stored)
            cached(0)
            result, seconds = best_of(10, lambda: cached(0))
            name = "joblib_memory" if mmap_mode is None else "joblib_memory_mmap"
            record(workload, name, seconds, summary(result))
            del result
    finally:
        shutil.rmtree(location, ignore_errors=True)


def versions():
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "joblib": joblib.__version__,
    }


def miss_round(location, start):
    """1 000 misses of a small result in a fresh joblib.Memory at `location`; prints the
    seconds per miss. run.sh alternates these rounds with parmemo's, so that both sides
    meet the disk in the same state."""
    cached = joblib.Memory(location, verbose=0).cache(small_result)
    started = time.perf_counter()
    for i in range(start, start + 1000):
        cached(i)
    print(f"{(time.perf_counter() - started) / 1000:.9f}")


BIG_RESULT_MISSES = []


def big_result(data_dir):
    """What `fresh-store` caches: the 200 MB array (read only on a miss, which it notes)."""
    BIG_RESULT_MISSES.append(data_dir)
    return load(data_dir, "big_200mb.f64")


def fresh_big_hit(data_dir, out_dir, record):
    """The 200 MB hit as a new process's first call: stored here, read by a child.
    run.sh times more such children, alternated with parmemo's, and keeps the best."""
    location = os.path.join(out_dir, "fresh-store")
    fresh_store(data_dir, location)
    printed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "fresh-hit", data_dir, location],
        check=True, capture_output=True, text=True,
    ).stdout
    seconds, answer = printed.strip().split("\t")
    record("big_hit_200mb_fresh", "joblib_memory", float(seconds), json.loads(answer))


def fresh_store(data_dir, location):
    """Stores the 200 MB array in a joblib.Memory at `location`, for `fresh_hit`."""
    shutil.rmtree(location, ignore_errors=True)
    joblib.Memory(location, verbose=0).cache(big_result)(data_dir)


def fresh_hit(data_dir, location):
    """This process's first call: a joblib.Memory opened on `location` and the hit of the
    200 MB array; prints the seconds and a summary of what came back."""
    started = time.perf_counter()
    result = joblib.Memory(location, verbose=0).cache(big_result)(data_dir)
    seconds = time.perf_counter() - started
    # Checked after the clock, so that joblib's side times the call alone, as parmemo's.
    if BIG_RESULT_MISSES:
        sys.exit(f"no stored array in {location}: run fresh-store first")
    print(f"{seconds:.9f}\t{summary(result)}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "data" and len(sys.argv) == 3:
        make_data(sys.argv[2])
    elif command == "run" and len(sys.argv) == 4:
        run(sys.argv[2], sys.argv[3])
    elif command == "miss-round" and len(sys.argv) == 4:
        miss_round(sys.argv[2], int(sys.argv[3]))
    elif command == "fresh-store" and len(sys.argv) == 4:
        fresh_store(sys.argv[2], sys.argv[3])
    elif command == "fresh-hit" and len(sys.argv) == 4:
        fresh_hit(sys.argv[2], sys.argv[3])
    elif command == "versions":
        print(" ".join(f"{k} {v}" for k, v in versions().items()))
    else:
        sys.exit(__doc__)
