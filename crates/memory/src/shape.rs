//! What type a stored result has: a fingerprint of the type's name and of its serde
//! shape, written in every entry's header and checked before decoding, so that an entry
//! made by a function that returned another type is a miss, never a wrong value.
//!
//! The name catches a changed alias (`type Out = u32` now `i32`: the bytes of a `u32`
//! decode as an `i32` without complaint); the shape, traced by `serde-reflection`, catches
//! what a name cannot: fields reordered or renamed, variants added or moved, a field's
//! type changed inside a struct of the same name. A type whose shape cannot be traced
//! without sample values (a `Deserialize` that validates what it reads) is fingerprinted
//! by its name alone.

use serde::de::DeserializeOwned;
use serde_reflection::{Tracer, TracerConfig};
use std::any::TypeId;
use std::collections::HashMap;
use std::hash::Hasher;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{LazyLock, Mutex, PoisonError};
use twox_hash::XxHash3_64;

static KNOWN: LazyLock<Mutex<HashMap<TypeId, u64>>> = LazyLock::new(Mutex::default);

/// The fingerprint of `R`, traced once per process.
pub(crate) fn fingerprint<R: DeserializeOwned>() -> u64 {
    // `typeid` gives a `TypeId` for types that are not `'static`, which results may be.
    let id = typeid::of::<R>();
    if let Some(&known) = KNOWN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
    {
        return known;
    }
    let traced = trace::<R>();
    KNOWN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, traced);
    traced
}

fn trace<R: DeserializeOwned>() -> u64 {
    trace_named::<R>(std::any::type_name::<R>())
}

/// The fingerprint of `R` under `name` (its type name, apart from tests).
fn trace_named<R: DeserializeOwned>(name: &str) -> u64 {
    let mut hasher = XxHash3_64::with_seed(0);
    hasher.write(name.as_bytes());
    // Tracing runs the type's `Deserialize` on made-up input; a panic there only means
    // the shape is not known.
    let shape = catch_unwind(AssertUnwindSafe(|| {
        let mut tracer = Tracer::new(TracerConfig::default());
        let (format, _) = tracer.trace_simple_type::<R>().ok()?;
        let registry = tracer.registry().ok()?;
        Some(format!("{format:?}\n{registry:?}"))
    }));
    match shape {
        Ok(Some(shape)) => hasher.write(shape.as_bytes()),
        _ => hasher.write(b"shape unknown"),
    }
    hasher.finish()
}

#[cfg(test)]
#[allow(dead_code)] // the types exist to be traced, never read
mod tests {
    use super::*;
    use serde::Deserialize;

    mod before {
        #[derive(serde::Deserialize)]
        pub struct Summary {
            pub mean: f64,
            pub sd: f64,
        }
    }

    mod after {
        #[derive(serde::Deserialize)]
        pub struct Summary {
            pub sd: f64,
            pub mean: f64,
        }
    }

    #[derive(Deserialize)]
    enum Outcome {
        Fit(f64),
        Failed(String),
    }

    #[test]
    fn a_changed_type_has_another_fingerprint() {
        assert_eq!(fingerprint::<u32>(), fingerprint::<u32>());
        assert_ne!(fingerprint::<u32>(), fingerprint::<i32>());
        assert_ne!(fingerprint::<Vec<f32>>(), fingerprint::<Vec<f64>>());
        assert_ne!(fingerprint::<Option<u8>>(), fingerprint::<u8>());
        assert_eq!(fingerprint::<Outcome>(), fingerprint::<Outcome>());
    }

    #[test]
    fn reordered_fields_under_one_name_have_another_fingerprint() {
        // What a rebuilt program sees: the struct keeps its name, its fields move.
        assert_ne!(
            trace_named::<before::Summary>("stats::Summary"),
            trace_named::<after::Summary>("stats::Summary")
        );
        assert_eq!(
            trace_named::<before::Summary>("stats::Summary"),
            trace_named::<before::Summary>("stats::Summary")
        );
    }

    /// A type whose `Deserialize` refuses everything: its shape cannot be traced.
    struct Picky;

    impl<'de> Deserialize<'de> for Picky {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Err(serde::de::Error::custom("never"))
        }
    }

    #[test]
    fn an_untraceable_type_is_known_by_its_name() {
        assert_eq!(fingerprint::<Picky>(), fingerprint::<Picky>());
        assert_ne!(fingerprint::<Picky>(), fingerprint::<u8>());
        let name_only = {
            let mut hasher = XxHash3_64::with_seed(0);
            hasher.write(std::any::type_name::<Picky>().as_bytes());
            hasher.write(b"shape unknown");
            hasher.finish()
        };
        assert_eq!(fingerprint::<Picky>(), name_only);
    }
}
