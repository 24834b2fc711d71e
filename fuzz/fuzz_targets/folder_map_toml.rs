#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cutover_fuzz::folder_map_toml::check(data));
