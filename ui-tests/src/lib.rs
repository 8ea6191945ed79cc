//! Nothing to link against: the cases live in `tests/ui/`, driven by `tests/ui.rs`.
