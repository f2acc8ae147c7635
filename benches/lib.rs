//! parmemo's criterion benches live in this package's `[[bench]]` targets (`stats`,
//! `parallel`, `memory`, `mpi`):
//! `cargo bench -p parmemo-benches --bench parallel`.
//! The library itself is empty; it exists because a package needs a target.
