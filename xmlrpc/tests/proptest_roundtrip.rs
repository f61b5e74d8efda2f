//! Property tests: arbitrary values round-trip through encode / decode in both string styles,
//! typed serde values round-trip through the wire and through `Value`, and arbitrary bytes
//! never panic any decode entry point.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use xenpool_xmlrpc::{
    decode_call, decode_response, decode_response_as, decode_value, decode_value_as,
    encode_call_with, encode_response_with, encode_value, from_value, to_value, DateTime,
    EncodeOptions, Limits, Response, Struct, Value,
};

/// Text the encoder keeps verbatim: every char but the control characters it drops.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \t\r\na-z<>&\"'#;]{0,12}",
        Just(String::new()),
        Just("   ".to_string()),
    ]
    .prop_map(|s| {
        s.chars()
            .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r') || *c as u32 >= 0x7f)
            .collect()
    })
}

fn datetime() -> impl Strategy<Value = DateTime> {
    (
        0u16..=9999,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        0u8..60,
        any::<bool>(),
    )
        .prop_map(|(year, month, day, hour, minute, second, utc)| DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            utc,
        })
}

fn double() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i32>().prop_map(Value::Int),
        any::<i64>().prop_map(Value::I8),
        any::<bool>().prop_map(Value::Bool),
        text().prop_map(Value::String),
        double().prop_map(Value::Double),
        datetime().prop_map(Value::DateTime),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Base64),
        Just(Value::Nil),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..6)
                .prop_map(|m| Value::Struct(m.into_iter().collect::<Struct>())),
        ]
    })
}

fn opts() -> impl Strategy<Value = EncodeOptions> {
    any::<bool>().prop_map(|string_tags| EncodeOptions { string_tags })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Kind {
    Plain,
    Sized(u32),
    Pair(i64, String),
    Named { a: bool, b: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    name: String,
    count: i64,
    small: u8,
    ratio: f64,
    flag: bool,
    when: DateTime,
    maybe: Option<i32>,
    tags: Vec<String>,
    config: BTreeMap<String, String>,
    by_number: BTreeMap<u32, bool>,
    kind: Kind,
    kinds: Vec<Kind>,
    pair: (i32, String),
    any: Value,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Plain),
        any::<u32>().prop_map(Kind::Sized),
        (any::<i64>(), text()).prop_map(|(i, s)| Kind::Pair(i, s)),
        (any::<bool>(), proptest::option::of(text())).prop_map(|(a, b)| Kind::Named { a, b }),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        (
            text(),
            any::<i64>(),
            any::<u8>(),
            double(),
            any::<bool>(),
            datetime(),
        ),
        (
            proptest::option::of(any::<i32>()),
            proptest::collection::vec(text(), 0..4),
            proptest::collection::btree_map(text(), text(), 0..4),
            proptest::collection::btree_map(any::<u32>(), any::<bool>(), 0..4),
        ),
        (
            kind(),
            proptest::collection::vec(kind(), 0..3),
            any::<i32>(),
            text(),
            value(),
        ),
    )
        .prop_map(
            |(
                (name, count, small, ratio, flag, when),
                (maybe, tags, config, by_number),
                (kind, kinds, p0, p1, any),
            )| {
                Record {
                    name,
                    count,
                    small,
                    ratio,
                    flag,
                    when,
                    maybe,
                    tags,
                    config,
                    by_number,
                    kind,
                    kinds,
                    pair: (p0, p1),
                    any,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn value_round_trips_through_the_wire(v in value(), opts in opts()) {
        let limits = Limits::default();
        let mut doc = Vec::new();
        encode_value(&v, opts, &mut doc);
        prop_assert_eq!(&decode_value(&doc, &limits).unwrap(), &v);
        let resp = encode_response_with(&v, opts);
        prop_assert_eq!(decode_response(&resp, &limits).unwrap(), Response::Success(v.clone()));
        prop_assert_eq!(decode_response_as::<Value>(&resp, &limits).unwrap().unwrap(), v.clone());
        let call = encode_call_with("a.b", std::slice::from_ref(&v), opts);
        prop_assert_eq!(decode_call(&call, &limits).unwrap().params, vec![v.clone()]);
        prop_assert_eq!(from_value::<Value>(v.clone()).unwrap(), v.clone());
        prop_assert_eq!(to_value(&v).unwrap(), v);
    }

    #[test]
    fn typed_values_round_trip(r in record(), opts in opts()) {
        let limits = Limits::default();
        let v = to_value(&r).unwrap();
        prop_assert_eq!(&from_value::<Record>(v.clone()).unwrap(), &r);
        let resp = encode_response_with(&v, opts);
        prop_assert_eq!(&decode_response_as::<Record>(&resp, &limits).unwrap().unwrap(), &r);
        let mut doc = Vec::new();
        encode_value(&v, opts, &mut doc);
        prop_assert_eq!(decode_value_as::<Record>(&doc, &limits).unwrap(), r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_no_panic(&bytes);
    }

    #[test]
    fn arbitrary_xmlish_text_never_panics(s in "(<|>|/|&|;|#|x|value|struct|member|name|array|data|int|i8|string|boolean|methodResponse|params|param|fault|!DOCTYPE|amp|lt|\\?xml| |1|0|\n){0,80}") {
        check_no_panic(s.as_bytes());
    }
}

/// Every decode entry point returns (never panics), with error offsets inside the input.
fn check_no_panic(bytes: &[u8]) {
    let limits = Limits::default();
    let offsets = [
        decode_value(bytes, &limits).err().map(|e| e.offset()),
        decode_response(bytes, &limits).err().map(|e| e.offset()),
        decode_call(bytes, &limits).err().map(|e| e.offset()),
        decode_response_as::<Value>(bytes, &limits)
            .err()
            .map(|e| e.offset()),
        decode_response_as::<Record>(bytes, &limits)
            .err()
            .map(|e| e.offset()),
    ];
    for off in offsets.into_iter().flatten() {
        assert!(
            off <= bytes.len(),
            "offset {off} beyond input of {} bytes",
            bytes.len()
        );
    }
}
