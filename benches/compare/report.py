"""Checks that Python and parmemo computed the same answers, then writes the comparison
table into docs/benchmarks.md (between its compare markers) and the ratios for the chart.

    python report.py PY_OUT RS_OUT BENCHMARKS_MD RATIOS_TSV MACHINE_TXT

Exits with an error, and writes nothing, if any answer differs beyond its tolerance.
"""

import datetime
import os
import sys

import numpy as np

START = "<!-- compare:start -->"
END = "<!-- compare:end -->"

# workload, label, goal (times faster) or None, the implementation the goal is against,
# relative tolerance of the answers (absolute 1e-300 for values that underflow)
WORKLOADS = [
    ("walsh_1k", "Walsh median, n = 1 000 (f64)", 150, "numpy", 1e-12),
    ("walsh_10k", "Walsh median, n = 10 000 (f64)", None, None, 1e-12),
    ("wald_bonferroni", "10 000 Wald tests on 10 000 x 100 + Bonferroni", 1, "numba_prange", 1e-9),
    ("pdf_1e7", "normal pdf over 1e7 points", 2, "numpy", 1e-12),
    ("walsh_rows", "Walsh medians of 10 000 rows x 100 f32", 20, "numba_guvectorize_parallel", 1e-6),
    ("job_threads", "joblib's job, 100 x 10 000 f32, threads", None, None, 1e-6),
    ("job_processes", "joblib's job, 100 x 10 000 f32, processes", None, None, 1e-6),
    ("tiny_tasks_10k", "10 000 tiny tasks (threads vs joblib)", 10, "joblib_loky", 0.0),
    ("memory_hit_40kb", "Memory hit, 40 KB argument", 15, "joblib_memory", 1e-9),
    ("memory_hit_8mb", "Memory hit, 8 MB argument", 10, "joblib_memory", 1e-9),
    ("memory_miss_overhead_40kb", "Memory miss overhead, 40 KB argument", None, None, 1e-9),
    ("memory_miss_small", "Memory miss of a 100-byte result (per miss, of 1 000)", 3, "joblib_memory", 1e-9),
    ("big_to_one_task", "a new 64 MB array to one process task (plain Vec)", 1, "joblib_loky", 0.0),
    ("big_tuple_to_one_task", "a new 64 MB array inside a tuple to one process task", None, None, 0.0),
    ("big_tuples_to_8_tasks", "8 tuples each with its own 64 MB array to 8 process tasks", 1, "joblib_loky", 0.0),
    ("big_to_8_tasks", "one 64 MB array to 8 process tasks (Shared)", 5, "joblib_loky", 0.0),
    ("big_hit_200mb", "Memory hit, 200 MB array read (plain Vec)", 1, "joblib_memory", 0.0),
    ("big_hit_200mb_fresh", "Memory hit, 200 MB array read, a new process's first call", 1, "joblib_memory", 0.0),
    ("big_hit_200mb_mapped", "Memory hit, 200 MB array mapped (Shared)", 1, "joblib_memory_mmap", 0.0),
]


def read_timings(directory):
    timings = {}
    with open(os.path.join(directory, "timings.tsv")) as lines:
        for line in lines:
            workload, implementation, seconds = line.rstrip("\n").split("\t")
            timings.setdefault(workload, {})[implementation] = float(seconds)
    return timings


def answer(directory, workload, implementation):
    return np.fromfile(os.path.join(directory, f"{workload}.{implementation}.bin"), dtype="<f8")


def human(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def check_answers(py_out, rs_out, py, rs):
    problems = []
    for workload, label, _, _, rtol in WORKLOADS:
        if workload not in rs or workload not in py:
            problems.append(f"{workload}: missing on one side")
            continue
        ours = answer(rs_out, workload, "parmemo")
        for implementation in py[workload]:
            theirs = answer(py_out, workload, implementation)
            if ours.shape != theirs.shape:
                problems.append(f"{workload}: {implementation} gave {theirs.shape[0]} values, parmemo {ours.shape[0]}")
            elif not np.allclose(ours, theirs, rtol=rtol, atol=1e-300):
                worst = np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300))
                problems.append(f"{workload}: {implementation} differs from parmemo (relative {worst:.3g} > {rtol:g})")
    return problems


def table(py, rs):
    rows = [
        "| workload | best Python | its time | parmemo | ratio | goal |",
        "|---|---|---|---|---|---|",
    ]
    ratios = []
    for workload, label, goal, peer, _ in WORKLOADS:
        implementation, best = min(py[workload].items(), key=lambda item: item[1])
        ours = rs[workload]["parmemo"]
        ratio = best / ours if ours > 0 else float("inf")
        if goal is None:
            verdict = "reported"
            goal_on_chart = 0
        else:
            against = py[workload][peer] / ours if ours > 0 else float("inf")
            met = "met" if against >= goal else "**missed**"
            verdict = f">= {goal} vs {peer}: {against:.1f}, {met}"
            # The chart's bars are ratios to the fastest Python; the goal, set against a
            # named peer, is drawn on that same scale.
            goal_on_chart = goal * best / py[workload][peer]
        rows.append(
            f"| {label} | {implementation} | {human(best)} | {human(ours)} | {ratio:.1f}x | {verdict} |"
        )
        ratios.append(f"{label}\t{ratio:.6g}\t{goal_on_chart:.6g}")
    details = ["", "Every Python implementation timed, fastest first:", ""]
    for workload, label, *_ in WORKLOADS:
        timed = ", ".join(
            f"{name} {human(seconds)}" for name, seconds in sorted(py[workload].items(), key=lambda item: item[1])
        )
        details.append(f"- {label}: {timed}")
    return rows + details, ratios


def main(py_out, rs_out, benchmarks_md, ratios_tsv, machine_txt):
    py, rs = read_timings(py_out), read_timings(rs_out)
    problems = check_answers(py_out, rs_out, py, rs)
    if problems:
        sys.exit("the two sides disagree; no speed is reported:\n  " + "\n  ".join(problems))
    rows, ratios = table(py, rs)
    with open(machine_txt) as machine:
        about = machine.read().strip()
    section = "\n".join(
        [
            START,
            "## Side by side: parmemo against numpy, numba and joblib",
            "",
            f"`bash benches/compare/run.sh` ({datetime.date.today().isoformat()}). Both sides ran the",
            "same workloads on the same inputs (written once by the Python side as raw files), and",
            "every answer was checked equal within its tolerance (1e-12 relative for f64",
            "kernels, 1e-9 for sums, 1e-6 for f32 medians) before any time was compared. Each",
            "time is the fastest of several runs after a warm-up (numba's compilation and loky's",
            "worker start are not counted). ratio = best Python time / parmemo time.",
            "",
            about,
            "",
            "![times faster than the best Python implementation](benchmarks.svg)",
            "",
            *rows,
            END,
        ]
    )
    with open(benchmarks_md) as document:
        text = document.read()
    if START in text and END in text:
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(benchmarks_md, "w") as document:
        document.write(text)
    with open(ratios_tsv, "w") as out:
        out.write("\n".join(ratios) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
