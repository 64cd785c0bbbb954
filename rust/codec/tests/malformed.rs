//! Malformed input, each giving the right error and NOTIFY type.

mod common;

use isakmp_codec::{
    notify, parse_message, parse_payloads, payload_type as pt, Header, InvalidMessage as E,
};

/// The SA payload of Main Mode message 1 of the mm-psk-aes capture, next payload 0.
const SA: &str = "00000038 00000001 00000001
                  0000002c 01010001
                  00000024 01010000 80010007 800e0080 80020002 8004000e 80030001 800b0001 800c3de0";

fn sa() -> Vec<u8> {
    hex::decode(SA.split_whitespace().collect::<String>()).unwrap()
}

fn sa_with(changes: &[(usize, u8)]) -> Vec<u8> {
    let mut b = sa();
    for &(i, v) in changes {
        b[i] = v;
    }
    b
}

/// A payload: generic header with `next` and the length, then `body`.
fn payload(next: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![next, 0];
    out.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A Main Mode message with the given first payload and body.
fn message(next: u8, body: &[u8]) -> Vec<u8> {
    let mut out = hex::decode("00112233445566770000000000000000").unwrap();
    out.extend_from_slice(&[next, 0x10, 2, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&u32::try_from(body.len() + 28).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn err(first: u8, data: &[u8]) -> E {
    parse_payloads(first, data, false).expect_err("must fail")
}

#[test]
fn the_sa_template_is_valid() {
    let data = sa();
    let parsed = parse_payloads(pt::SA, &data, false).unwrap();
    assert_eq!(parsed.len(), 1);
}

#[test]
fn proposal_and_transform_chains() {
    let cases: Vec<(&str, Vec<u8>, E)> = vec![
        (
            "transform count 2, one transform",
            sa_with(&[(19, 2)]),
            E::TransformCount {
                offset: 12,
                declared: 2,
                found: 1,
            },
        ),
        (
            "transform count 0, one transform",
            sa_with(&[(19, 0)]),
            E::TransformCount {
                offset: 12,
                declared: 0,
                found: 1,
            },
        ),
        (
            "proposal followed by a KE",
            sa_with(&[(12, 4)]),
            E::BadChainType {
                what: "proposal",
                offset: 12,
                next: 4,
            },
        ),
        (
            "transform followed by a proposal",
            sa_with(&[(20, 2)]),
            E::BadChainType {
                what: "transform",
                offset: 20,
                next: 2,
            },
        ),
        (
            "proposal announces another, none left",
            sa_with(&[(12, 2)]),
            E::ChainMissing {
                what: "proposal",
                offset: 12,
            },
        ),
        (
            "transform announces another, none left",
            sa_with(&[(20, 3)]),
            E::ChainMissing {
                what: "transform",
                offset: 20,
            },
        ),
        (
            "proposal length past the SA",
            sa_with(&[(15, 45)]),
            E::LengthPastEnd {
                what: "proposal payload",
                offset: 12,
                length: 45,
                left: 44,
            },
        ),
        (
            "proposal length below 8",
            sa_with(&[(15, 7)]),
            E::LengthTooSmall {
                what: "proposal payload",
                offset: 12,
                length: 7,
                min: 8,
            },
        ),
        (
            "transform length past the proposal",
            sa_with(&[(23, 37)]),
            E::LengthPastEnd {
                what: "transform payload",
                offset: 20,
                length: 37,
                left: 36,
            },
        ),
        (
            "transform length below 4",
            sa_with(&[(23, 2)]),
            E::LengthTooSmall {
                what: "transform payload",
                offset: 20,
                length: 2,
                min: 4,
            },
        ),
        (
            "SPI size past the proposal",
            sa_with(&[(18, 40)]),
            E::LengthPastEnd {
                what: "proposal SPI",
                offset: 12,
                length: 40,
                left: 36,
            },
        ),
        (
            "attribute TLV length past the transform",
            sa_with(&[(52, 0x00), (54, 0), (55, 4)]),
            E::LengthPastEnd {
                what: "attribute",
                offset: 52,
                length: 4,
                left: 0,
            },
        ),
        (
            "attribute cut in half",
            sa_with(&[(3, 54), (15, 42), (23, 34)])[..54].to_vec(),
            E::Truncated {
                what: "attribute value",
                offset: 54,
                needed: 2,
                left: 0,
            },
        ),
        (
            "bytes after the last transform",
            sa_with(&[(23, 32)]),
            E::ChainEndsEarly {
                what: "transform",
                offset: 52,
                left: 4,
            },
        ),
    ];
    for (name, data, expected) in cases {
        let got = err(pt::SA, &data);
        assert_eq!(got, expected, "{name}");
        let want = match expected {
            E::LengthPastEnd { .. } | E::LengthTooSmall { .. } | E::Truncated { .. } => {
                notify::PAYLOAD_MALFORMED
            }
            _ => notify::BAD_PROPOSAL_SYNTAX,
        };
        assert_eq!(got.notify(), want, "{name}");
    }

    // Bytes after the last proposal, inside the SA.
    let mut data = sa_with(&[(3, 60)]);
    data.extend_from_slice(&[0, 0, 0, 4]);
    assert_eq!(
        err(pt::SA, &data),
        E::ChainEndsEarly {
            what: "proposal",
            offset: 56,
            left: 4
        }
    );
}

#[test]
fn situations() {
    // IPsec DOI with a 2-byte situation.
    let data = payload(0, &[0, 0, 0, 1, 0, 0]);
    let e = err(pt::SA, &data);
    assert_eq!(
        e,
        E::Truncated {
            what: "situation",
            offset: 8,
            needed: 4,
            left: 2
        }
    );
    assert_eq!(e.notify(), notify::PAYLOAD_MALFORMED);
    // SIT_SECRECY without its labeled domain identifier.
    let data = payload(0, &[0, 0, 0, 1, 0, 0, 0, 2]);
    let e = err(pt::SA, &data);
    assert!(matches!(
        e,
        E::Truncated {
            what: "labeled domain identifier",
            offset: 12,
            ..
        }
    ));
    // SIT_INTEGRITY whose level runs past the payload.
    let data = payload(
        0,
        &[0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 9, 0, 8, 0, 0, 1, 2, 3],
    );
    let e = err(pt::SA, &data);
    assert!(
        matches!(
            e,
            E::Truncated {
                what: "integrity level",
                offset: 20,
                ..
            }
        ),
        "{e:?}"
    );
    // SA body below 4 bytes.
    let e = err(pt::SA, &payload(0, &[0, 0, 1]));
    assert_eq!(
        e,
        E::LengthTooSmall {
            what: "SA payload",
            offset: 0,
            length: 7,
            min: 8
        }
    );
}

#[test]
fn payload_bodies() {
    let cases: Vec<(&str, u8, Vec<u8>, E)> = vec![
        (
            "empty KE",
            pt::KE,
            payload(0, &[]),
            E::LengthTooSmall {
                what: "KE payload",
                offset: 0,
                length: 4,
                min: 5,
            },
        ),
        (
            "ID without port",
            pt::ID,
            payload(0, &[1, 0, 0]),
            E::LengthTooSmall {
                what: "ID payload",
                offset: 0,
                length: 7,
                min: 8,
            },
        ),
        (
            "CERT without encoding",
            pt::CERT,
            payload(0, &[]),
            E::LengthTooSmall {
                what: "CERT payload",
                offset: 0,
                length: 4,
                min: 5,
            },
        ),
        (
            "CR without type",
            pt::CR,
            payload(0, &[]),
            E::LengthTooSmall {
                what: "CR payload",
                offset: 0,
                length: 4,
                min: 5,
            },
        ),
        (
            "NOTIFY of 7 bytes",
            pt::NOTIFY,
            payload(0, &[0, 0, 0, 1, 1, 0, 0]),
            E::LengthTooSmall {
                what: "NOTIFY payload",
                offset: 0,
                length: 11,
                min: 12,
            },
        ),
        (
            "NOTIFY SPI size past the end",
            pt::NOTIFY,
            payload(0, &[0, 0, 0, 1, 1, 16, 0x60, 2, 1, 2, 3, 4]),
            E::LengthPastEnd {
                what: "NOTIFY SPI",
                offset: 0,
                length: 16,
                left: 4,
            },
        ),
        (
            "DELETE with fewer SPI bytes than count * size",
            pt::DELETE,
            payload(0, &[0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4]),
            E::DeleteSpis {
                offset: 0,
                count: 2,
                spi_size: 4,
                left: 4,
            },
        ),
        (
            "DELETE with more SPI bytes than count * size",
            pt::DELETE,
            payload(0, &[0, 0, 0, 1, 3, 4, 0, 1, 1, 2, 3, 4, 5]),
            E::DeleteSpis {
                offset: 0,
                count: 1,
                spi_size: 4,
                left: 5,
            },
        ),
        (
            "DELETE of SPIs of size 0",
            pt::DELETE,
            payload(0, &[0, 0, 0, 1, 3, 0, 0xff, 0xff]),
            E::DeleteEmptySpis {
                offset: 0,
                count: 0xffff,
            },
        ),
        (
            "DELETE of 7 bytes",
            pt::DELETE,
            payload(0, &[0, 0, 0, 1, 3, 4, 0]),
            E::LengthTooSmall {
                what: "DELETE payload",
                offset: 0,
                length: 11,
                min: 12,
            },
        ),
        (
            "NAT-OA without reserved bytes",
            pt::NAT_OA,
            payload(0, &[1, 0, 0]),
            E::LengthTooSmall {
                what: "NAT-OA payload",
                offset: 0,
                length: 7,
                min: 8,
            },
        ),
        (
            "draft NAT-OA without reserved bytes",
            pt::NAT_OA_DRAFT,
            payload(0, &[1]),
            E::LengthTooSmall {
                what: "NAT-OA payload",
                offset: 0,
                length: 5,
                min: 8,
            },
        ),
        (
            "ATTRIBUTE without identifier",
            pt::ATTRIBUTE,
            payload(0, &[1, 0, 0]),
            E::LengthTooSmall {
                what: "ATTRIBUTE payload",
                offset: 0,
                length: 7,
                min: 8,
            },
        ),
        (
            "ATTRIBUTE with a TLV past the end",
            pt::ATTRIBUTE,
            payload(0, &[1, 0, 0, 7, 0, 1, 0, 4, 10, 0]),
            E::LengthPastEnd {
                what: "attribute",
                offset: 8,
                length: 4,
                left: 2,
            },
        ),
    ];
    for (name, first, data, expected) in cases {
        let got = err(first, &data);
        assert_eq!(got, expected, "{name}");
        assert_eq!(got.notify(), notify::PAYLOAD_MALFORMED, "{name}");
    }
}

#[test]
fn chains() {
    let vid = payload(0, b"0123456789abcdef");
    // Generic length below 4, and past the end.
    let mut short = vid.clone();
    short[3] = 3;
    assert_eq!(
        err(pt::VENDOR, &short),
        E::LengthTooSmall {
            what: "VID payload",
            offset: 0,
            length: 3,
            min: 4
        }
    );
    let mut long = vid.clone();
    long[3] = 21;
    let e = err(pt::VENDOR, &long);
    assert_eq!(
        e,
        E::LengthPastEnd {
            what: "VID payload",
            offset: 0,
            length: 21,
            left: 20
        }
    );
    assert_eq!(e.notify(), notify::PAYLOAD_MALFORMED);
    // A next payload announced, nothing left; then only 2 bytes left.
    let mut data = payload(pt::VENDOR, b"x");
    assert_eq!(
        err(pt::VENDOR, &data),
        E::Truncated {
            what: "VID payload",
            offset: 5,
            needed: 4,
            left: 0
        }
    );
    data.extend_from_slice(&[0, 0]);
    assert_eq!(
        err(pt::VENDOR, &data),
        E::Truncated {
            what: "VID payload",
            offset: 5,
            needed: 4,
            left: 2
        }
    );
    // Bytes after the last payload.
    let mut data = vid.clone();
    data.extend_from_slice(&[0, 0, 0]);
    let e = err(pt::VENDOR, &data);
    assert_eq!(
        e,
        E::TrailingBytes {
            offset: 20,
            count: 3
        }
    );
    assert_eq!(e.notify(), notify::UNEQUAL_PAYLOAD_LENGTHS);
    assert_eq!(parse_payloads(pt::VENDOR, &data, true).unwrap().len(), 1);
    assert_eq!(
        err(pt::NONE, &[0]),
        E::TrailingBytes {
            offset: 0,
            count: 1
        }
    );
    assert!(parse_payloads(pt::NONE, &[], false).unwrap().is_empty());
    // Proposal or Transform outside an SA.
    for t in [pt::PROPOSAL, pt::TRANSFORM] {
        let e = err(t, &vid);
        assert_eq!(
            e,
            E::InvalidPayloadType {
                offset: 0,
                payload_type: t
            }
        );
        assert_eq!(e.notify(), notify::INVALID_PAYLOAD_TYPE);
        let mut data = payload(t, b"x");
        data.extend_from_slice(&vid);
        assert_eq!(
            err(pt::VENDOR, &data),
            E::InvalidPayloadType {
                offset: 5,
                payload_type: t
            }
        );
    }
}

#[test]
fn messages() {
    let body = payload(0, b"vendor");
    let good = message(pt::VENDOR, &body);
    assert!(parse_message(&good).is_ok());

    let e = parse_message(&good[..27]).unwrap_err();
    assert_eq!(
        e,
        E::Truncated {
            what: "ISAKMP header",
            offset: 0,
            needed: 28,
            left: 27
        }
    );
    assert_eq!(e.notify(), notify::PAYLOAD_MALFORMED);
    let e = parse_message(&good[..good.len() - 1]).unwrap_err();
    assert_eq!(e.notify(), notify::UNEQUAL_PAYLOAD_LENGTHS);
    let mut longer = good.clone();
    longer.push(0);
    let e = parse_message(&longer).unwrap_err();
    assert_eq!(
        e,
        E::UnequalLength {
            offset: 24,
            declared: 38,
            actual: 39
        }
    );

    let changed = |i: usize, v: u8| {
        let mut m = good.clone();
        m[i] = v;
        parse_message(&m).unwrap_err()
    };
    assert_eq!(changed(17, 0x20).notify(), notify::INVALID_MAJOR_VERSION);
    assert_eq!(changed(17, 0x00).notify(), notify::INVALID_MAJOR_VERSION);
    assert_eq!(changed(17, 0x11).notify(), notify::INVALID_MINOR_VERSION);
    assert_eq!(changed(19, 0x10).notify(), notify::INVALID_FLAGS);
    let mut zero_cookie = good.clone();
    zero_cookie[..8].fill(0);
    assert_eq!(
        parse_message(&zero_cookie).unwrap_err().notify(),
        notify::INVALID_COOKIE
    );

    // Offsets of body errors count from the start of the message.
    let mut bad_body = good.clone();
    bad_body[31] = 3;
    let e = parse_message(&bad_body).unwrap_err();
    assert_eq!(
        e,
        E::LengthTooSmall {
            what: "VID payload",
            offset: 28,
            length: 3,
            min: 4
        }
    );
    assert_eq!(
        e.to_string(),
        "VID payload length 3 is below the minimum 4 at offset 28"
    );

    // A header with no payloads.
    let empty = message(0, &[]);
    let (h, p) = parse_message(&empty).unwrap();
    assert_eq!((h.length, p.len()), (28, 0));
    let e = parse_message(&message(0, &[0])).unwrap_err();
    assert_eq!(
        e,
        E::TrailingBytes {
            offset: 28,
            count: 1
        }
    );
    // Header::read takes anything, Header::parse judges.
    assert!(Header::read(&mut isakmp_codec::Reader::new(&[0u8; 28])).is_ok());
}
