//! Every prefix and every single-byte change of every golden message: the codec gives an
//! error or a result, never a panic; whatever it accepts encodes again, and the encoding
//! parses to the same payloads.

mod common;

use common::goldens;
use isakmp_codec::{
    encode_payloads, header::FLAG_ENC, parse_message, parse_payloads, Header, Parsed, Payload,
};

fn payloads<'a>(parsed: &[Parsed<'a>]) -> Vec<Payload<'a>> {
    parsed.iter().map(|p| p.payload.clone()).collect()
}

/// Parses a chain; if accepted, encodes it and checks that the encoding parses the same.
fn check_chain(first: u8, data: &[u8], allow_trailing: bool) {
    let Ok(parsed) = parse_payloads(first, data, allow_trailing) else {
        return;
    };
    let parsed = payloads(&parsed);
    let mut out = Vec::new();
    encode_payloads(&parsed, 0, &mut out).expect("what was parsed encodes");
    let again = parse_payloads(first, &out, false).expect("what was encoded parses");
    assert_eq!(payloads(&again), parsed);
    if !allow_trailing {
        // Reserved fields are not kept; apart from them the encoding is the input.
        assert_eq!(out.len(), data.len());
    }
}

fn check_message(data: &[u8]) {
    let Ok((header, parsed)) = parse_message(data) else {
        return;
    };
    assert_eq!(usize::try_from(header.length).unwrap(), data.len());
    check_chain(header.next_payload, &data[Header::LEN..], false);
    assert!(parsed.iter().all(|p| p.raw.len() >= 4));
}

#[test]
fn prefixes() {
    for g in goldens() {
        for end in 0..=g.data.len() {
            check_message(&g.data[..end]);
        }
        let first = g.data[16];
        let body = g.decrypted.as_deref().unwrap_or(&g.data[Header::LEN..]);
        for end in 0..=body.len() {
            check_chain(first, &body[..end], true);
            check_chain(first, &body[..end], false);
        }
    }
}

#[test]
fn single_byte_changes() {
    let mut accepted = 0usize;
    let mut refused = 0usize;
    for g in goldens() {
        let (data, first, encrypted) = match &g.decrypted {
            Some(body) => (body.clone(), g.data[16], true),
            None if g.data[19] & FLAG_ENC != 0 => continue,
            None => (g.data.clone(), 0, false),
        };
        for i in 0..data.len() {
            let mut changed = data.clone();
            for v in 0..=255u8 {
                changed[i] = v;
                let ok = if encrypted {
                    check_chain(first, &changed, true);
                    parse_payloads(first, &changed, true).is_ok()
                } else {
                    check_message(&changed);
                    parse_message(&changed).is_ok()
                };
                if ok {
                    accepted += 1
                } else {
                    refused += 1
                }
            }
        }
    }
    // Both outcomes happen: the loop exercised the checks, not only one path.
    assert!(
        accepted > 100_000 && refused > 100_000,
        "{accepted} {refused}"
    );
}
