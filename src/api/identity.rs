//! Reading the caller's token from `X-Auth-Token` or `Authorization: Bearer`.

use axum::http::HeaderMap;

use crate::auth::{Identity, Tokens};

/// The token a request carries, if any.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    if let Some(t) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return Some(t.trim());
    }
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
}

/// Who the request comes from, if its token is known.
pub fn identify(tokens: &Tokens, headers: &HeaderMap) -> Option<Identity> {
    token(headers).and_then(|t| tokens.lookup(t))
}
