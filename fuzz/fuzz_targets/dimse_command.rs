//! See sansfilm_dimse::fuzz::command.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansfilm_dimse::fuzz::command(data));
