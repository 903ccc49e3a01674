//! `sensitive = true` in a build without `encryption` does not compile.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("ui/*.rs");
}
