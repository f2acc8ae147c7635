//! `Shared` arrays through serde, inline and attached, in a binary and a self-describing
//! format; what a wrong or missing attachment does.

use parmemo_shared::{attach, codec, Shared};

fn binary_encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    codec::encode(value).unwrap()
}

fn binary_decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    codec::decode_whole(bytes).map_err(|err| err.to_string())
}

#[test]
fn inline_round_trips_in_binary_and_json() {
    let array: Shared<[f64]> = Shared::from_fn(10_000, |i| i as f64 * 0.25);
    let bytes = binary_encode(&array);
    assert!(
        bytes.len() < 80_100,
        "raw bytes, not one varint per element"
    );
    let back: Shared<[f64]> = binary_decode(&bytes).unwrap();
    assert_eq!(back, array);
    let json = serde_json::to_string(&Shared::<[i16]>::from(vec![-1, 2, 300])).unwrap();
    let back: Shared<[i16]> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, vec![-1, 2, 300]);
    let empty: Shared<[u8]> = binary_decode(&binary_encode(&Shared::<[u8]>::default())).unwrap();
    assert!(empty.is_empty());
}

#[test]
fn an_array_is_never_read_as_another_element_type() {
    let bytes = binary_encode(&Shared::<[f32]>::from(vec![1.0, 2.0]));
    let wrong = binary_decode::<Shared<[u32]>>(&bytes).unwrap_err();
    assert!(
        wrong.contains("array of f32 cannot be read as an array of u32"),
        "{wrong}"
    );
    let json = serde_json::to_string(&Shared::<[f32]>::from(vec![1.0])).unwrap();
    assert!(serde_json::from_str::<Shared<[f64]>>(&json).is_err());
}

type Labelled = (Shared<[f64]>, String, Vec<Shared<[u8]>>);

#[test]
fn attached_arrays_travel_beside_the_value_and_come_back_as_the_same_memory() {
    let big: Shared<[f64]> = Shared::from_fn(1 << 20, |i| i as f64);
    let small: Shared<[u8]> = Shared::from(vec![1, 2, 3]);
    let value = (
        big.clone(),
        "label".to_owned(),
        vec![small.clone(), small.clone()],
    );
    let (bytes, attached) = attach::collect(|| binary_encode(&value));
    assert!(bytes.len() < 100, "{} bytes: references only", bytes.len());
    assert_eq!(attached.len(), 3);
    assert_eq!(attached[0].bytes().len(), 8 << 20);
    let back: Labelled = attach::provide(attached, || binary_decode(&bytes)).unwrap();
    assert_eq!(back, value);
    assert_eq!(
        back.0.as_ptr(),
        big.as_ptr(),
        "in this process, the attachment is the same memory"
    );
}

#[test]
fn an_attachment_mapped_from_its_file_is_the_array() {
    let array: Shared<[u32]> = Shared::from_fn(100_000, |i| u32::try_from(i).unwrap() * 3);
    assert!(array.is_mappable());
    let (bytes, attached) = attach::collect(|| binary_encode(&array));
    let (file, offset) = attached[0].file().unwrap();
    // What a worker does with a descriptor it received: map it.
    let mapped =
        attach::Attachment::map(file.try_clone().unwrap(), offset, attached[0].bytes().len())
            .unwrap();
    let back: Shared<[u32]> = attach::provide(vec![mapped], || binary_decode(&bytes)).unwrap();
    assert_eq!(back, array);
    assert_ne!(
        back.as_ptr(),
        array.as_ptr(),
        "a second mapping of the same memory"
    );
}

#[test]
fn a_missing_or_short_attachment_is_an_error_not_a_wrong_array() {
    let array: Shared<[u64]> = Shared::from(vec![5; 100]);
    let (bytes, attached) = attach::collect(|| binary_encode(&array));
    let without = binary_decode::<Shared<[u64]>>(&bytes).unwrap_err();
    assert!(without.contains("without it"), "{without}");
    let short = attach::Attachment::copied(&attached[0].bytes()[..792]);
    let wrong =
        attach::provide(vec![short], || binary_decode::<Shared<[u64]>>(&bytes)).unwrap_err();
    assert!(wrong.contains("arrived with 99"), "{wrong}");
    let odd = attach::Attachment::copied(&[0; 7]);
    let wrong = attach::provide(vec![odd], || binary_decode::<Shared<[u64]>>(&bytes)).unwrap_err();
    assert!(wrong.contains("not a whole number"), "{wrong}");
}

#[test]
fn collections_nest_and_end_even_when_serializing_panics() {
    let array: Shared<[i8]> = Shared::from(vec![1; 10]);
    let ((inner, inner_attached), outer_attached) = attach::collect(|| {
        let _ = binary_encode(&array);
        attach::collect(|| binary_encode(&array))
    });
    assert_eq!((inner_attached.len(), outer_attached.len()), (1, 1));
    assert!(inner.len() < 20);
    let unwound = std::panic::catch_unwind(|| {
        attach::collect(|| {
            let _ = binary_encode(&array);
            panic!("while serializing");
        })
    });
    assert!(unwound.is_err());
    // No collection is left running: the array serializes inline again.
    assert!(binary_encode(&array).len() > 10);
}

#[test]
fn threads_read_the_same_memory() {
    let array: Shared<[f32]> = Shared::from_fn(1000, |i| i as f32);
    let address = array.as_ptr() as usize;
    let seen = std::thread::scope(|scope| {
        (0..4)
            .map(|_| {
                let mine = array.clone();
                scope.spawn(move || mine.as_ptr() as usize)
            })
            .map(|handle| handle.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(seen.iter().all(|&seen| seen == address));
}

#[test]
fn an_ordinary_file_is_never_mapped_by_the_safe_call() {
    use std::io::Write;
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&[7; 4096]).unwrap();
    let refused = attach::Attachment::map(file.try_clone().unwrap(), 0, 4096).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    assert!(refused.to_string().contains("not sealed"), "{refused}");
    // The same file, under the promise a seal would make, maps.
    // SAFETY: nothing writes or shrinks this private temporary file while it is mapped.
    let mapped = unsafe { attach::Attachment::map_unsealed(file, 0, 4096) }.unwrap();
    assert_eq!(mapped.bytes(), &[7; 4096][..]);
}
