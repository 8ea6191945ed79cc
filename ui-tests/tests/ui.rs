//! The one trybuild driver: compile-pass cases in `ui/pass/`, compile-fail cases (with the
//! diagnostics they must print) in one folder per macro. Regenerate a `.stderr` with
//! `TRYBUILD=overwrite cargo test -p ui-tests`, then read it before committing.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/protected/*.rs");
    t.compile_fail("tests/ui/user_loader/*.rs");
    t.compile_fail("tests/ui/manager/*.rs");
}
