//! The one trybuild driver. Every program registers its handlers on a `Router`, builds its manager
//! and turns the router into a service, as an app does, so an error that would follow the first
//! one shows here too. Compile-pass cases in `ui/pass/`; compile-fail cases, with the diagnostics
//! they must print, in one folder per topic. Regenerate a `.stderr` with
//! `TRYBUILD=overwrite cargo test -p ui-tests`, then read it before committing.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/protected/*.rs");
    t.compile_fail("tests/ui/user_loader/*.rs");
    t.compile_fail("tests/ui/login_config/*.rs");
    t.compile_fail("tests/ui/state/*.rs");
    t.compile_fail("tests/ui/placement/*.rs");
}
