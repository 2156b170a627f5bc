#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ws::fuzzing::outbox(data));
