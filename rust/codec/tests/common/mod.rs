//! Golden messages of tests/data/codec: real IKEv1 messages from strongSwan, libreswan
//! and ike-scan captures, with the fields tshark's dissector gives for them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

/// One captured message: the datagram as sent and, for an encrypted one whose keys were
/// known, the decrypted body (padding included).
pub struct Golden {
    pub name: String,
    pub data: Vec<u8>,
    pub decrypted: Option<Vec<u8>>,
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/codec")
}

/// Every golden message, sorted by name.
pub fn goldens() -> Vec<Golden> {
    let dir = data_dir();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("tests/data/codec")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".bin").map(str::to_string))
        .collect();
    names.sort();
    assert!(
        names.len() >= 40,
        "golden messages missing in {}",
        dir.display()
    );
    names
        .into_iter()
        .map(|name| Golden {
            data: fs::read(dir.join(format!("{name}.bin"))).unwrap(),
            decrypted: fs::read(dir.join(format!("{name}.dec"))).ok(),
            name,
        })
        .collect()
}

/// The golden message `name`.
pub fn golden(name: &str) -> Golden {
    goldens()
        .into_iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

/// tshark-fields.txt: message name -> field -> values.
pub fn tshark_fields() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let text = fs::read_to_string(data_dir().join("tshark-fields.txt")).unwrap();
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
            out.entry(current.clone()).or_default();
        } else if let Some((field, values)) = line.split_once('=') {
            let values = values.split(';').map(str::to_string).collect();
            out.entry(current.clone())
                .or_default()
                .insert(field.to_string(), values);
        }
    }
    out
}
