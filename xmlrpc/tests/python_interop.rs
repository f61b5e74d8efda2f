//! Interop with Python's stdlib `xmlrpc.client` / `xmlrpc.server`, every type, both directions:
//! Rust encodes → Python `loads`; Python `dumps` → Rust decodes; and a Python
//! `SimpleXMLRPCServer` on 127.0.0.1 that Rust calls over HTTP. Values are compared in a
//! canonical JSON form computed on each side (doubles by their bit pattern).
//!
//! Interpreter: `XENPOOL_TEST_PYTHON`, else `<workspace>/.venv/bin/python`; missing → the test
//! fails and says to run `scripts/setup-venv`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value as Json};
use xenpool_xmlrpc::{
    decode_call, decode_response, encode_call_with, encode_fault, encode_response_with, DateTime,
    EncodeOptions, Fault, Limits, Response, Struct, Value,
};

const SCRIPT: &str = r#"
import datetime, json, struct, sys, xmlrpc.client, xmlrpc.server

def canon(v):
    if isinstance(v, bool): return {"bool": v}
    if isinstance(v, int): return {"int": v}
    if isinstance(v, float): return {"double": struct.unpack("<Q", struct.pack("<d", v))[0]}
    if isinstance(v, str): return {"str": v}
    if isinstance(v, xmlrpc.client.DateTime): return {"dt": v.value}
    if isinstance(v, datetime.datetime): return {"dt": v.strftime("%Y%m%dT%H:%M:%S")}
    if isinstance(v, xmlrpc.client.Binary): return {"b64": v.data.hex()}
    if isinstance(v, (bytes, bytearray)): return {"b64": bytes(v).hex()}
    if v is None: return {"nil": None}
    if isinstance(v, dict): return {"struct": [[k, canon(x)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)): return {"array": [canon(x) for x in v]}
    raise TypeError(repr(type(v)))

def every_type():
    return {
        "int": 42, "int_min": -2**31, "int_max": 2**31 - 1, "true": True, "false": False,
        "empty": "", "spaces": "  spaced  ", "markup": "a<b>&c\"d'e]]>", "unicode": "h\u00e9llo \u2603 \U0001F600",
        "controls_kept": "tab\tnl\ncr\r", "double": 0.1 + 0.2, "neg_zero": -0.0, "huge": 1e300,
        "tiny": 5e-324, "inf": float("inf"), "ninf": float("-inf"), "whole": 3.0,
        "dt_plain": datetime.datetime(2024, 6, 11, 10, 0, 0),
        "dt_z": xmlrpc.client.DateTime("20240611T10:00:00Z"),
        "binary": xmlrpc.client.Binary(bytes(range(256)) * 2), "raw_bytes": b"\x00abc",
        "none": None, "list": [1, "two", [3.5, []], {}], "tuple": (True, None),
        "nested": {"k&<>": {"deeper": [{"x": "y"}]}},
    }

mode = sys.argv[1]
if mode == "loads":
    out = []
    for doc in json.load(sys.stdin):
        try:
            params, method = xmlrpc.client.loads(doc.encode("utf-8"))
            out.append({"method": method, "params": [canon(p) for p in params]})
        except xmlrpc.client.Fault as f:
            out.append({"fault": [f.faultCode, f.faultString]})
    json.dump(out, sys.stdout)
elif mode == "dumps":
    v = every_type()
    json.dump([
        {"kind": "response", "xml": xmlrpc.client.dumps((v,), methodresponse=True, allow_none=True), "canon": canon(v)},
        {"kind": "call", "method": "VM.pool_migrate",
         "xml": xmlrpc.client.dumps(("OpaqueRef:1", v, 7, None), "VM.pool_migrate", allow_none=True),
         "canon": canon(["OpaqueRef:1", v, 7, None])},
        {"kind": "fault", "xml": xmlrpc.client.dumps(xmlrpc.client.Fault(17, "no <such> method"), methodresponse=True),
         "canon": [17, "no <such> method"]},
    ], sys.stdout)
elif mode == "server":
    server = xmlrpc.server.SimpleXMLRPCServer(("127.0.0.1", 0), allow_none=True, logRequests=False)
    server.register_function(lambda *args: list(args), "echo")
    def fail(code, text): raise xmlrpc.client.Fault(code, text)
    server.register_function(fail, "fail")
    server.timeout = 30
    print(server.server_address[1], flush=True)
    for _ in range(int(sys.argv[2])):
        server.handle_request()
"#;

/// The interpreter per COMMON.md, or a failure that says how to get one.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("XENPOOL_TEST_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "XENPOOL_TEST_PYTHON={} does not exist: point it at a Python 3 interpreter, or unset \
             it and run scripts/setup-venv",
            p.display()
        );
        return p;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python for the interop tests: set XENPOOL_TEST_PYTHON or run scripts/setup-venv \
         (creates {})",
        venv.display()
    );
    venv
}

fn run_python(mode: &str, stdin: &str) -> Json {
    let mut child = Command::new(python())
        .args(["-c", SCRIPT, mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write to python");
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "python {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python prints JSON")
}

/// The canonical form both sides compare (Python has one integer type).
fn canon(v: &Value) -> Json {
    match v {
        Value::Int(i) => json!({ "int": i }),
        Value::I8(i) => json!({ "int": i }),
        Value::Bool(b) => json!({ "bool": b }),
        Value::String(s) => json!({ "str": s }),
        Value::Double(d) => json!({ "double": d.to_bits() }),
        Value::DateTime(d) => json!({ "dt": d.to_string() }),
        Value::Base64(b) => {
            json!({ "b64": b.iter().map(|x| format!("{x:02x}")).collect::<String>() })
        }
        Value::Struct(s) => {
            json!({ "struct": s.iter().map(|(k, v)| json!([k, canon(v)])).collect::<Vec<_>>() })
        }
        Value::Array(a) => json!({ "array": a.iter().map(canon).collect::<Vec<_>>() }),
        Value::Nil => json!({ "nil": null }),
    }
}

/// A value of every type with the awkward cases (CR excepted: see `python_normalizes_cr`).
fn every_type() -> Value {
    let mut s = Struct::new();
    s.insert("int", Value::Int(42));
    s.insert("int_min", Value::Int(i32::MIN));
    s.insert("i8", Value::I8(1 << 40));
    s.insert("i8_min", Value::I8(i64::MIN));
    s.insert("true", true);
    s.insert("false", false);
    s.insert("empty", "");
    s.insert("spaces", "  spaced  ");
    s.insert("markup", "a<b>&c\"d'e]]>");
    s.insert("unicode", "h\u{e9}llo \u{2603} \u{1F600}");
    s.insert("tab_nl", "tab\tnl\n");
    for (k, d) in [
        ("double", 0.1 + 0.2),
        ("neg_zero", -0.0),
        ("huge", 1e300),
        ("tiny", 5e-324),
        ("max", f64::MAX),
        ("inf", f64::INFINITY),
        ("ninf", f64::NEG_INFINITY),
        ("nan", f64::NAN),
        ("whole", 3.0),
    ] {
        s.insert(k, d);
    }
    s.insert("dt_z", DateTime::parse("20240611T10:00:00Z").unwrap());
    s.insert("dt_plain", DateTime::parse("19700101T00:00:00").unwrap());
    s.insert("base64", Value::Base64((0..=255).collect()));
    s.insert("base64_empty", Value::Base64(vec![]));
    s.insert("nil", Value::Nil);
    s.insert("empty_struct", Struct::new());
    s.insert("empty_array", Value::Array(vec![]));
    let mut inner = Struct::new();
    inner.insert(
        "k&<>",
        Value::Array(vec![Value::Int(1), "two".into(), Value::Nil]),
    );
    s.insert(
        "nested",
        Value::Array(vec![Value::Struct(inner), Value::Array(vec![])]),
    );
    Value::Struct(s)
}

#[test]
fn rust_encodes_python_loads() {
    let v = every_type();
    let params = vec!["OpaqueRef:1".into(), v.clone(), Value::I8(-5)];
    let fault = Fault {
        code: -32601,
        string: "no <such> method & more".into(),
    };
    let mut docs = Vec::new();
    for string_tags in [false, true] {
        let opts = EncodeOptions { string_tags };
        docs.push(encode_response_with(&v, opts));
        docs.push(encode_call_with("VM.get_record", &params, opts));
    }
    docs.push(encode_fault(&fault));
    let docs: Vec<String> = docs
        .into_iter()
        .map(|d| String::from_utf8(d).unwrap())
        .collect();
    let got = run_python("loads", &serde_json::to_string(&docs).unwrap());
    let want_response = json!({ "method": null, "params": [canon(&v)] });
    let want_call = json!({ "method": "VM.get_record", "params": params.iter().map(canon).collect::<Vec<_>>() });
    assert_eq!(got[0], want_response, "bare strings, response");
    assert_eq!(got[1], want_call, "bare strings, call");
    assert_eq!(got[2], want_response, "<string> tags, response");
    assert_eq!(got[3], want_call, "<string> tags, call");
    assert_eq!(got[4], json!({ "fault": [fault.code, fault.string] }));
}

#[test]
fn python_dumps_rust_decodes() {
    let limits = Limits::default();
    let docs = run_python("dumps", "");
    let docs = docs.as_array().expect("a list");
    assert_eq!(docs.len(), 3);
    for doc in docs {
        let xml = doc["xml"].as_str().unwrap().as_bytes();
        match doc["kind"].as_str().unwrap() {
            "response" => match decode_response(xml, &limits).unwrap() {
                Response::Success(v) => assert_eq!(canon(&v), doc["canon"]),
                Response::Fault(f) => panic!("unexpected fault {f}"),
            },
            "call" => {
                let call = decode_call(xml, &limits).unwrap();
                assert_eq!(call.name, doc["method"].as_str().unwrap());
                assert_eq!(canon(&Value::Array(call.params)), doc["canon"]);
            }
            "fault" => match decode_response(xml, &limits).unwrap() {
                Response::Fault(f) => assert_eq!(json!([f.code, f.string]), doc["canon"]),
                other => panic!("expected a fault, got {other:?}"),
            },
            other => panic!("unknown kind {other}"),
        }
    }
}

/// Python's parser (expat) applies XML end-of-line normalization; the Rust decoder keeps text
/// verbatim, as ocaml-rpc writes it. This pins down that known difference.
#[test]
fn python_normalizes_cr() {
    let doc = encode_response_with(&Value::from("a\r\nb\rc"), EncodeOptions::default());
    let got = run_python(
        "loads",
        &serde_json::to_string(&[String::from_utf8(doc.clone()).unwrap()]).unwrap(),
    );
    assert_eq!(got[0]["params"][0], json!({ "str": "a\nb\nc" }));
    assert_eq!(
        decode_response(&doc, &Limits::default()).unwrap(),
        Response::Success(Value::from("a\r\nb\rc"))
    );
}

/// Kills the Python server when the test ends, however it ends.
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.0 POST of `body` to 127.0.0.1:`port`/RPC2; returns the response body.
fn post(port: u16, body: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the Python server");
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        conn,
        "POST /RPC2 HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).expect("read the HTTP response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP header end");
    assert!(
        raw.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&raw[..split])
    );
    raw[split + 4..].to_vec()
}

#[test]
fn rust_calls_python_server_over_http() {
    let requests = 3;
    let mut child = Command::new(python())
        .args(["-c", SCRIPT, "server", &requests.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python server");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("port line");
    let port: u16 = line.trim().parse().expect("server prints its port");
    let limits = Limits::default();

    // Python cannot send back integers beyond i32; everything else echoes exactly.
    let Value::Struct(mut v) = every_type() else {
        unreachable!()
    };
    v.remove("i8");
    v.remove("i8_min");
    let v = Value::Struct(v);
    for string_tags in [false, true] {
        let body = post(
            port,
            &encode_call_with(
                "echo",
                &[v.clone(), Value::Nil],
                EncodeOptions { string_tags },
            ),
        );
        match decode_response(&body, &limits).unwrap() {
            Response::Success(echo) => {
                assert_eq!(
                    canon(&echo),
                    canon(&Value::Array(vec![v.clone(), Value::Nil]))
                )
            }
            Response::Fault(f) => panic!("echo faulted: {f}"),
        }
    }
    let body = post(
        port,
        &encode_call_with(
            "fail",
            &[Value::Int(3), "bad & worse".into()],
            EncodeOptions::default(),
        ),
    );
    assert_eq!(
        decode_response(&body, &limits).unwrap(),
        Response::Fault(Fault {
            code: 3,
            string: "bad & worse".into()
        })
    );
    drop(server);
}
