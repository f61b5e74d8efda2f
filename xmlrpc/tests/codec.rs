//! Decoding and encoding of every type, both spellings, envelopes, limits and rejections.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use xenpool_xmlrpc::{
    decode_call, decode_response, decode_response_as, decode_value, encode_call, encode_fault,
    encode_response, encode_response_with, encode_value, from_value, to_value, DateTime,
    EncodeOptions, ErrorKind, Fault, Limits, Response, Struct, Value,
};

fn dv(xml: &str) -> Value {
    decode_value(xml.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{xml}: {e}"))
}

fn dv_err(xml: &str) -> xenpool_xmlrpc::Error {
    decode_value(xml.as_bytes(), &Limits::default()).expect_err(xml)
}

#[test]
fn every_scalar_in_both_spellings() {
    assert_eq!(dv("<value><string>x</string></value>"), Value::from("x"));
    assert_eq!(dv("<value>x</value>"), Value::from("x"));
    assert_eq!(dv("<value></value>"), Value::from(""));
    assert_eq!(dv("<value/>"), Value::from(""));
    assert_eq!(dv("<value><string/></value>"), Value::from(""));
    assert_eq!(dv("<value>  spaced  </value>"), Value::from("  spaced  "));
    assert_eq!(dv("<value><int>-12</int></value>"), Value::Int(-12));
    assert_eq!(dv("<value><i4> 7 </i4></value>"), Value::Int(7));
    assert_eq!(
        dv("<value><i8>1099511627776</i8></value>"),
        Value::I8(1 << 40)
    );
    assert_eq!(dv("<value><boolean>1</boolean></value>"), Value::Bool(true));
    assert_eq!(
        dv("<value><boolean>0</boolean></value>"),
        Value::Bool(false)
    );
    assert_eq!(
        dv("<value><double>-2.5e3</double></value>"),
        Value::Double(-2500.0)
    );
    assert_eq!(
        dv("<value><dateTime.iso8601>20240611T10:00:00Z</dateTime.iso8601></value>"),
        Value::DateTime(DateTime::parse("20240611T10:00:00Z").unwrap())
    );
    assert_eq!(
        dv("<value><dateTime.iso8601>20240611T10:00:00</dateTime.iso8601></value>"),
        Value::DateTime(DateTime::parse("20240611T10:00:00").unwrap())
    );
    assert_eq!(
        dv("<value><base64>aGVs\nbG8=</base64></value>"),
        Value::Base64(b"hello".to_vec())
    );
    assert_eq!(dv("<value><nil/></value>"), Value::Nil);
    assert_eq!(dv("<value><ex:nil/></value>"), Value::Nil);
}

#[test]
fn entities_in_every_text_position() {
    let v = dv("<value><struct><member><name>a&amp;b&#x3C;</name><value>&lt;&gt;&quot;&apos;&#65;&#x42;</value></member>\
                <member><name>s</name><value><string>x&amp;y<![CDATA[<z>]]></string></value></member></struct></value>");
    let s = v.as_struct().unwrap();
    assert_eq!(s.get("a&b<"), Some(&Value::from("<>\"'AB")));
    assert_eq!(s.get("s"), Some(&Value::from("x&y<z>")));
    let call = decode_call(
        b"<methodCall><methodName>VM.&#x67;et</methodName><params/></methodCall>",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(call.name, "VM.get");
    assert_eq!(dv("<value><int>&#52;2</int></value>"), Value::Int(42));
    assert_eq!(dv("<value><i8>-&#x31;</i8></value>"), Value::I8(-1));
    assert_eq!(
        dv("<value><boolean>&#49;</boolean></value>"),
        Value::Bool(true)
    );
    assert_eq!(
        dv("<value><double>1&#46;5</double></value>"),
        Value::Double(1.5)
    );
    assert_eq!(
        dv("<value><dateTime.iso8601>2024&#48;611T10:00:00Z</dateTime.iso8601></value>"),
        Value::DateTime(DateTime::parse("20240611T10:00:00Z").unwrap())
    );
    assert_eq!(
        dv("<value><base64>aGk&#61;</base64></value>"),
        Value::Base64(b"hi".to_vec())
    );
    let fault = b"<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member>\
        <member><name>faultString</name><value>a &lt;b&gt; &amp; c</value></member></struct></value></fault></methodResponse>";
    assert_eq!(
        decode_response(fault, &Limits::default()).unwrap(),
        Response::Fault(Fault {
            code: 1,
            string: "a <b> & c".into()
        })
    );
}

#[test]
fn containers_with_whitespace_between_elements() {
    let v = dv("<value>\n <struct>\n  <member> <name>k</name>\n <value> <array> <data>\n\
                <value><int>1</int></value> <value>two</value> <value/>\n </data> </array> </value> </member>\n\
                <member><name>e</name><value><struct/></value></member>\
                <member><name>f</name><value><array><data/></array></value></member>\
                </struct>\n</value>");
    let s = v.as_struct().unwrap();
    assert_eq!(
        s.get("k").unwrap().as_array().unwrap(),
        &[Value::Int(1), Value::from("two"), Value::from("")]
    );
    assert_eq!(s.get("e"), Some(&Value::Struct(Struct::new())));
    assert_eq!(s.get("f"), Some(&Value::Array(vec![])));
}

#[test]
fn xapi_style_response_decodes() {
    let xml = br#"<?xml version="1.0"?><methodResponse><params><param><value><struct>
      <member><name>Status</name><value>Success</value></member>
      <member><name>Value</name><value>10.0.0.12</value></member>
    </struct></value></param></params></methodResponse>"#;
    let Response::Success(v) = decode_response(xml, &Limits::default()).unwrap() else {
        panic!("fault")
    };
    assert_eq!(
        v.as_struct().unwrap().get("Value"),
        Some(&Value::from("10.0.0.12"))
    );
}

#[test]
fn faults_decode_and_encode() {
    let f = Fault {
        code: 42,
        string: "bad <thing>".into(),
    };
    let bytes = encode_fault(&f);
    assert_eq!(
        decode_response(&bytes, &Limits::default()).unwrap(),
        Response::Fault(f.clone())
    );
    let typed: Result<String, Fault> = decode_response_as(&bytes, &Limits::default()).unwrap();
    assert_eq!(typed, Err(f));
    let missing =
        b"<methodResponse><fault><value><struct></struct></value></fault></methodResponse>";
    let e = decode_response(missing, &Limits::default()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Missing(_)), "{e}");
}

#[test]
fn call_round_trip() {
    let params = vec![Value::from("OpaqueRef:1"), Value::I8(5), Value::Nil];
    let bytes = encode_call("VM.pool_migrate", &params);
    let call = decode_call(&bytes, &Limits::default()).unwrap();
    assert_eq!(call.name, "VM.pool_migrate");
    assert_eq!(call.params, params);
}

#[test]
fn encoding_is_ocaml_rpc_style() {
    let mut s = Struct::new();
    s.insert("Status", "Success");
    s.insert("Value", "");
    let bytes = encode_response(&Value::Struct(s.clone()));
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>\
         <member><name>Status</name><value>Success</value></member>\
         <member><name>Value</name><value></value></member></struct></value></param></params></methodResponse>"
    );
    let tagged = encode_response_with(&Value::Struct(s), EncodeOptions { string_tags: true });
    assert!(String::from_utf8(tagged)
        .unwrap()
        .contains("<value><string>Success</string></value>"));
    let mut out = Vec::new();
    encode_value(&Value::from("a\u{0}b"), EncodeOptions::default(), &mut out);
    assert_eq!(out, b"<value>ab</value>");
}

#[test]
fn rejects_doctype_and_entities() {
    let e = dv_err("<!DOCTYPE x [<!ENTITY a \"b\">]><value>&a;</value>");
    assert_eq!(e.kind(), &ErrorKind::DoctypeRejected);
    assert_eq!(e.offset(), 0);
    let e = dv_err("<value>&a;</value>");
    assert_eq!(e.kind(), &ErrorKind::EntityRejected);
    assert_eq!(e.offset(), 7);
    let e = dv_err("<value><string>x&ext;</string></value>");
    assert_eq!(e.kind(), &ErrorKind::EntityRejected);
}

#[test]
fn malformed_inputs_name_the_problem_and_offset() {
    type KindCheck = fn(&ErrorKind) -> bool;
    let cases: &[(&str, KindCheck)] = &[
        ("<value><int>x</int></value>", |k| {
            matches!(k, ErrorKind::InvalidInt(_))
        }),
        ("<value><int>4294967296</int></value>", |k| {
            matches!(k, ErrorKind::InvalidInt(_))
        }),
        ("<value><boolean>2</boolean></value>", |k| {
            matches!(k, ErrorKind::InvalidBool(_))
        }),
        ("<value><double>x</double></value>", |k| {
            matches!(k, ErrorKind::InvalidDouble(_))
        }),
        (
            "<value><dateTime.iso8601>2024</dateTime.iso8601></value>",
            |k| matches!(k, ErrorKind::InvalidDateTime(_)),
        ),
        ("<value><base64>!!</base64></value>", |k| {
            matches!(k, ErrorKind::InvalidBase64)
        }),
        (
            "<value><foo/></value>",
            |k| matches!(k, ErrorKind::UnexpectedTag { found, .. } if found == "foo"),
        ),
        ("<value><struct><member><name>a</name>", |k| {
            matches!(k, ErrorKind::UnexpectedEof)
        }),
        ("<value>x</value><value/>", |k| {
            matches!(k, ErrorKind::TrailingContent)
        }),
        ("<value>x<int>1</int></value>", |k| {
            matches!(k, ErrorKind::UnexpectedText(_))
        }),
        ("<value><struct>junk</struct></value>", |k| {
            matches!(k, ErrorKind::UnexpectedText(_))
        }),
        ("<value><int>1</i8></value>", |k| {
            matches!(k, ErrorKind::UnexpectedTag { .. })
        }),
        ("<value", |k| matches!(k, ErrorKind::Syntax(_))),
    ];
    for (xml, check) in cases {
        let e = dv_err(xml);
        assert!(check(e.kind()), "{xml}: {e}");
        assert!(e.offset() <= xml.len(), "{xml}: offset {}", e.offset());
        assert!(e.to_string().contains(" at byte "), "{e}");
    }
    let e = dv_err("<value><foo/></value>");
    assert_eq!(e.offset(), 7);
}

#[test]
fn limits_are_enforced_with_offsets() {
    let tight = Limits {
        max_document_bytes: 200,
        max_depth: 3,
        max_string_bytes: 5,
        max_members: 2,
    };
    let big = format!("<value>{}</value>", "a".repeat(300));
    let e = decode_value(big.as_bytes(), &tight).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TooLarge { limit: 200 });
    let e = decode_value(b"<value>abcdef</value>", &tight).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (&ErrorKind::StringTooLong { limit: 5 }, 7)
    );
    let e = decode_value(b"<value>ab&amp;cdef</value>", &tight).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::StringTooLong { limit: 5 });
    let deep = "<value><array><data><value><array><data><value><array><data><value>x</value></data></array></value></data></array></value></data></array></value>";
    let e = decode_value(deep.as_bytes(), &tight).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TooDeep { limit: 3 });
    assert_eq!(&deep[e.offset()..e.offset() + 7], "<value>");
    let three = "<value><array><data><value/><value/><value/></data></array></value>";
    let e = decode_value(three.as_bytes(), &tight).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TooManyMembers { limit: 2 });
    assert_eq!(e.offset(), three.rfind("<value/>").unwrap());
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum PowerState {
    Running,
    Halted,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Vm {
    uuid: String,
    power_state: PowerState,
    memory_static_max: i64,
    #[serde(rename = "VCPUs_max")]
    vcpus_max: u32,
    is_a_template: bool,
    other_config: HashMap<String, String>,
    #[serde(default)]
    affinity: Option<String>,
    last_booted: DateTime,
    tags: Vec<String>,
}

#[test]
fn typed_decode_from_xapi_wire_form() {
    let xml = br#"<?xml version="1.0"?><methodResponse><params><param><value><struct>
      <member><name>uuid</name><value>u-1</value></member>
      <member><name>power_state</name><value>Running</value></member>
      <member><name>memory_static_max</name><value>1073741824</value></member>
      <member><name>VCPUs_max</name><value>4</value></member>
      <member><name>is_a_template</name><value><boolean>0</boolean></value></member>
      <member><name>other_config</name><value><struct><member><name>k&amp;</name><value>v</value></member></struct></value></member>
      <member><name>unknown_field</name><value><array><data><value><struct/></value></data></array></value></member>
      <member><name>last_booted</name><value><dateTime.iso8601>20240611T10:00:00Z</dateTime.iso8601></value></member>
      <member><name>tags</name><value><array><data><value>a</value><value><string>b</string></value></data></array></value></member>
    </struct></value></param></params></methodResponse>"#;
    let vm: Vm = decode_response_as(xml, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        vm,
        Vm {
            uuid: "u-1".into(),
            power_state: PowerState::Running,
            memory_static_max: 1 << 30,
            vcpus_max: 4,
            is_a_template: false,
            other_config: HashMap::from([("k&".to_string(), "v".to_string())]),
            affinity: None,
            last_booted: DateTime::parse("20240611T10:00:00Z").unwrap(),
            tags: vec!["a".into(), "b".into()],
        }
    );
    let v = to_value(&vm).unwrap();
    let s = v.as_struct().unwrap();
    // Fits in i32, so `Int`; larger integers become `I8`.
    assert_eq!(s.get("memory_static_max"), Some(&Value::Int(1 << 30)));
    assert_eq!(s.get("power_state"), Some(&Value::from("Running")));
    assert!(matches!(s.get("last_booted"), Some(Value::DateTime(_))));
    assert_eq!(from_value::<Vm>(v).unwrap(), vm);
}

#[test]
fn typed_decode_errors_are_located() {
    let xml = b"<methodResponse><params><param><value><struct>\
        <member><name>uuid</name><value><int>3</int></value></member></struct></value></param></params></methodResponse>";
    let e = decode_response_as::<Vm>(xml, &Limits::default()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Serde(_)), "{e}");
    assert!(e.offset() > 0 && e.offset() < xml.len(), "{e}");
    let void = b"<methodResponse><params><param><value></value></param></params></methodResponse>";
    let unit: Result<(), Fault> = decode_response_as(void, &Limits::default()).unwrap();
    assert_eq!(unit, Ok(()));
}

#[test]
fn value_nests_in_typed_structs_and_keeps_types() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrap {
        v: Value,
    }
    let inner = Value::Array(vec![
        Value::I8(3),
        Value::Int(3),
        Value::DateTime(DateTime::parse("20240611T10:00:00").unwrap()),
        Value::Base64(vec![0, 1, 2]),
        Value::Nil,
        Value::Double(0.5),
    ]);
    let w = Wrap { v: inner.clone() };
    let bytes = encode_response(&to_value(&w).unwrap());
    let back: Wrap = decode_response_as(&bytes, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(back.v, inner);
    assert_eq!(from_value::<Wrap>(to_value(&w).unwrap()).unwrap(), w);
}

#[test]
fn rejects_invalid_utf8_and_control_characters() {
    let e = dv_err("<value>a\u{0}b</value>");
    assert!(
        matches!(e.kind(), ErrorKind::Syntax(m) if m.contains("U+0000")),
        "{e}"
    );
    assert_eq!(e.offset(), 8);
    let e = dv_err("<value>&#1;</value>");
    assert!(matches!(e.kind(), ErrorKind::Syntax(_)), "{e}");
    let e = decode_value(b"<value>\xff\xfe</value>", &Limits::default()).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Syntax(m) if m.contains("UTF-8")),
        "{e}"
    );
    assert_eq!(e.offset(), 7);
    assert_eq!(dv("<value>\t\r\n</value>"), Value::from("\t\r\n"));
}

#[test]
fn flattened_rest_keeps_xml_rpc_types() {
    #[derive(Debug, Deserialize)]
    struct Inner {
        when: DateTime,
    }
    #[derive(Debug, Deserialize)]
    struct Outer {
        uuid: String,
        #[serde(flatten)]
        inner: Inner,
        #[serde(flatten)]
        rest: HashMap<String, Value>,
    }
    let xml = b"<methodResponse><params><param><value><struct>\
        <member><name>uuid</name><value>u</value></member>\
        <member><name>when</name><value><dateTime.iso8601>20240611T10:00:00Z</dateTime.iso8601></value></member>\
        <member><name>seen</name><value><dateTime.iso8601>20240611T11:00:00</dateTime.iso8601></value></member>\
        <member><name>n</name><value><i8>5</i8></value></member>\
        <member><name>bytes</name><value><base64>AAE=</base64></value></member>\
        </struct></value></param></params></methodResponse>";
    let o: Outer = decode_response_as(xml, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(o.uuid, "u");
    assert!(o.inner.when.utc);
    assert_eq!(
        o.rest.get("seen"),
        Some(&Value::DateTime(
            DateTime::parse("20240611T11:00:00").unwrap()
        ))
    );
    assert_eq!(o.rest.get("n"), Some(&Value::I8(5)));
    assert_eq!(o.rest.get("bytes"), Some(&Value::Base64(vec![0, 1])));
}

#[test]
fn datetime_through_other_serde_formats() {
    let d = DateTime::parse("20240611T10:00:00Z").unwrap();
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, "\"20240611T10:00:00Z\"");
    assert_eq!(serde_json::from_str::<DateTime>(&json).unwrap(), d);
}

#[test]
fn error_messages_quote_only_the_start_of_huge_values() {
    let huge = format!("<value><int>{}</int></value>", "9".repeat(100_000));
    let e = dv_err(&huge);
    let ErrorKind::InvalidInt(text) = e.kind() else {
        panic!("{e}")
    };
    assert_eq!(text.chars().count(), 65, "64 characters and the cut mark");
    assert!(text.ends_with('…'));
    assert!(e.to_string().len() < 200);
}

#[test]
fn typed_decode_rejects_what_the_target_denies() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        a: i32,
    }
    let xml = "<value><struct><member><name>a</name><value><int>1</int></value></member>\
               <member><name>b</name><value>x</value></member></struct></value>";
    let e =
        xenpool_xmlrpc::decode_value_as::<Strict>(xml.as_bytes(), &Limits::default()).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Serde(m) if m.contains("unknown field `b`")),
        "{e}"
    );
    assert!(e.offset() > 0 && e.offset() < xml.len(), "{e}");

    let three = b"<value><array><data><value><int>1</int></value><value><int>2</int></value>\
                  <value><int>3</int></value></data></array></value>";
    let e = xenpool_xmlrpc::decode_value_as::<(i32, i32)>(three, &Limits::default()).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Serde(m) if m.contains("more items")),
        "{e}"
    );
    assert_eq!(
        xenpool_xmlrpc::decode_value_as::<Vec<i64>>(three, &Limits::default()).unwrap(),
        [1, 2, 3]
    );
    let e = xenpool_xmlrpc::decode_value_as::<bool>(b"<value>1</value>", &Limits::default())
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Serde(m) if m.contains("expected a boolean")),
        "{e}"
    );
    let e = xenpool_xmlrpc::decode_value_as::<u8>(b"<value>300</value>", &Limits::default())
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Serde(_)), "{e}");
    let e = xenpool_xmlrpc::decode_value_as::<i64>(b"<value>12x</value>", &Limits::default())
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidInt("12x".into()));
    assert_eq!(e.offset(), 0, "located at the <value> tag");
}

#[test]
fn utf8_bom_before_the_prolog_is_accepted() {
    let mut doc = b"\xEF\xBB\xBF".to_vec();
    doc.extend_from_slice(b"<?xml version=\"1.0\"?><value>x</value>");
    assert_eq!(
        decode_value(&doc, &Limits::default()).unwrap(),
        Value::from("x")
    );
    let e = decode_value(
        b"\xEF\xBB\xBF<value><int>z</int></value>",
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(e.offset(), 10, "offsets count the BOM");
}
