#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cutover_fuzz::address_rewrite::check(data));
