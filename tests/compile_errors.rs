//! Misuse of the DSL gets a compile error that names the culprit; the
//! expected messages are the `.stderr` files beside each case.

#[test]
fn misuse_of_the_dsl_is_a_clear_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile-fail/*.rs");
}
