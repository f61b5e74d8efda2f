//! Microversions 2.1…2.104: request headers, response headers and the version documents.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::fault::Fault;

/// Highest minor version served (nova 34).
pub const MAX_MINOR: u32 = 104;

/// A negotiated compute API version `2.<minor>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32);

impl Version {
    /// Whether this is at least `2.<minor>`.
    pub fn at_least(self, minor: u32) -> bool {
        self.0 >= minor
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "2.{}", self.0)
    }
}

/// The version a request asks for: `OpenStack-API-Version: compute X` wins over
/// `X-OpenStack-Nova-API-Version: X`; none means 2.1; `latest` the maximum.
pub fn negotiate(headers: &HeaderMap) -> Result<Version, Fault> {
    let standard = headers
        .get_all("openstack-api-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|item| {
            let mut parts = item.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(s), Some(v)) if s.eq_ignore_ascii_case("compute") => Some(v.to_string()),
                _ => None,
            }
        });
    let legacy = headers
        .get("x-openstack-nova-api-version")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string());
    let Some(asked) = standard.or(legacy) else {
        return Ok(Version(1));
    };
    if asked.eq_ignore_ascii_case("latest") {
        return Ok(Version(MAX_MINOR));
    }
    let parsed = asked.split_once('.').and_then(|(maj, min)| {
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && (s == "0" || !s.starts_with('0'))
        };
        (ok(maj) && ok(min) && maj != "0")
            .then(|| (maj.parse::<u64>().ok(), min.parse::<u64>().ok()))
    });
    match parsed {
        Some((Some(2), Some(minor))) if (1..=u64::from(MAX_MINOR)).contains(&minor) => {
            Ok(Version(minor as u32))
        }
        Some(_) => Err(Fault::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {asked} is not supported by the API. Minimum is 2.1 and maximum is 2.{MAX_MINOR}."
            ),
        )),
        None => Err(Fault::bad_request(format!(
            "API Version String {asked} is of invalid format. Must be of format MajorNum.MinorNum."
        ))),
    }
}

/// Adds the version headers Nova sends on every answer.
pub fn stamp(headers: &mut HeaderMap, v: Version) {
    if let Ok(h) = HeaderValue::from_str(&format!("compute {v}")) {
        headers.insert("openstack-api-version", h);
    }
    if let Ok(h) = HeaderValue::from_str(&v.to_string()) {
        headers.insert("x-openstack-nova-api-version", h);
    }
    headers.insert(
        "vary",
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
}

fn v21(base: &str) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": format!("2.{MAX_MINOR}"),
        "min_version": "2.1",
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/v2.1/")}],
    })
}

/// `GET /`: the versions list (only v2.1: the legacy v2.0 endpoint is not served).
pub fn versions_document(base: &str) -> Value {
    json!({"versions": [v21(base)]})
}

/// `GET /v2.1`: the v2.1 version document.
pub fn version_document(base: &str) -> Value {
    let mut v = v21(base);
    v["links"] = json!([
        {"rel": "self", "href": format!("{base}/v2.1/")},
        {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}
    ]);
    v["media-types"] = json!([
        {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
    ]);
    json!({"version": v})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(headers: &[(&'static str, &'static str)]) -> Result<Version, Fault> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(*k, HeaderValue::from_static(v));
        }
        negotiate(&h)
    }

    #[test]
    fn headers_negotiate_as_nova_does() {
        assert_eq!(ask(&[]).unwrap(), Version(1));
        assert_eq!(
            ask(&[("x-openstack-nova-api-version", "2.41")]).unwrap(),
            Version(41)
        );
        let both = [
            ("openstack-api-version", "compute 2.53"),
            ("x-openstack-nova-api-version", "2.41"),
        ];
        assert_eq!(ask(&both).unwrap(), Version(53), "the standard header wins");
        assert_eq!(
            ask(&[("openstack-api-version", "volume 3.1")]).unwrap(),
            Version(1)
        );
        assert_eq!(
            ask(&[("openstack-api-version", "compute latest")]).unwrap(),
            Version(104)
        );
        assert_eq!(
            ask(&[("openstack-api-version", "compute 2.0")])
                .unwrap_err()
                .status,
            406
        );
        assert_eq!(
            ask(&[("openstack-api-version", "compute 2.01")])
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            ask(&[("openstack-api-version", "compute 3.1")])
                .unwrap_err()
                .status,
            406
        );
    }
}
