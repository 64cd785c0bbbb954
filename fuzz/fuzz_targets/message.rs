//! Whole datagrams through the header and payload-chain parser. Whatever
//! parses must be described exactly by its records, encode again to a
//! message of the same length and header, and parse back to the same
//! payloads.

#![no_main]

use isakmp_codec::{encode_message, parse_message, Header};
use isakmp_fuzz::{check_chain, check_error, check_round_trip, payloads_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (header, chain) = match parse_message(data) {
        Ok(parsed) => parsed,
        Err(e) => {
            check_error(&e, 0, data.len());
            return;
        }
    };
    assert_eq!(usize::try_from(header.length).ok(), Some(data.len()));
    let body = &data[Header::LEN..];
    let covered = check_chain(header.next_payload, body, Header::LEN, &chain);
    assert_eq!(covered, body.len(), "a message with trailing bytes parsed");
    let payloads = payloads_of(&chain);
    check_round_trip(&payloads, body.len());

    let mut out = Vec::new();
    if let Err(e) = encode_message(&header, &payloads, &mut out) {
        panic!("a parsed message does not encode: {e:?}");
    }
    assert_eq!(out.len(), data.len());
    assert_eq!(&out[..Header::LEN], &data[..Header::LEN], "header changed");
    let (header2, chain2) = match parse_message(&out) {
        Ok(parsed) => parsed,
        Err(e) => panic!("an encoded message does not parse: {e:?}"),
    };
    assert_eq!(header2, header);
    assert_eq!(payloads_of(&chain2), payloads);
});
