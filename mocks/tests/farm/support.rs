//! Test support: a small XML-RPC client over hyper (plain or TLS pinned to the farm's
//! certificate), sessions, and polling helpers.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use xenpool_mocks::{Farm, FarmOptions, FarmState};
use xenpool_xmlrpc::{self as xmlrpc, Response, Value};

/// A string value.
pub fn s(x: &str) -> Value {
    Value::String(x.to_owned())
}

/// An empty `(string → string) map`.
pub fn no_options() -> Value {
    Value::Struct(xmlrpc::Struct::new())
}

/// Starts a farm with instant simulated time.
pub async fn farm(hosts: usize) -> Farm {
    farm_with(FarmOptions {
        hosts,
        time_scale: 0.0,
        ..FarmOptions::default()
    })
    .await
}

/// Starts a farm of `hosts` hosts without VMs (ready to join) and with instant simulated time.
pub async fn bare_farm(hosts: usize) -> Farm {
    farm_with(FarmOptions {
        hosts,
        vms_per_host: 0,
        time_scale: 0.0,
        ..FarmOptions::default()
    })
    .await
}

/// Starts a farm.
pub async fn farm_with(opts: FarmOptions) -> Farm {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Farm::start(opts).await.expect("farm starts")
}

/// Starts a farm from scenario TOML with instant simulated time.
pub async fn farm_scenario(toml: &str) -> Farm {
    let scenario = xenpool_mocks::Scenario::from_toml(toml).expect("scenario parses");
    farm_with(FarmOptions {
        scenario: Some(scenario),
        time_scale: 0.0,
        ..FarmOptions::default()
    })
    .await
}

/// What a call came back with.
#[derive(Debug)]
pub enum Reply {
    /// `Status: Success`.
    Ok(Value),
    /// `Status: Failure`: `[CODE, params…]`.
    Failure(Vec<String>),
    /// The connection failed or was dropped.
    Transport(String),
}

/// An XML-RPC endpoint with one keep-alive connection (reopened when it breaks).
pub struct Xapi {
    authority: String,
    tls: Option<tokio_rustls::TlsConnector>,
    conn: Mutex<Option<http1::SendRequest<Full<Bytes>>>>,
}

impl Xapi {
    /// A client for `url` (`http://127.0.0.2:PORT/`).
    pub fn new(url: &str) -> Xapi {
        let authority = url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_owned();
        Xapi {
            authority,
            tls: None,
            conn: Mutex::new(None),
        }
    }

    /// A TLS client that trusts only `pem`.
    pub fn new_tls(url: &str, pem: &str) -> Xapi {
        let mut roots = rustls::RootCertStore::empty();
        let der = pem_to_der(pem);
        roots
            .add(rustls::pki_types::CertificateDer::from(der))
            .expect("certificate");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut x = Xapi::new(url);
        x.tls = Some(tokio_rustls::TlsConnector::from(Arc::new(config)));
        x
    }

    async fn connect(&self) -> Result<http1::SendRequest<Full<Bytes>>, String> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        match &self.tls {
            None => {
                let (send, conn) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                Ok(send)
            }
            Some(tls) => {
                let host = self
                    .authority
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let name =
                    rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
                let stream = tls.connect(name, stream).await.map_err(|e| e.to_string())?;
                let (send, conn) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                Ok(send)
            }
        }
    }

    /// POSTs a body to `path`; returns the status and body.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        self.post_with_headers(path, body, &[])
            .await
            .map(|(status, _, body)| (status, body))
    }

    /// POSTs with extra request headers; returns the status, response headers and body.
    pub async fn post_with_headers(
        &self,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, hyper::HeaderMap, Vec<u8>), String> {
        let mut guard = self.conn.lock().await;
        let reuse = guard.as_ref().is_some_and(|c| c.is_ready());
        if !reuse {
            *guard = Some(self.connect().await?);
        }
        let send = guard.as_mut().expect("connected");
        send.ready().await.map_err(|e| e.to_string())?;
        let mut req = hyper::Request::post(path)
            .header("Host", &self.authority)
            .header("Content-Type", "text/xml");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(Bytes::from(body))).expect("request");
        let result = async {
            let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((status, headers, body.to_vec()))
        }
        .await;
        if result.is_err() {
            *guard = None;
        }
        result
    }

    /// Calls a method with exactly these params.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Reply {
        let body = xmlrpc::encode_call(method, &params);
        let (status, body) = match self.post("/", body).await {
            Ok(r) => r,
            Err(e) => return Reply::Transport(e),
        };
        assert_eq!(
            status,
            200,
            "{method}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let response =
            xmlrpc::decode_response(&body, &xmlrpc::Limits::default()).expect("decodable response");
        let Response::Success(Value::Struct(st)) = response else {
            panic!("{method}: not a struct: {response:?}")
        };
        match st.get("Status").and_then(Value::as_str) {
            Some("Success") => Reply::Ok(st.get("Value").expect("Value member").clone()),
            Some("Failure") => {
                let desc = st
                    .get("ErrorDescription")
                    .and_then(Value::as_array)
                    .expect("ErrorDescription");
                Reply::Failure(
                    desc.iter()
                        .map(|v| v.as_str().expect("string").to_owned())
                        .collect(),
                )
            }
            other => panic!("{method}: Status {other:?}"),
        }
    }
}

/// The DER bytes of a PEM certificate.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    decode_base64(&b64)
}

fn decode_base64(s: &str) -> Vec<u8> {
    let table = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a' + 26),
            b'0'..=b'9' => u32::from(c - b'0' + 52),
            b'+' => 62,
            _ => 63,
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= table(c) << (18 - 6 * i);
        }
        let len = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + len]);
    }
    out
}

/// A logged-in session on one host.
pub struct Session {
    /// The endpoint.
    pub xapi: Xapi,
    /// The session ref.
    pub session: String,
}

impl Session {
    /// Logs in with the farm's credentials; the failure on refusal.
    pub async fn login(url: &str) -> Result<Session, Vec<String>> {
        Self::login_as(url, "root", "mock").await
    }

    /// Logs in with these credentials.
    pub async fn login_as(url: &str, user: &str, password: &str) -> Result<Session, Vec<String>> {
        let xapi = Xapi::new(url);
        match xapi
            .call(
                "session.login_with_password",
                vec![s(user), s(password), s("1.1"), s("tests")],
            )
            .await
        {
            Reply::Ok(v) => Ok(Session {
                xapi,
                session: v.as_str().expect("session ref").to_owned(),
            }),
            Reply::Failure(e) => Err(e),
            Reply::Transport(e) => panic!("login to {url}: {e}"),
        }
    }

    /// Logs in on a farm host by name.
    pub async fn on(farm: &Farm, host: &str) -> Session {
        Self::login(&farm.host_url(host))
            .await
            .unwrap_or_else(|e| panic!("login on {host}: {e:?}"))
    }

    /// Calls with the session prepended.
    pub async fn call(&self, method: &str, args: Vec<Value>) -> Reply {
        let mut params = vec![s(&self.session)];
        params.extend(args);
        self.xapi.call(method, params).await
    }

    /// Calls and expects success.
    pub async fn ok(&self, method: &str, args: Vec<Value>) -> Value {
        match self.call(method, args).await {
            Reply::Ok(v) => v,
            other => panic!("{method}: expected success, got {other:?}"),
        }
    }

    /// Calls and expects a failure; returns `[CODE, params…]`.
    pub async fn fails(&self, method: &str, args: Vec<Value>) -> Vec<String> {
        match self.call(method, args).await {
            Reply::Failure(e) => e,
            other => panic!("{method}: expected a failure, got {other:?}"),
        }
    }

    /// A string result.
    pub async fn ok_str(&self, method: &str, args: Vec<Value>) -> String {
        self.ok(method, args)
            .await
            .as_str()
            .expect("string result")
            .to_owned()
    }

    /// The ref of the `class` object named `name` (by name label).
    async fn by_name(&self, class: &str, name: &str) -> String {
        let v = self
            .ok(&format!("{class}.get_by_name_label"), vec![s(name)])
            .await;
        v.as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {class} named {name}"))
            .to_owned()
    }

    /// The ref of the host named `name`.
    pub async fn host_ref(&self, name: &str) -> String {
        self.by_name("host", name).await
    }

    /// The ref of the VM named `name`.
    pub async fn vm_ref(&self, name: &str) -> String {
        self.by_name("VM", name).await
    }

    /// A field of a record.
    pub async fn field(&self, class: &str, reference: &str, field: &str) -> Value {
        self.ok(&format!("{class}.get_{field}"), vec![s(reference)])
            .await
    }
}

/// Polls the farm state until `cond` holds (up to 10 s).
pub async fn wait_for(farm: &Farm, what: &str, cond: impl Fn(&FarmState) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = farm.state();
        if cond(&st) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; state: {st:#?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Retries an async probe until it returns `Some` (up to 10 s).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every host's `restarts` counter, by name.
pub fn restarts(farm: &Farm) -> std::collections::BTreeMap<String, u64> {
    farm.state()
        .hosts
        .iter()
        .map(|h| (h.name.clone(), h.restarts))
        .collect()
}

/// Waits until each of `hosts` restarted since `before` and every host is online and enabled.
pub async fn wait_restarted(
    farm: &Farm,
    before: &std::collections::BTreeMap<String, u64>,
    hosts: &[&str],
) {
    wait_for(
        farm,
        &format!("{hosts:?} restarted and every host back"),
        |st| {
            hosts
                .iter()
                .all(|n| st.host(n).is_some_and(|h| h.restarts > before[*n]))
                && st.hosts.iter().all(|h| h.online && h.enabled)
        },
    )
    .await;
}

/// Joins `joiner` to `master`'s pool and waits until the master lists it enabled.
pub async fn join(farm: &Farm, joiner: &str, master: &str) {
    let s_j = Session::on(farm, joiner).await;
    let addr = farm.host_address(master);
    s_j.ok("pool.join", vec![s(&addr), s("root"), s("mock")])
        .await;
    wait_for(
        farm,
        &format!("{joiner} enabled in {master}'s pool"),
        |st| {
            st.host(joiner).is_some_and(|h| {
                h.enabled && h.online && h.master_address.as_deref() == Some(addr.as_str())
            })
        },
    )
    .await;
}
