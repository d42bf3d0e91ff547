//! See sansfilm_codec::fuzz::jpeg2k_header.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansfilm_codec::fuzz::jpeg2k_header(data));
