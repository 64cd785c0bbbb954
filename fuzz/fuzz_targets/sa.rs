//! The SA payload body parser and the structures inside it, read directly:
//! the first input byte chooses an SA body, a proposal, a transform, an
//! attribute list or an IPsec DOI situation; the rest is the body. Whatever
//! parses must consume its input, encode to the same number of bytes and
//! read back the same.

#![no_main]

use isakmp_codec::attribute::encode_all;
use isakmp_codec::sa::ipsec_situation_len;
use isakmp_codec::{Attribute, Proposal, Reader, Sa, Transform};
use isakmp_fuzz::{check_error, Input};
use libfuzzer_sys::fuzz_target;

/// Reads `body` with `read`; if it parses, checks that all of it was read,
/// that `encode` gives as many bytes and that they read back the same.
fn round_trip<T, R, E>(body: &[u8], read: R, encode: E)
where
    T: PartialEq + std::fmt::Debug,
    R: for<'b> Fn(&mut Reader<'b>) -> Result<T, isakmp_codec::InvalidMessage>,
    E: Fn(&T, &mut Vec<u8>) -> Result<(), isakmp_codec::EncodeError>,
{
    let mut r = Reader::new(body);
    let value = match read(&mut r) {
        Ok(v) => v,
        Err(e) => {
            check_error(&e, 0, body.len());
            return;
        }
    };
    assert!(r.is_empty(), "{} bytes left unread", r.left());
    let mut out = Vec::new();
    if let Err(e) = encode(&value, &mut out) {
        panic!("a parsed structure does not encode: {e:?}\n{value:?}");
    }
    assert_eq!(out.len(), body.len(), "encoding changed the length");
    let mut r2 = Reader::new(&out);
    match read(&mut r2) {
        Ok(again) => assert_eq!(again, value),
        Err(e) => panic!("an encoded structure does not parse: {e:?}\n{value:?}"),
    }
    assert!(r2.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let which = input.u8();
    let body = input.rest();
    match which % 5 {
        0 => round_trip(
            body,
            |r| Sa::read(r).map(Sa::into_owned),
            |v, out| v.encode(out),
        ),
        1 => round_trip(
            body,
            |r| Proposal::read(r, 0).map(Proposal::into_owned),
            |v, out| v.encode(out),
        ),
        2 => round_trip(
            body,
            |r| Transform::read(r).map(Transform::into_owned),
            |v, out| v.encode(out),
        ),
        3 => round_trip(
            body,
            |r| {
                let attrs = Attribute::read_all(r)?;
                for a in &attrs {
                    // Either a value or ATTRIBUTES-NOT-SUPPORTED, never a panic.
                    if let Err(e) = a.as_u64() {
                        check_error(&e, 0, 0);
                    }
                }
                Ok(attrs
                    .into_iter()
                    .map(Attribute::into_owned)
                    .collect::<Vec<_>>())
            },
            |v, out| encode_all(v, out),
        ),
        _ => match ipsec_situation_len(body, 0) {
            Ok(len) => assert!(len >= 4 && len <= body.len(), "situation of {len} bytes"),
            Err(e) => check_error(&e, 0, body.len()),
        },
    }
});
