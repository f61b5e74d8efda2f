//! XenAPI over wiremock: XML-RPC envelopes as response templates and a matcher that decodes
//! the request, so tests can script a XAPI server call by call.

use std::time::Duration;

use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};
use xenpool::xenapi::{parse_url, Client, ClientOptions, Credentials, Session};
use xenpool_xmlrpc::{self as xmlrpc, Limits, Struct, Value};

/// The password every test logs in with; asserted absent from every output.
pub const PASSWORD: &str = "pw-Sekr1t-never-printed";

/// Test credentials.
pub fn credentials() -> Credentials {
    Credentials::new("root", PASSWORD)
}

/// Client options with short timeouts for tests.
pub fn options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(2),
        call_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

/// A client with [`options`].
pub fn client() -> Client {
    Client::new(options()).unwrap()
}

/// The server's URL (with a trailing `/`).
pub fn url_of(server: &MockServer) -> url::Url {
    parse_url(&format!("{}/", server.uri())).unwrap()
}

/// Logs in to `server` (which must answer the login).
pub async fn login(server: &MockServer) -> Session {
    Session::login_with_password(client(), url_of(server), credentials())
        .await
        .unwrap()
}

/// `{Status: Success, Value: value}` as an HTTP 200 XML-RPC response.
pub fn success(value: impl Into<Value>) -> ResponseTemplate {
    let mut envelope = Struct::new();
    envelope.insert("Status", "Success");
    envelope.insert("Value", value.into());
    xml(xmlrpc::encode_response(&Value::Struct(envelope)))
}

/// `{Status: Failure, ErrorDescription: [code, params…]}`.
pub fn failure(code: &str, params: &[&str]) -> ResponseTemplate {
    let mut description = vec![Value::from(code)];
    description.extend(params.iter().map(|p| Value::from(*p)));
    let mut envelope = Struct::new();
    envelope.insert("Status", "Failure");
    envelope.insert("ErrorDescription", Value::Array(description));
    xml(xmlrpc::encode_response(&Value::Struct(envelope)))
}

/// A 200 response with this XML body.
pub fn xml(body: impl Into<Vec<u8>>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "text/xml")
}

/// Matches an XML-RPC call by method name and, optionally, by leading parameters.
pub struct Call {
    method: String,
    leading: Vec<Value>,
}

/// A matcher for calls of `method`.
pub fn call(method: &str) -> Call {
    Call {
        method: method.to_owned(),
        leading: Vec::new(),
    }
}

impl Call {
    /// Also requires these first parameters (e.g. the session ref).
    pub fn with_params(mut self, leading: impl IntoIterator<Item = Value>) -> Self {
        self.leading = leading.into_iter().collect();
        self
    }
}

impl Match for Call {
    fn matches(&self, request: &Request) -> bool {
        let Ok(decoded) = xmlrpc::decode_call(&request.body, &Limits::default()) else {
            return false;
        };
        decoded.name == self.method
            && decoded.params.len() >= self.leading.len()
            && decoded.params[..self.leading.len()] == self.leading[..]
    }
}

/// Mounts a login that answers `session_ref`.
pub async fn mount_login(server: &MockServer, session_ref: &str) {
    Mock::given(call("session.login_with_password"))
        .respond_with(success(session_ref))
        .mount(server)
        .await;
}

/// The decoded calls `server` received, in order.
pub async fn received_calls(server: &MockServer) -> Vec<xmlrpc::MethodCall> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| xmlrpc::decode_call(&r.body, &Limits::default()).unwrap())
        .collect()
}

/// How many calls of `method` `server` received.
pub async fn count_calls(server: &MockServer, method: &str) -> usize {
    received_calls(server)
        .await
        .iter()
        .filter(|c| c.name == method)
        .count()
}

/// An array of strings (ref sets) as a value.
pub fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|i| Value::from(*i)).collect())
}

/// Mounts a login refused with `SESSION_AUTHENTICATION_FAILED` whose message echoes the
/// password, as a careless server might: nothing may print it back.
pub async fn mount_login_refused_echoing_password(server: &MockServer) {
    Mock::given(call("session.login_with_password"))
        .respond_with(failure(
            "SESSION_AUTHENTICATION_FAILED",
            &["root", &format!("Authentication failure ({PASSWORD})")],
        ))
        .mount(server)
        .await;
}

/// Mounts `HOST_IS_SLAVE [master]` as the answer to every login.
pub async fn mount_login_redirect(server: &MockServer, master: &str) {
    Mock::given(call("session.login_with_password"))
        .respond_with(failure("HOST_IS_SLAVE", &[master]))
        .mount(server)
        .await;
}

/// A loopback port nothing listens on (bound, then released).
pub fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Mounts a login answering `session_ref` and a logout of exactly that session, expected once.
pub async fn mount_session(server: &MockServer, session_ref: &str) {
    mount_login(server, session_ref).await;
    Mock::given(call("session.logout").with_params([Value::from(session_ref)]))
        .respond_with(success(""))
        .expect(1)
        .mount(server)
        .await;
}

/// The first call of `method` that `server` received (panics, naming it, if none).
pub async fn received_call(server: &MockServer, method: &str) -> xmlrpc::MethodCall {
    received_calls(server)
        .await
        .into_iter()
        .find(|c| c.name == method)
        .unwrap_or_else(|| panic!("the server received no {method} call"))
}
