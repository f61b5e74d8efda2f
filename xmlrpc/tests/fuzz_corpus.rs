//! The fuzz target on stable: every file of `fuzz/corpus/decode/` plus a bounded, deterministic
//! set of mutations of them (bit flips, truncations, splices, token insertions) through the
//! shared oracle in `fuzz/check.rs` (no panic, offsets inside the input, stable re-encoding).

use std::path::PathBuf;

use xenpool_xmlrpc::{decode_call, decode_response, decode_value, ErrorKind, Limits};

#[path = "../fuzz/check.rs"]
mod check;
#[path = "support/xorshift.rs"]
mod xorshift;

use xorshift::Rng;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes =
                std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (name, bytes)
        })
        .collect()
}

const TOKENS: &[&[u8]] = &[
    b"<value>",
    b"</value>",
    b"<struct>",
    b"</struct>",
    b"<member>",
    b"<name>",
    b"</name>",
    b"<array><data>",
    b"</data></array>",
    b"<int>",
    b"</int>",
    b"<nil/>",
    b"&amp;",
    b"&#x41;",
    b"&bogus;",
    b"<!DOCTYPE x>",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"\xff",
    b"\0",
    b"<",
    b">",
    b"&",
    b"<value/>",
];

#[test]
fn corpus_is_committed_and_varied() {
    let files = corpus();
    assert!(
        files.len() >= 30,
        "expected a few dozen corpus files, found {}",
        files.len()
    );
    let limits = Limits::default();
    let decodes = |b: &[u8]| {
        decode_value(b, &limits).is_ok()
            || decode_response(b, &limits).is_ok()
            || decode_call(b, &limits).is_ok()
    };
    for (name, bytes) in &files {
        let good = [
            "xapi_",
            "python_",
            "utf8_bom",
            "every_type",
            "whitespace",
            "comments",
            "entities",
            "cdata",
            "crlf",
            "ns_prefix",
            "lone_value",
            "attributes",
        ]
        .iter()
        .any(|p| name.starts_with(p));
        assert_eq!(decodes(bytes), good, "{name}: decodes = {}", decodes(bytes));
    }
    let doctype = files
        .iter()
        .find(|(n, _)| n == "billion_laughs.xml")
        .unwrap();
    assert_eq!(
        decode_value(&doctype.1, &limits).unwrap_err().kind(),
        &ErrorKind::DoctypeRejected
    );
}

#[test]
fn corpus_and_mutations_never_panic() {
    let files = corpus();
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut runs = 0usize;
    for (i, (_, bytes)) in files.iter().enumerate() {
        check::check(bytes);
        runs += 1;
        for _ in 0..16 {
            let mut m = bytes.clone();
            for _ in 0..=rng.below(3) {
                if !m.is_empty() {
                    let at = rng.below(m.len());
                    m[at] ^= 1 << rng.below(8);
                }
            }
            check::check(&m);
            check::check(&bytes[..rng.below(bytes.len() + 1)]);
            let other = &files[(i + 1 + rng.below(files.len() - 1)) % files.len()].1;
            let mut splice = bytes[..rng.below(bytes.len() + 1)].to_vec();
            splice.extend_from_slice(&other[rng.below(other.len() + 1)..]);
            check::check(&splice);
            let mut inserted = bytes.clone();
            let at = rng.below(inserted.len() + 1);
            let tok = TOKENS[rng.below(TOKENS.len())];
            inserted.splice(at..at, tok.iter().copied());
            check::check(&inserted);
            runs += 4;
        }
    }
    assert!(runs >= files.len() * 65, "ran {runs} inputs");
}
