//! Nova's fault envelope: `{"<faultName>": {"code": N, "message": "…"}}`, and webob's HTML 404.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// An error answer on the Nova surface.
#[derive(Debug)]
pub struct Fault {
    /// HTTP status.
    pub status: StatusCode,
    /// The message, exactly as Nova words it.
    pub message: String,
}

impl Fault {
    /// A fault with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Fault {
        Fault {
            status,
            message: message.into(),
        }
    }

    /// 400 badRequest.
    pub fn bad_request(message: impl Into<String>) -> Fault {
        Fault::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 itemNotFound.
    pub fn not_found(message: impl Into<String>) -> Fault {
        Fault::new(StatusCode::NOT_FOUND, message)
    }

    /// 409 conflictingRequest.
    pub fn conflict(message: impl Into<String>) -> Fault {
        Fault::new(StatusCode::CONFLICT, message)
    }

    /// 403 for a policy rule.
    pub fn policy(rule: &str) -> Fault {
        Fault::new(
            StatusCode::FORBIDDEN,
            format!("Policy doesn't allow {rule} to be performed."),
        )
    }

    /// The version gate's 404.
    pub fn no_resource() -> Fault {
        Fault::not_found("The resource could not be found.")
    }

    /// A store failure Nova would report as a 500.
    pub fn internal(e: &StoreError, request_id: &str) -> Fault {
        tracing::error!(error = %e, source = ?std::error::Error::source(e), request_id, "store failure");
        Fault::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and \
                 attach the Nova API log if possible.\n<class 'xenpool.StoreError'> (request {request_id})"
            ),
        )
    }
}

fn fault_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            fault_name(self.status): {"code": self.status.as_u16(), "message": self.message}
        });
        let mut r = (self.status, body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        r
    }
}

/// Keystone middleware's answer to a missing or unknown token.
pub fn unauthorized(host: &str) -> Response {
    let body = serde_json::json!({"error": {"code": 401, "title": "Unauthorized",
        "message": "The request you have made requires authentication."}});
    let mut r = (StatusCode::UNAUTHORIZED, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"http://{host}\"")) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// webob's HTML 404 for a route or method Nova does not have.
pub fn html_not_found() -> Response {
    let body = "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  \
                <h1>404 Not Found</h1>\n  The resource could not be found.<br /><br />\n\n\n\n \
                </body>\n</html>";
    let mut r = (StatusCode::NOT_FOUND, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}
