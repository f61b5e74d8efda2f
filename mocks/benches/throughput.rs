//! Throughput of the mock farm: XML-RPC calls per second on one host and spread over a 100-host
//! farm, against two baselines measured in the same run with the same client:
//! - the raw HTTP round-trip floor: a hyper server on 127.0.0.1 answering every POST with the
//!   same pre-encoded response (no decode, no dispatch, no state);
//! - Python's `xmlrpc.server` answering the same call with a canned record (if the venv's
//!   Python is present; its absence is printed, never hidden).
//!
//! Bounded: every measurement stops after `CALLS` calls or `LIMIT`, whichever comes first.
//! Run: `cargo bench -p xenpool-mocks --bench throughput`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use xenpool_mocks::{Farm, FarmOptions};
use xenpool_xmlrpc::{self as xmlrpc, Value};

#[allow(dead_code)]
#[path = "../tests/farm/support.rs"]
mod support;

use support::{s, Reply, Xapi};

const CALLS: usize = 20_000;
const LIMIT: Duration = Duration::from_secs(4);
const CLIENTS: usize = 8;

/// Runs `CLIENTS` keep-alive clients round-robin over `urls`, each calling `host.get_record`
/// with its own session; returns calls per second.
async fn measure(urls: &[String], login: bool) -> f64 {
    let mut clients = Vec::new();
    for i in 0..CLIENTS.max(urls.len().min(64)) {
        let url = &urls[i % urls.len()];
        let x = Xapi::new(url);
        let (session, host) = if login {
            let Reply::Ok(sess) = x
                .call("session.login_with_password", vec![s("root"), s("mock")])
                .await
            else {
                panic!("login on {url}")
            };
            let Reply::Ok(host) = x
                .call("session.get_this_host", vec![sess.clone(), sess.clone()])
                .await
            else {
                panic!("get_this_host on {url}")
            };
            (sess, host)
        } else {
            (s("OpaqueRef:x"), s("OpaqueRef:y"))
        };
        clients.push((x, session, host));
    }
    let per_client = CALLS / clients.len();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (x, session, host) in clients {
        tasks.push(tokio::spawn(async move {
            let mut done = 0usize;
            while done < per_client && start.elapsed() < LIMIT {
                match x
                    .call("host.get_record", vec![session.clone(), host.clone()])
                    .await
                {
                    Reply::Ok(_) => done += 1,
                    other => panic!("host.get_record: {other:?}"),
                }
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// The HTTP floor: a server that returns one canned response to every POST.
async fn floor_server(response: Bytes) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let response = response.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let response = response.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("Content-Type", "text/xml")
                                .body(Full::new(response))
                                .expect("response"),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("XENPOOL_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    venv.exists().then_some(venv)
}

const PY_SERVER: &str = r#"
import sys
from xmlrpc.server import SimpleXMLRPCServer, SimpleXMLRPCRequestHandler
class H(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/", "/RPC2")
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
record = eval(sys.argv[1])
srv = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=H, logRequests=False, allow_none=True)
srv.register_function(lambda s, h: {"Status": "Success", "Value": record}, "host.get_record")
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let one = Farm::start(FarmOptions { hosts: 1, ..FarmOptions::default() }).await.expect("farm");
        let one_rate = measure(&[one.host_url("xs1")], true).await;

        let record = {
            let x = Xapi::new(&one.host_url("xs1"));
            let Reply::Ok(sess) = x.call("session.login_with_password", vec![s("root"), s("mock")]).await else {
                panic!()
            };
            let Reply::Ok(host) = x.call("session.get_this_host", vec![sess.clone(), sess.clone()]).await else {
                panic!()
            };
            let Reply::Ok(rec) = x.call("host.get_record", vec![sess, host]).await else { panic!() };
            rec
        };
        let mut envelope = xmlrpc::Struct::new();
        envelope.insert("Status", "Success");
        envelope.insert("Value", record.clone());
        let canned = Bytes::from(xmlrpc::encode_response(&Value::Struct(envelope)));
        one.shutdown().await;

        let floor = floor_server(canned).await;
        let floor_rate = measure(&[format!("http://{floor}/")], false).await;

        let hundred = Farm::start(FarmOptions { hosts: 100, ..FarmOptions::default() }).await.expect("farm");
        let urls: Vec<String> = (1..=100).map(|i| hundred.host_url(&format!("xs{i}"))).collect();
        let hundred_rate = measure(&urls, true).await;
        hundred.shutdown().await;

        println!("throughput of host.get_record over keep-alive HTTP/1.1, {CLIENTS}+ clients, ≤{CALLS} calls or {LIMIT:?}:");
        println!("  baseline  raw HTTP floor (canned response)    {floor_rate:>10.0} calls/s");
        println!("  mock      1 host                              {one_rate:>10.0} calls/s  ({:.0}% of the floor)", 100.0 * one_rate / floor_rate);
        println!("  mock      100-host farm (64 clients)          {hundred_rate:>10.0} calls/s  ({:.0}% of the floor)", 100.0 * hundred_rate / floor_rate);

        match python() {
            None => println!("  baseline  Python xmlrpc.server: not measured, no venv (run scripts/setup-venv)"),
            Some(py) => {
                let literal = python_literal(&record);
                let mut child = Command::new(py)
                    .args(["-c", PY_SERVER, &literal])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("python starts");
                let mut line = String::new();
                std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("stdout")), &mut line)
                    .expect("python port");
                let port: u16 = line.trim().parse().expect("python port number");
                let py_rate = measure(&[format!("http://127.0.0.1:{port}/")], false).await;
                let _ = child.kill();
                let _ = child.wait();
                println!("  baseline  Python xmlrpc.server (same record)  {py_rate:>10.0} calls/s  (mock 1 host = {:.1}x)", one_rate / py_rate);
            }
        }
    });
}

/// The record as a Python literal for the toy server.
fn python_literal(v: &Value) -> String {
    match v {
        Value::String(x) => format!("{x:?}"),
        Value::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        Value::Int(n) => n.to_string(),
        Value::I8(n) => n.to_string(),
        Value::Double(d) => format!("{d:?}"),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Struct(st) => format!(
            "{{{}}}",
            st.iter()
                .map(|(k, v)| format!("{k:?}: {}", python_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{:?}", format!("{other:?}")),
    }
}
