//! The fuzz oracle, shared by `fuzz_targets/decode.rs` (cargo fuzz) and the stable test
//! `tests/fuzz_corpus.rs`: every decode entry point must return (never panic), report error
//! offsets inside the input, and whatever decodes must re-encode to bytes that decode to the
//! same value.

use std::collections::HashMap;

use serde::Deserialize;
use xenpool_xmlrpc::{
    decode_call, decode_response, decode_response_as, decode_value, decode_value_as,
    encode_call_with, encode_response_with, encode_value, EncodeOptions, Error, Limits, Response,
    Value,
};

/// A typed target shaped like a XAPI record, so the serde path is exercised too.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // fields are only decoded
pub struct Record {
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub memory: Option<i64>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub other_config: HashMap<String, String>,
    #[serde(default)]
    pub list: Vec<Value>,
}

fn located(input: &[u8], r: Result<(), Error>) {
    if let Err(e) = r {
        assert!(
            e.offset() <= input.len(),
            "error offset {} beyond the {}-byte input: {e}",
            e.offset(),
            input.len()
        );
        // Display must work for every error.
        assert!(!e.to_string().is_empty());
    }
}

fn encoded(v: &Value, opts: EncodeOptions) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(v, opts, &mut out);
    out
}

/// Runs `input` through every decode entry point with default and with tight limits.
pub fn check(input: &[u8]) {
    let tight = Limits {
        max_document_bytes: 4096,
        max_depth: 4,
        max_string_bytes: 64,
        max_members: 8,
    };
    for limits in [Limits::default(), tight] {
        located(
            input,
            decode_value(input, &limits).map(|v| stable(&v, &limits)),
        );
        located(
            input,
            decode_response(input, &limits).map(|r| {
                if let Response::Success(v) = r {
                    let again = encode_response_with(&v, EncodeOptions::default());
                    match decode_response(&again, &Limits::default()) {
                        Ok(Response::Success(back)) => assert_eq!(
                            encoded(&back, EncodeOptions::default()),
                            encoded(&v, EncodeOptions::default())
                        ),
                        other => panic!("re-encoded response does not decode: {other:?}"),
                    }
                }
            }),
        );
        located(
            input,
            decode_call(input, &limits).map(|c| {
                let again =
                    encode_call_with(&c.name, &c.params, EncodeOptions { string_tags: true });
                let back =
                    decode_call(&again, &Limits::default()).expect("re-encoded call decodes");
                assert_eq!(back.name, c.name);
                assert_eq!(back.params.len(), c.params.len());
            }),
        );
        located(input, decode_response_as::<Value>(input, &limits).map(drop));
        located(
            input,
            decode_response_as::<Record>(input, &limits).map(drop),
        );
        located(
            input,
            decode_response_as::<HashMap<String, Record>>(input, &limits).map(drop),
        );
        located(
            input,
            decode_value_as::<Vec<(i64, String)>>(input, &limits).map(drop),
        );
    }
}

/// A decoded value re-encodes (both string styles) to bytes that decode to the same encoding.
fn stable(v: &Value, limits: &Limits) {
    for opts in [
        EncodeOptions::default(),
        EncodeOptions { string_tags: true },
    ] {
        let bytes = encoded(v, opts);
        let lenient = Limits {
            max_document_bytes: usize::MAX,
            max_string_bytes: usize::MAX,
            ..limits.clone()
        };
        let back = decode_value(&bytes, &lenient).expect("re-encoded value decodes");
        assert_eq!(encoded(&back, opts), bytes);
    }
}
