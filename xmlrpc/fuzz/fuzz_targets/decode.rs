//! `cargo +nightly fuzz run decode` (from `xmlrpc/`): every decode entry point on arbitrary
//! bytes, checked by the shared oracle in `../check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    check::check(data);
});
