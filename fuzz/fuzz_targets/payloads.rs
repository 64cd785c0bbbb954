//! Payload chains alone, as the daemon parses a decrypted body: the first
//! input byte is the first payload type, the second chooses whether bytes
//! may follow the chain (padding), the rest is the chain. Checks the
//! invariants of `isakmp_fuzz::parse_and_check`, and that a chain accepted
//! without trailing bytes is accepted the same with them allowed.

#![no_main]

use isakmp_codec::parse_payloads;
use isakmp_fuzz::{parse_and_check, payloads_of, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let first = input.u8();
    let allow_trailing = input.u8() & 1 == 1;
    let chain = input.rest();
    let strict_ok = parse_and_check(first, chain, allow_trailing);
    if strict_ok && !allow_trailing {
        let strict = parse_payloads(first, chain, false).map(|c| payloads_of(&c));
        let loose = parse_payloads(first, chain, true).map(|c| payloads_of(&c));
        assert_eq!(strict, loose, "allow-trailing changed an exact chain");
    }
});
