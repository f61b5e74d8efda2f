//! One XAPI endpoint's request path: HTTP POST on `/` or `/RPC2` → decode → count → method
//! lookup and arity → faults → session and role checks → the class handler → the
//! `{Status, Value | ErrorDescription}` envelope in XAPI's form.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method as HttpMethod, Request, Response, StatusCode};
use xenpool_xapi_types::ErrorCode;
use xenpool_xmlrpc::{self as xmlrpc, Struct, Value};

use crate::call::Call;
use crate::faults::{FaultKind, Phase};
use crate::lifecycle;
use crate::methods::{self, Method};
use crate::shared::Shared;
use crate::state::{HostId, XapiError};
use crate::task;

/// The connection must be closed without an answer (an injected drop or crash).
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// What a call ends in.
pub enum Outcome {
    /// `Status: Success`.
    Value(Value),
    /// `Status: Failure`.
    Error(XapiError),
    /// Close the connection.
    Drop,
}

/// Serves one HTTP request to host `h`.
pub async fn handle(
    shared: Arc<Shared>,
    h: HostId,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let path = req.uri().path().to_owned();
    let wants_thumbprint = req
        .headers()
        .get(THUMBPRINT_REQUEST)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"sha-256:master"));
    if req.method() == HttpMethod::OPTIONS && path == "/" {
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header("Access-Control-Allow-Origin", "*")
            .header("Access-Control-Allow-Headers", "X-Requested-With")
            .body(Full::new(Bytes::new()))
            .expect("static response"));
    }
    if path != "/" && path != "/RPC2" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            format!("{path} not found: XML-RPC is on / and /RPC2"),
        ));
    }
    if req.method() != HttpMethod::POST {
        return Ok(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "XML-RPC needs POST".into(),
        ));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let call = match xmlrpc::decode_call(&body, &xmlrpc::Limits::default()) {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("<html><body><h1>HTTP 500 internal server error</h1>Xmlrpc.Parse_error: {e}</body></html>");
            return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, msg));
        }
    };
    let shared_for_header = shared.clone();
    let method = call.name.clone();
    let outcome = dispatch(shared, h, call.name, call.params).await;
    if tracing::enabled!(tracing::Level::DEBUG) {
        let host = shared_for_header.lock().hosts[h].name.clone();
        let answer = match &outcome {
            Outcome::Value(_) => "Success".to_owned(),
            Outcome::Error(e) => e.code.to_string(),
            Outcome::Drop => "dropped".to_owned(),
        };
        tracing::debug!(host = %host, method = %method, answer = %answer, "call");
    }
    match outcome {
        Outcome::Value(v) => Ok(envelope(success(v))),
        Outcome::Error(e) => {
            let mut resp = envelope(failure(&e));
            if wants_thumbprint && e.code == ErrorCode::HOST_IS_SLAVE {
                if let Some(tp) = master_thumbprint(&shared_for_header, &e) {
                    if let Ok(v) = hyper::header::HeaderValue::from_str(&tp) {
                        resp.headers_mut().insert(THUMBPRINT_RESPONSE, v);
                    }
                }
            }
            Ok(resp)
        }
        Outcome::Drop => Err(Dropped),
    }
}

/// Request header asking a supporter for its master's certificate thumbprint (§1.5).
pub const THUMBPRINT_REQUEST: &str = "x-xenapi-request-host-certificate-thumbprint";
/// Response header carrying it, on `HOST_IS_SLAVE` answers.
pub const THUMBPRINT_RESPONSE: &str = "x-xenapi-response-host-certificate-thumbprint";

/// The XAPI-style SHA-256 thumbprint of the master a `HOST_IS_SLAVE` names (with TLS).
fn master_thumbprint(shared: &Shared, e: &XapiError) -> Option<String> {
    let master = shared.lock().host_by_address(e.params.first()?)?;
    shared.thumbprints.get(master)?.clone()
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "text/html")
        .body(Full::new(Bytes::from(body)))
        .expect("static response")
}

fn envelope(v: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "text/xml")
        .body(Full::new(Bytes::from(xmlrpc::encode_response(&v))))
        .expect("static response")
}

/// `{Status: Success, Value: v}`.
pub fn success(v: Value) -> Value {
    let mut s = Struct::new();
    s.insert("Status", "Success");
    s.insert("Value", v);
    Value::Struct(s)
}

/// `{Status: Failure, ErrorDescription: [CODE, params…]}`.
pub fn failure(e: &XapiError) -> Value {
    let mut s = Struct::new();
    s.insert("Status", "Failure");
    s.insert(
        "ErrorDescription",
        Value::Array(e.description().into_iter().map(Value::String).collect()),
    );
    Value::Struct(s)
}

/// Runs a decoded call on host `h` through counting, faults, checks and the handler.
pub async fn dispatch(shared: Arc<Shared>, h: HostId, name: String, params: Vec<Value>) -> Outcome {
    shared.lock().count_call(h, &name);
    let (method, is_async) = match methods::lookup(&shared, &name) {
        Some(found) => found,
        None => return Outcome::Error(XapiError::new(ErrorCode::MESSAGE_METHOD_UNKNOWN, [name])),
    };
    let session_params = usize::from(method.need.takes_session());
    let given = params.len().saturating_sub(session_params);
    let too_few = params.len() < method.required + session_params;
    let max = method.required + method.optional(&shared, h);
    if too_few || given > max {
        let expected = if too_few { method.required } else { max };
        return Outcome::Error(XapiError::new(
            ErrorCode::MESSAGE_PARAMETER_COUNT_MISMATCH,
            [name.clone(), expected.to_string(), given.to_string()],
        ));
    }
    let after = match apply_faults(&shared, h, &name, Phase::Before).await {
        Err(outcome) => return outcome,
        Ok(after) => after,
    };
    let epoch = shared.lock().hosts[h].epoch;
    let outcome = run(shared.clone(), h, &name, method, is_async, params).await;
    if shared.lock().hosts[h].epoch != epoch {
        return Outcome::Drop; // XAPI crashed or restarted while the call ran: no reply
    }
    if after {
        if let Err(outcome) = apply_faults(&shared, h, &name, Phase::After).await {
            return outcome;
        }
    }
    outcome
}

async fn run(
    shared: Arc<Shared>,
    h: HostId,
    name: &str,
    method: &'static Method,
    is_async: bool,
    mut params: Vec<Value>,
) -> Outcome {
    let session = method.need.takes_session().then(|| params.remove(0));
    let bare = name.strip_prefix("Async.").unwrap_or(name);
    let call = match Call::authorize(shared, h, bare, method, session, params) {
        Ok(call) => call,
        Err(e) => return Outcome::Error(e),
    };
    if is_async {
        return match task::spawn_async(call, name, method.handler) {
            Ok(task_ref) => Outcome::Value(Value::String(task_ref)),
            Err(e) => Outcome::Error(e),
        };
    }
    // The body runs on its own task: a connection dropped mid-call (crash, client gone) must not
    // cancel it half-way, or a migration's reservation or a pool operation would stay behind.
    match tokio::spawn((method.handler)(call)).await {
        Ok(Ok(v)) => Outcome::Value(v),
        Ok(Err(e)) => Outcome::Error(e),
        Err(join) => Outcome::Error(XapiError::new(
            ErrorCode::INTERNAL_ERROR,
            [join.to_string()],
        )),
    }
}

/// Applies the faults matching this call in `phase`. `Ok(true)`: some fault waits for the
/// after phase; `Err(outcome)`: the call ends here.
async fn apply_faults(
    shared: &Arc<Shared>,
    h: HostId,
    name: &str,
    phase: Phase,
) -> Result<bool, Outcome> {
    let mut latency = Duration::ZERO;
    let mut after = false;
    let mut end: Option<Outcome> = None;
    let mut crash = false;
    {
        let mut db = shared.lock();
        let host = db.hosts[h].name.clone();
        for f in db.faults.iter_mut() {
            let kind = f.fault.kind;
            if matches!(kind, FaultKind::Offline | FaultKind::FreezeJoin)
                || !f.fault.matches(&host, name)
            {
                continue;
            }
            if kind == FaultKind::Latency {
                if phase == Phase::Before && f.consume() {
                    latency += Duration::from_millis(f.fault.latency_ms.unwrap_or(0));
                }
                continue;
            }
            if f.fault.phase != phase {
                after |= f.fault.phase == Phase::After;
                continue;
            }
            if end.is_some() || !f.consume() {
                continue;
            }
            end = Some(match kind {
                FaultKind::Fail => {
                    let desc = f.fault.error.clone().unwrap_or_default();
                    Outcome::Error(XapiError::from_description(&desc).unwrap_or_else(|| {
                        XapiError::new(ErrorCode::INTERNAL_ERROR, ["injected failure"])
                    }))
                }
                FaultKind::Crash => {
                    crash = true;
                    Outcome::Drop
                }
                _ => Outcome::Drop,
            });
        }
        db.faults.retain(|f| !f.spent());
        if crash {
            tracing::info!(host = %host, method = name, "injected crash: XAPI restarts");
        }
    }
    if crash {
        lifecycle::crash(shared, h);
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match end {
        Some(outcome) => Err(outcome),
        None => Ok(after),
    }
}
