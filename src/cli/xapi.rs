//! `xenpool xapi … call CLASS.METHOD [ARG…]`: a small `xe` for operators and scripts. Logs in,
//! calls the method with the session prepended, logs out and prints the result as JSON.
//! Exit codes: 0 done, 2 usage (bad flags, unreadable password or CA file), 3 XAPI refused
//! (`CODE: param, param…` on stderr), 4 transport, TLS, timeout or malformed answer.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use clap::{ArgGroup, Args, Subcommand};
use url::Url;

use crate::xenapi::{
    parse_url, Client, ClientOptions, Credentials, Fingerprint, Session, TlsTrust, Value,
    XenApiError,
};

/// Connection flags of `xenpool xapi` and the action to run.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("password").required(true).args(["password_file", "password_env"])))]
pub struct XapiArgs {
    /// XenAPI URL, e.g. `https://10.0.0.1/` (`http://` only for plain HTTP).
    #[arg(long, value_parser = parse_url_arg)]
    url: Url,
    /// XenAPI user name, e.g. `root`.
    #[arg(long)]
    username: String,
    /// File holding the password (one trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Trust only the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE", conflicts_with = "fingerprint")]
    ca_file: Option<PathBuf>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint (`sha256:AB:CD:…` or hex).
    #[arg(long, value_name = "FP")]
    fingerprint: Option<Fingerprint>,
    /// Seconds allowed for each call (the connect timeout is the smaller of this and 10 s).
    #[arg(long, value_name = "S", default_value = "60", value_parser = parse_seconds)]
    timeout: Duration,
    #[command(subcommand)]
    action: XapiAction,
}

/// What `xenpool xapi` does once connected.
#[derive(Debug, Subcommand)]
enum XapiAction {
    /// Call CLASS.METHOD (session added for you); each ARG is JSON, or else a plain string.
    Call {
        /// The XenAPI method, e.g. `host.get_all_records` or `Async.VM.pool_migrate`.
        method: String,
        /// Arguments after the session: `'"OpaqueRef:…"'`, `'{"live":"true"}'`, `true`, or plain text.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn parse_url_arg(s: &str) -> Result<Url, String> {
    parse_url(s).map_err(|e| e.to_string())
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!(
            "timeout must be a positive number of seconds, got {s}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Runs `xenpool xapi` and maps the outcome to the documented exit codes.
pub fn run(args: XapiArgs) -> ExitCode {
    init_logging();
    let password = match read_password(&args) {
        Ok(p) => p,
        Err(message) => return usage_error(&message),
    };
    let options = ClientOptions {
        trust: match (&args.ca_file, &args.fingerprint) {
            (Some(path), _) => TlsTrust::CaFile(path.clone()),
            (None, Some(fp)) => TlsTrust::Pinned(*fp),
            (None, None) => TlsTrust::WebPkiRoots,
        },
        connect_timeout: args.timeout.min(Duration::from_secs(10)),
        call_timeout: args.timeout,
        ..ClientOptions::default()
    };
    let client = match Client::new(options) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.to_string()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xenpool xapi: cannot start the async runtime: {e}");
            return ExitCode::from(4);
        }
    };
    let XapiAction::Call { method, args: raw } = &args.action;
    let params = raw.iter().map(|a| arg_value(a)).collect();
    let credentials = Credentials::new(args.username.clone(), password);
    let outcome = runtime.block_on(login_call_logout(
        client,
        args.url.clone(),
        credentials,
        method,
        params,
    ));
    match outcome {
        Ok(value) => {
            match serde_json::to_string_pretty(&to_json(&value)) {
                Ok(text) => println!("{text}"),
                Err(e) => {
                    eprintln!("xenpool xapi: cannot render the result as JSON: {e}");
                    return ExitCode::from(4);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => report(&e),
    }
}

async fn login_call_logout(
    client: Client,
    url: Url,
    credentials: Credentials,
    method: &str,
    params: Vec<Value>,
) -> Result<Value, XenApiError> {
    let session = Session::login_with_password(client, url, credentials).await?;
    let result = session.call(method, params).await;
    if let Err(e) = session.logout().await {
        eprintln!("xenpool xapi: warning: logout failed: {e}");
    }
    result
}

/// Prints the error in the documented form and returns its exit code.
fn report(e: &XenApiError) -> ExitCode {
    match e {
        XenApiError::Xapi { code, params, .. } => {
            if params.is_empty() {
                eprintln!("{code}");
            } else {
                eprintln!("{code}: {}", params.join(", "));
            }
            ExitCode::from(3)
        }
        XenApiError::Config(_) => usage_error(&e.to_string()),
        other => {
            eprintln!("xenpool xapi: {other}");
            ExitCode::from(4)
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("xenpool xapi: {message}");
    ExitCode::from(2)
}

/// Reads the password from the file or environment variable named on the command line.
fn read_password(args: &XapiArgs) -> Result<String, String> {
    let password = if let Some(path) = &args.password_file {
        let mut text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read password file {}: {e}", path.display()))?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        text
    } else if let Some(var) = &args.password_env {
        std::env::var(var).map_err(|e| format!("password environment variable {var}: {e}"))?
    } else {
        return Err("pass --password-file FILE or --password-env VAR".into());
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(password)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A subscriber may already be installed by an embedding program; keep that one then.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}

/// A command-line argument as an XML-RPC value: JSON if it parses, else a plain string.
fn arg_value(arg: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(arg) {
        Ok(json) => from_json(&json),
        Err(_) => Value::from(arg),
    }
}

fn from_json(json: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match json {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => match i32::try_from(i) {
                Ok(small) => Value::Int(small),
                Err(_) => Value::I8(i),
            },
            (None, Some(f)) => Value::Double(f),
            // A u64 beyond i64: XAPI takes int64 as decimal strings, so send it as one.
            (None, None) => Value::String(n.to_string()),
        },
        J::String(s) => Value::String(s.clone()),
        J::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        J::Object(members) => Value::Struct(
            members
                .iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect(),
        ),
    }
}

/// An XML-RPC value as JSON: structs → objects, arrays → arrays, strings stay strings,
/// dateTime → its XML-RPC text, base64 → a base64 string, nil → null.
fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Int(i) => J::from(*i),
        Value::I8(i) => J::from(*i),
        Value::Bool(b) => J::Bool(*b),
        Value::String(s) => J::String(s.clone()),
        Value::Double(d) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| J::String(d.to_string())),
        Value::DateTime(dt) => J::String(dt.to_string()),
        Value::Base64(bytes) => J::String(BASE64_STANDARD.encode(bytes)),
        Value::Struct(members) => J::Object(
            members
                .iter()
                .map(|(k, v)| (k.to_owned(), to_json(v)))
                .collect(),
        ),
        Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Nil => J::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xenpool_xmlrpc::Struct;

    #[test]
    fn arguments_are_json_or_plain_strings() {
        assert_eq!(arg_value(r#""OpaqueRef:1""#), Value::from("OpaqueRef:1"));
        assert_eq!(arg_value("OpaqueRef:1"), Value::from("OpaqueRef:1"));
        assert_eq!(arg_value("true"), Value::Bool(true));
        assert_eq!(arg_value("42"), Value::Int(42));
        assert_eq!(arg_value("8589934592"), Value::I8(8_589_934_592));
        assert_eq!(arg_value("-1.5"), Value::Double(-1.5));
        let mut s = Struct::new();
        s.insert("live", "true");
        assert_eq!(arg_value(r#"{"live":"true"}"#), Value::Struct(s));
        assert_eq!(
            arg_value(r#"["a", 1]"#),
            Value::Array(vec![Value::from("a"), Value::Int(1)])
        );
        assert_eq!(arg_value("{not json"), Value::from("{not json"));
    }

    #[test]
    fn results_render_as_json() {
        let mut s = Struct::new();
        s.insert("name_label", "h1");
        s.insert("blob", Value::Base64(b"hi".to_vec()));
        s.insert("n", Value::I8(1 << 40));
        let json = to_json(&Value::Array(vec![Value::Struct(s), Value::Nil]));
        assert_eq!(
            json,
            serde_json::json!([{"name_label": "h1", "blob": "aGk=", "n": 1_u64 << 40}, null])
        );
        assert_eq!(to_json(&Value::Double(f64::NAN)), serde_json::json!("NaN"));
    }

    #[test]
    fn timeouts_must_be_positive_seconds() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("soon").is_err());
    }
}
