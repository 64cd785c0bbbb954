//! Golden bytes of each payload type, written out by hand from the RFC layouts, and the
//! encoders' refusals.

use std::borrow::Cow;

use isakmp_codec::{
    encode_message, encode_payloads, parse_payloads, payload_type as pt, Attribute,
    AttributePayload, Cert, CertReq, Delete, EncodeError, Hash, Header, Id, Ke, NatD, NatOa, Nonce,
    Notify, Payload, Proposal, Sa, Sig, Transform, Unknown, VendorId,
};

fn b(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// `bytes` is a one-payload chain of type `first` that parses to `expected` and encodes
/// back to `bytes`.
fn golden(first: u8, bytes: &str, expected: Payload<'_>) {
    let data = b(bytes);
    let parsed = parse_payloads(first, &data, false).unwrap_or_else(|e| panic!("{bytes}: {e}"));
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].payload, expected);
    assert_eq!(parsed[0].raw, &data[..]);
    assert_eq!(parsed[0].payload.payload_type(), first);
    let mut out = Vec::new();
    encode_payloads(&[expected], 0, &mut out).unwrap();
    assert_eq!(out, data);
}

fn c(bytes: &[u8]) -> Cow<'_, [u8]> {
    Cow::Borrowed(bytes)
}

#[test]
fn simple_payloads() {
    golden(
        pt::KE,
        "0000 0008 01020304",
        Payload::Ke(Ke::new(&[1u8, 2, 3, 4][..])),
    );
    golden(
        pt::HASH,
        "0000 0006 aabb",
        Payload::Hash(Hash::new(vec![0xaa, 0xbb])),
    );
    golden(pt::SIG, "0000 0005 55", Payload::Sig(Sig::new(vec![0x55])));
    golden(pt::NONCE, "0000 0004", Payload::Nonce(Nonce::new(vec![])));
    golden(
        pt::VENDOR,
        "0000 0007 766964",
        Payload::VendorId(VendorId::new(b"vid".to_vec())),
    );
    // ID_IPV4_ADDR 10.1.0.1, UDP port 500.
    golden(
        pt::ID,
        "0000 000c 01 11 01f4 0a010001",
        Payload::Id(Id {
            id_type: 1,
            protocol: 17,
            port: 500,
            data: c(&[10, 1, 0, 1]),
        }),
    );
    golden(
        pt::CERT,
        "0000 0007 04 3082",
        Payload::Cert(Cert {
            encoding: 4,
            data: c(&[0x30, 0x82]),
        }),
    );
    golden(
        pt::CR,
        "0000 0005 04",
        Payload::CertReq(CertReq {
            cert_type: 4,
            authority: c(&[]),
        }),
    );
}

#[test]
fn notify_and_delete() {
    // R-U-THERE with the cookie pair as SPI and a 4-byte sequence number.
    golden(
        pt::NOTIFY,
        "0000 0020 00000001 01 10 8d28 0011223344556677 8899aabbccddeeff 00000007",
        Payload::Notify(Notify {
            doi: 1,
            protocol_id: 1,
            notify_type: 36136,
            spi: b("00112233445566778899aabbccddeeff").into(),
            data: c(&[0, 0, 0, 7]),
        }),
    );
    // Two ESP SPIs.
    golden(
        pt::DELETE,
        "0000 0014 00000001 03 04 0002 11111111 22222222",
        Payload::Delete(Delete {
            doi: 1,
            protocol_id: 3,
            spi_size: 4,
            spis: vec![c(&[0x11; 4]), c(&[0x22; 4])],
        }),
    );
    golden(
        pt::DELETE,
        "0000 000c 00000001 03 04 0000",
        Payload::Delete(Delete {
            doi: 1,
            protocol_id: 3,
            spi_size: 4,
            spis: vec![],
        }),
    );
}

#[test]
fn nat_traversal() {
    for t in [pt::NAT_D, pt::NAT_D_DRAFT] {
        golden(
            t,
            "0000 0008 01020304",
            Payload::NatD(NatD {
                payload_type: t,
                data: c(&[1, 2, 3, 4]),
            }),
        );
    }
    for t in [pt::NAT_OA, pt::NAT_OA_DRAFT] {
        golden(
            t,
            "0000 000c 01 000000 c0000201",
            Payload::NatOa(NatOa {
                payload_type: t,
                id_type: 1,
                data: c(&[192, 0, 2, 1]),
            }),
        );
    }
}

#[test]
fn mode_config_attributes() {
    // REPLY, identifier 7: INTERNAL_IP4_ADDRESS 10.0.0.5 (TLV), an empty TLV, and a TV.
    golden(
        pt::ATTRIBUTE,
        "0000 0018 02 00 0007 0001 0004 0a000005 0002 0000 8007 0001",
        Payload::Attributes(AttributePayload {
            attr_type: 2,
            identifier: 7,
            attributes: vec![
                Attribute::variable(1, vec![10, 0, 0, 5]),
                Attribute::variable(2, vec![]),
                Attribute::basic(7, 1),
            ],
        }),
    );
}

#[test]
fn unknown_types_are_kept() {
    for t in [15u8, 16, 19, 22, 33, 129, 132, 255] {
        golden(
            t,
            "0000 0006 beef",
            Payload::Unknown(Unknown {
                payload_type: t,
                data: c(&[0xbe, 0xef]),
            }),
        );
    }
}

#[test]
fn sa_variants() {
    // Quick Mode SA: two proposals (AH and ESP, same number: a bundle), ESP with an SPI.
    golden(
        pt::SA,
        "0000 0038 00000001 00000001
         0200 0014 01 02 04 01 aaaaaaaa  0000 0008 01 03 0000
         0000 0018 01 03 04 01 bbbbbbbb  0000 000c 01 0c 0000 80060080",
        Payload::Sa(Sa {
            doi: 1,
            situation: c(&[0, 0, 0, 1]),
            proposals: vec![
                Proposal {
                    number: 1,
                    protocol_id: 2,
                    spi: c(&[0xaa; 4]),
                    transforms: vec![Transform {
                        number: 1,
                        transform_id: 3,
                        attributes: vec![],
                    }],
                },
                Proposal {
                    number: 1,
                    protocol_id: 3,
                    spi: c(&[0xbb; 4]),
                    transforms: vec![Transform {
                        number: 1,
                        transform_id: 12,
                        attributes: vec![Attribute::basic(6, 128)],
                    }],
                },
            ],
        }),
    );
    // SIT_SECRECY | SIT_INTEGRITY: labeled domain 9; secrecy level of 3 bytes (padded to
    // 4) and 9 category bits (2 bytes, padded to 4); integrity level of 4 bytes and 0
    // category bits. All of it is the situation; a proposal without transforms follows.
    let situation = b("00000006 00000009
                       0003 0000 010203 00  0009 0000 ff80 0000
                       0004 0000 04050607  0000 0000");
    golden(
        pt::SA,
        "0000 0034 00000001
         00000006 00000009 0003 0000 01020300 0009 0000 ff800000 0004 0000 04050607 0000 0000
         0000 0008 01 01 00 00",
        Payload::Sa(Sa {
            doi: 1,
            situation: situation.into(),
            proposals: vec![Proposal {
                number: 1,
                protocol_id: 1,
                spi: c(&[]),
                transforms: vec![],
            }],
        }),
    );
    // Another DOI: the situation is the rest of the body, opaque.
    golden(
        pt::SA,
        "0000 0010 00000002 0102030405060708",
        Payload::Sa(Sa {
            doi: 2,
            situation: c(&[1, 2, 3, 4, 5, 6, 7, 8]),
            proposals: vec![],
        }),
    );
    // IPsec DOI without proposals.
    golden(
        pt::SA,
        "0000 000c 00000001 00000001",
        Payload::Sa(Sa {
            doi: 1,
            situation: c(&[0, 0, 0, 1]),
            proposals: vec![],
        }),
    );
}

#[test]
fn chains_get_next_payload_fields() {
    let chain = [
        Payload::Hash(Hash::new(vec![1])),
        Payload::NatD(NatD {
            payload_type: 130,
            data: c(&[2]),
        }),
        Payload::VendorId(VendorId::new(vec![3])),
    ];
    let mut out = Vec::new();
    encode_payloads(&chain, 11, &mut out).unwrap();
    assert_eq!(out, b("82000005 01  0d000005 02  0b000005 03"));

    let header = Header {
        icookie: [1; 8],
        next_payload: 99,
        major: 1,
        exchange_type: 5,
        flags: 1,
        message_id: 0x01020304,
        length: 1234,
        ..Header::default()
    };
    let mut out = vec![0xee];
    encode_message(&header, &chain[..1], &mut out).unwrap();
    assert_eq!(
        out,
        b("ee 0101010101010101 0000000000000000 08 10 05 01 01020304 00000021 00000005 01")
    );
}

#[test]
fn encoders_refuse_what_does_not_fit() {
    let cases: Vec<(Payload<'_>, EncodeError)> = vec![
        (
            Payload::Notify(Notify {
                doi: 1,
                protocol_id: 1,
                notify_type: 1,
                spi: vec![0; 256].into(),
                data: c(&[]),
            }),
            EncodeError::TooLong {
                what: "NOTIFY SPI",
                len: 256,
                max: 255,
            },
        ),
        (
            Payload::Ke(Ke::new(vec![0; 65532])),
            EncodeError::TooLong {
                what: "KE payload",
                len: 65536,
                max: 65535,
            },
        ),
        (
            Payload::Delete(Delete {
                doi: 1,
                protocol_id: 3,
                spi_size: 4,
                spis: vec![c(&[1, 2])],
            }),
            EncodeError::Inconsistent {
                what: "DELETE SPI",
                expected: 4,
                found: 2,
            },
        ),
        (
            Payload::Delete(Delete {
                doi: 1,
                protocol_id: 3,
                spi_size: 1,
                spis: vec![c(&[0]); 65536],
            }),
            EncodeError::OutOfRange {
                what: "DELETE SPI count",
                value: 65536,
                max: 65535,
            },
        ),
        (
            Payload::Delete(Delete {
                doi: 1,
                protocol_id: 3,
                spi_size: 0,
                spis: vec![c(&[])],
            }),
            EncodeError::Invalid {
                what: "DELETE of SPIs of size 0",
            },
        ),
        (
            Payload::Sa(Sa {
                doi: 1,
                situation: c(&[0, 0, 0, 1, 0]),
                proposals: vec![],
            }),
            EncodeError::Inconsistent {
                what: "IPsec DOI situation",
                expected: 4,
                found: 5,
            },
        ),
        (
            Payload::Sa(Sa {
                doi: 1,
                situation: c(&[0, 0, 0, 1]),
                proposals: vec![Proposal {
                    number: 1,
                    protocol_id: 3,
                    spi: vec![0; 256].into(),
                    transforms: vec![],
                }],
            }),
            EncodeError::TooLong {
                what: "proposal SPI",
                len: 256,
                max: 255,
            },
        ),
        (
            Payload::Sa(Sa {
                doi: 1,
                situation: c(&[0, 0, 0, 1]),
                proposals: vec![Proposal {
                    number: 1,
                    protocol_id: 3,
                    spi: c(&[]),
                    transforms: vec![
                        Transform {
                            number: 1,
                            transform_id: 1,
                            attributes: vec![]
                        };
                        256
                    ],
                }],
            }),
            EncodeError::OutOfRange {
                what: "number of transforms",
                value: 256,
                max: 255,
            },
        ),
        (
            Payload::Sa(Sa {
                doi: 1,
                situation: c(&[0, 0, 0, 1]),
                proposals: vec![Proposal {
                    number: 1,
                    protocol_id: 3,
                    spi: c(&[]),
                    transforms: vec![Transform {
                        number: 1,
                        transform_id: 1,
                        attributes: vec![Attribute::variable(1, vec![0; 65528])],
                    }],
                }],
            }),
            EncodeError::TooLong {
                what: "transform payload",
                len: 65540,
                max: 65535,
            },
        ),
        (
            Payload::Attributes(AttributePayload {
                attr_type: 1,
                identifier: 0,
                attributes: vec![Attribute::basic(0x8001, 1)],
            }),
            EncodeError::OutOfRange {
                what: "attribute type",
                value: 0x8001,
                max: 0x7fff,
            },
        ),
    ];
    for (payload, expected) in cases {
        let mut out = vec![7u8];
        let got = encode_payloads(&[Payload::Hash(Hash::new(vec![1])), payload], 0, &mut out);
        assert_eq!(got, Err(expected.clone()));
        assert_eq!(
            out,
            [7],
            "a failed encoding leaves the buffer as it was: {expected}"
        );
    }
    // The largest payload that fits.
    let mut out = Vec::new();
    encode_payloads(&[Payload::Ke(Ke::new(vec![0; 65531]))], 0, &mut out).unwrap();
    assert_eq!(out.len(), 65535);
    let parsed = parse_payloads(pt::KE, &out, false).unwrap();
    assert_eq!(parsed[0].body().len(), 65531);
}
