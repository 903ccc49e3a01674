//! Compile-time behaviour of the attributes: every supported form compiles, every misuse
//! is an error with a clear message on the offending token.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}
