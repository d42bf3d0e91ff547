//! See sansfilm_codec::fuzz::jpegls_decode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansfilm_codec::fuzz::jpegls_decode(data));
