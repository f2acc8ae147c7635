//! Misusing `#[cache]` is a compile error that points at the mistake and says what to
//! write instead (the expected messages are the `.stderr` files beside each case).

#[test]
fn misuse_of_the_cache_attribute_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
