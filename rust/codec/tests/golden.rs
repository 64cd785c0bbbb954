//! Real messages from the captures: parse them, compare every field with what tshark's
//! dissector shows, and encode them back to the same bytes.

mod common;

use std::collections::BTreeMap;

use common::{golden, goldens, tshark_fields};
use isakmp_codec::{
    encode_message, encode_message_body, encode_payloads, header::FLAG_ENC, parse_message,
    parse_payloads_at, AttrValue, Attribute, Header, Parsed, Payload, Proposal, Transform,
};

type Fields = BTreeMap<String, Vec<String>>;

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn push(f: &mut Fields, key: &str, value: impl ToString) {
    f.entry(format!("isakmp.{key}"))
        .or_default()
        .push(value.to_string());
}

fn attr_value(a: &Attribute<'_>) -> String {
    match &a.value {
        AttrValue::Basic(v) => format!("{v:04x}"),
        AttrValue::Variable(b) => hex(b),
    }
}

fn encoded_len(encode: impl FnOnce(&mut Vec<u8>)) -> usize {
    let mut out = Vec::new();
    encode(&mut out);
    out.len() + 4
}

fn flatten_transform(f: &mut Fields, t: &Transform<'_>, protocol_id: u8) {
    push(f, "trans.number", t.number);
    push(f, "trans.id", t.transform_id);
    let kind = if protocol_id == 1 { "ike" } else { "ipsec" };
    for a in &t.attributes {
        push(f, &format!("{kind}.attr.type"), a.attr_type);
        push(f, &format!("{kind}.attr.value"), attr_value(a));
    }
}

fn flatten_proposal(f: &mut Fields, p: &Proposal<'_>) {
    push(f, "prop.number", p.number);
    push(f, "prop.protoid", p.protocol_id);
    push(f, "prop.transforms", p.transforms.len());
    push(f, "spisize", p.spi.len());
    if !p.spi.is_empty() {
        push(f, "spi", hex(&p.spi));
    }
    for t in &p.transforms {
        flatten_transform(f, t, p.protocol_id);
    }
}

/// The fields tshark shows, in its order, from what the codec parsed.
fn flatten(header: &Header, payloads: &[Parsed<'_>]) -> Fields {
    let mut f = Fields::new();
    push(&mut f, "ispi", hex(&header.icookie));
    push(&mut f, "rspi", hex(&header.rcookie));
    push(&mut f, "exchangetype", header.exchange_type);
    push(&mut f, "flags", format!("0x{:02x}", header.flags));
    push(&mut f, "messageid", format!("0x{:08x}", header.message_id));
    push(&mut f, "length", header.length);
    for parsed in payloads {
        push(&mut f, "typepayload", parsed.payload.payload_type());
        push(&mut f, "payloadlength", parsed.raw.len());
        if let Payload::Sa(sa) = &parsed.payload {
            push(&mut f, "sa.doi", sa.doi);
            push(&mut f, "sa.situation", hex(&sa.situation));
            for p in &sa.proposals {
                push(&mut f, "typepayload", 2);
                push(
                    &mut f,
                    "payloadlength",
                    encoded_len(|o| p.encode(o).unwrap()),
                );
                for t in &p.transforms {
                    push(&mut f, "typepayload", 3);
                    push(
                        &mut f,
                        "payloadlength",
                        encoded_len(|o| t.encode(o).unwrap()),
                    );
                }
            }
        }
    }
    // Values of one kind are listed in payload order, whatever payload holds them.
    for parsed in payloads {
        match &parsed.payload {
            Payload::Sa(sa) => sa
                .proposals
                .iter()
                .for_each(|p| flatten_proposal(&mut f, p)),
            Payload::Ke(p) => push(&mut f, "key_exchange.data", hex(&p.data)),
            Payload::Nonce(p) => push(&mut f, "nonce", hex(&p.data)),
            Payload::Hash(p) => push(&mut f, "hash", hex(&p.data)),
            Payload::Sig(p) => push(&mut f, "sig", hex(&p.data)),
            Payload::Id(p) => {
                push(&mut f, "id.type", p.id_type);
                push(&mut f, "id.protoid", p.protocol);
                push(&mut f, "id.port", p.port);
            }
            Payload::Cert(p) => push(&mut f, "cert.encoding", p.encoding),
            Payload::CertReq(p) => push(&mut f, "certreq.type", p.cert_type),
            Payload::Notify(p) => {
                push(&mut f, "notify.doi", p.doi);
                push(&mut f, "notify.protoid", p.protocol_id);
                push(&mut f, "notify.msgtype", p.notify_type);
                push(&mut f, "spisize", p.spi.len());
                if !p.spi.is_empty() {
                    push(&mut f, "spi", hex(&p.spi));
                }
            }
            Payload::Delete(p) => {
                push(&mut f, "delete.doi", p.doi);
                push(&mut f, "delete.protoid", p.protocol_id);
                push(&mut f, "spisize", p.spi_size);
                push(&mut f, "spinum", p.spis.len());
                p.spis
                    .iter()
                    .for_each(|s| push(&mut f, "delete.spi", hex(s)));
            }
            Payload::VendorId(p) => push(&mut f, "vid_bytes", hex(&p.data)),
            Payload::NatD(p) => push(&mut f, "ike.nat_hash", hex(&p.data)),
            _ => {}
        }
    }
    f
}

/// Header and payloads of a golden message: parsed as a whole, or header + decrypted body.
fn parse_golden(g: &common::Golden) -> (Header, Vec<Parsed<'_>>) {
    if g.data[19] & FLAG_ENC == 0 {
        return parse_message(&g.data).unwrap_or_else(|e| panic!("{}: {e}", g.name));
    }
    let header = Header::parse(&g.data).unwrap();
    let payloads = match &g.decrypted {
        Some(body) => parse_payloads_at(header.next_payload, body, 28, true)
            .unwrap_or_else(|e| panic!("{}: {e}", g.name)),
        None => Vec::new(),
    };
    (header, payloads)
}

#[test]
fn every_golden_message_matches_tshark() {
    let expected = tshark_fields();
    let all = goldens();
    assert_eq!(all.len(), expected.len());
    for g in &all {
        let (header, payloads) = parse_golden(g);
        let ours = flatten(&header, &payloads);
        let theirs = &expected[&g.name];
        assert_eq!(&ours, theirs, "{}", g.name);
    }
}

#[test]
fn every_golden_message_encodes_to_its_bytes() {
    let mut decrypted = 0;
    for g in &goldens() {
        let (header, payloads) = parse_golden(g);
        let payloads: Vec<Payload<'_>> = payloads.into_iter().map(|p| p.payload).collect();
        let mut out = Vec::new();
        if header.flags & FLAG_ENC == 0 {
            encode_message(&header, &payloads, &mut out).unwrap();
            assert_eq!(out, g.data, "{}", g.name);
            continue;
        }
        encode_message_body(&header, &g.data[28..], &mut out).unwrap();
        assert_eq!(out, g.data, "{}", g.name);
        if let Some(body) = &g.decrypted {
            out.clear();
            encode_payloads(&payloads, 0, &mut out).unwrap();
            assert_eq!(out, body[..out.len()], "{}", g.name);
            assert!(
                body.len() - out.len() <= 16,
                "{}: only padding after the chain",
                g.name
            );
            decrypted += 1;
        }
    }
    assert!(decrypted >= 25, "decrypted bodies were checked");
}

#[test]
fn main_mode_1_fields() {
    // tshark -V of mm-psk-aes frame 1: SA with one ISAKMP proposal, one KEY_IKE
    // transform (AES-CBC-128, SHA, MODP 2048, PSK, 15840 s), then five VIDs.
    let g = golden("mm-psk-aes-1");
    let (header, payloads) = parse_message(&g.data).unwrap();
    assert_eq!((header.exchange_type, header.length), (2, 180));
    assert_eq!(payloads.len(), 6);
    let Payload::Sa(sa) = &payloads[0].payload else {
        panic!("not an SA")
    };
    assert_eq!((sa.doi, &sa.situation[..]), (1, &[0, 0, 0, 1][..]));
    let expected = Proposal {
        number: 1,
        protocol_id: 1,
        spi: Vec::new().into(),
        transforms: vec![Transform {
            number: 1,
            transform_id: 1,
            attributes: [
                (1, 7),
                (14, 128),
                (2, 2),
                (4, 14),
                (3, 1),
                (11, 1),
                (12, 15840),
            ]
            .iter()
            .map(|&(t, v)| Attribute::basic(t, v))
            .collect(),
        }],
    };
    assert_eq!(sa.proposals, vec![expected]);
    assert_eq!(payloads[0].raw.len(), 56);
    assert_eq!(payloads[0].body(), &g.data[32..84]);
    let Payload::VendorId(dpd) = &payloads[2].payload else {
        panic!("not a VID")
    };
    assert_eq!(hex(&dpd.data), "afcad71368a1f1c96b8696fc77570100");
    assert_eq!(payloads[5].offset, 160);
}

#[test]
fn quick_mode_and_informational_fields() {
    // Quick Mode 1 of mm-psk-aes, decrypted: HASH, SA (ESP, SPI 3e2429da, AES-128,
    // HMAC-SHA1, tunnel, PFS MODP 2048), NONCE, KE, IDs 10.1.0.0/24 and 10.2.0.0/24.
    let g = golden("mm-psk-aes-7");
    let header = Header::parse(&g.data).unwrap();
    assert_eq!((header.exchange_type, header.flags), (32, 1));
    let body = g.decrypted.as_ref().unwrap();
    let payloads = parse_payloads_at(header.next_payload, body, 28, true).unwrap();
    let types: Vec<u8> = payloads.iter().map(|p| p.payload.payload_type()).collect();
    assert_eq!(types, [8, 1, 10, 4, 5, 5]);
    let Payload::Sa(sa) = &payloads[1].payload else {
        panic!()
    };
    let p = &sa.proposals[0];
    assert_eq!(
        (p.protocol_id, &p.spi[..]),
        (3, &[0x3e, 0x24, 0x29, 0xda][..])
    );
    assert_eq!(p.transforms[0].transform_id, 12);
    let Payload::Id(id) = &payloads[4].payload else {
        panic!()
    };
    assert_eq!((id.id_type, id.protocol, id.port), (4, 0, 0));
    assert_eq!(id.data, &[10, 1, 0, 0, 255, 255, 255, 0][..]);
    // Trailing padding is refused unless allowed.
    let err = parse_payloads_at(header.next_payload, body, 28, false).unwrap_err();
    assert_eq!(err.notify(), 30);

    // INFORMATIONAL DELETE of the ISAKMP SA: HASH, DELETE(ISAKMP, 16-byte SPI).
    let g = golden("mm-psk-aes-17");
    let header = Header::parse(&g.data).unwrap();
    let body = g.decrypted.as_ref().unwrap();
    let payloads = parse_payloads_at(header.next_payload, body, 28, true).unwrap();
    let Payload::Delete(d) = &payloads[1].payload else {
        panic!()
    };
    assert_eq!((d.doi, d.protocol_id, d.spi_size), (1, 1, 16));
    assert_eq!(hex(&d.spis[0]), "afe19217707b9d6dd948d4bad6d943c7");

    // Main Mode 5: ID(IPV4_ADDR), HASH, NOTIFY INITIAL-CONTACT with the cookies as SPI.
    let g = golden("mm-psk-aes-5");
    let body = g.decrypted.as_ref().unwrap();
    let payloads = parse_payloads_at(5, body, 28, true).unwrap();
    let Payload::Notify(n) = &payloads[2].payload else {
        panic!()
    };
    assert_eq!((n.doi, n.protocol_id, n.notify_type), (1, 1, 24578));
    assert_eq!(n.spi.len(), 16);
    assert!(n.data.is_empty());
}

#[test]
fn certificates_and_other_peers() {
    // Main Mode 5 with RSA signatures: ID(DER_ASN1_DN), CERT(X.509 signature),
    // SIG, CR(X.509 signature, CA name), NOTIFY.
    let g = golden("mm-rsa-5");
    let payloads = parse_payloads_at(5, g.decrypted.as_ref().unwrap(), 28, true).unwrap();
    let Payload::Cert(cert) = &payloads[1].payload else {
        panic!()
    };
    assert_eq!(cert.encoding, 4);
    assert_eq!(cert.data.first(), Some(&0x30), "a DER SEQUENCE");
    let Payload::CertReq(cr) = &payloads[3].payload else {
        panic!()
    };
    assert_eq!(cr.cert_type, 4);
    assert!(cr.authority.windows(10).any(|w| w == b"IKE Lab CA"));

    // Aggressive Mode 1: the ID is a USER_FQDN.
    let g = golden("am-psk-1");
    let (_, payloads) = parse_message(&g.data).unwrap();
    let Payload::Id(id) = &payloads[3].payload else {
        panic!()
    };
    assert_eq!(id.id_type, 3);
    assert_eq!(&id.data[..], b"west@lab.example");

    // libreswan numbers its proposal and transform 0.
    let g = golden("pluto-charon-mm-psk-1");
    let (_, payloads) = parse_message(&g.data).unwrap();
    let Payload::Sa(sa) = &payloads[0].payload else {
        panic!()
    };
    assert_eq!(
        (sa.proposals[0].number, sa.proposals[0].transforms[0].number),
        (0, 0)
    );
    assert_eq!(payloads.len(), 7);
}
