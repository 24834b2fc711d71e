#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cutover_fuzz::directory::check(data));
