//! Appendix A of the Nova contract replayed as test vectors: every observed request, in the
//! observed order, on a fresh server per run, checking status, fault name and message, content
//! type and the microversion and request-id headers. The few rows where xenpool deliberately
//! answers otherwise carry their own expectation and reason in the data file (`xenpool`).

use serde::Deserialize;

use crate::both;
use crate::support::server::{Db, Reply, TestServer, ADMIN, MEMBER};

#[derive(Debug, Deserialize)]
struct Override {
    skip: Option<String>,
    status: Option<u16>,
    kind: Option<String>,
    fault: Option<String>,
    message: Option<String>,
    #[allow(dead_code)]
    why: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Vector {
    run: String,
    label: String,
    method: String,
    path: String,
    content_type: Option<String>,
    token: String,
    mv: String,
    body_kind: String,
    body: String,
    status: u16,
    kind: String,
    fault: Option<String>,
    message: Option<String>,
    message_prefix: bool,
    xenpool: Option<Override>,
}

fn vectors(run: &str) -> Vec<Vector> {
    let all: Vec<Vector> =
        serde_json::from_str(include_str!("data/nova_appendix_a.json")).expect("vector file");
    all.into_iter().filter(|v| v.run == run).collect()
}

fn expected_version(mv: &str) -> String {
    match mv {
        "-" | "abc" | "2.999" => "2.1".to_string(),
        "latest" => "2.104".to_string(),
        v => v.to_string(),
    }
}

fn minor(mv: &str) -> u32 {
    match mv {
        "latest" => 104,
        v => v
            .strip_prefix("2.")
            .and_then(|m| m.parse().ok())
            .unwrap_or(1),
    }
}

async fn send(srv: &TestServer, v: &Vector, path: &str) -> Reply {
    let token = if v.token == "member" { MEMBER } else { ADMIN };
    let mv = format!("compute {}", v.mv);
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if v.mv != "-" {
        headers.push(("OpenStack-API-Version", &mv));
    }
    if let Some(ct) = &v.content_type {
        headers.push(("Content-Type", ct));
    }
    let body = match v.body_kind.as_str() {
        "none" => None,
        _ => Some(v.body.as_str()),
    };
    srv.call(
        &v.method,
        &format!("/v2.1{path}"),
        Some(token),
        &headers,
        body,
    )
    .await
}

fn check(v: &Vector, r: &Reply) -> Vec<String> {
    let o = v.xenpool.as_ref();
    let status = o.and_then(|o| o.status).unwrap_or(v.status);
    let kind = o.and_then(|o| o.kind.clone()).unwrap_or(v.kind.clone());
    let fault = o.and_then(|o| o.fault.clone()).or(v.fault.clone());
    let message = o.and_then(|o| o.message.clone()).or(v.message.clone());
    let mut errs = Vec::new();
    if r.status != status {
        errs.push(format!("status {} (want {status}): {}", r.status, r.text));
        return errs;
    }
    let ct = r.header("content-type").unwrap_or("");
    match kind.as_str() {
        "html" => {
            if ct != "text/html; charset=UTF-8" || !r.text.contains("404 Not Found") {
                errs.push(format!("want webob's HTML 404, got {ct}: {}", r.text));
            }
            return errs;
        }
        "fault" => {
            if ct != "application/json; charset=UTF-8" {
                errs.push(format!("fault content-type {ct}"));
            }
            let body = r.json();
            let fault = fault.unwrap_or_default();
            let inner = &body[&fault];
            if inner["code"] != status {
                errs.push(format!("want fault {fault} code {status}, got {body}"));
            }
            let got = inner["message"].as_str().unwrap_or_default();
            let want = message.unwrap_or_default();
            let ok = if v.message_prefix {
                got.starts_with(&want)
            } else {
                got == want
            };
            if !ok {
                errs.push(format!("message\n  got:  {got}\n  want: {want}"));
            }
        }
        "empty" => {
            if !r.text.is_empty() || ct != "application/json" {
                errs.push(format!("want an empty JSON body, got {ct}: {:?}", r.text));
            }
        }
        _ => {
            if ct != "application/json" {
                errs.push(format!("content-type {ct}"));
            }
            let body = r.json();
            if let Some(agg) = body.get("aggregate") {
                let has_uuid = agg.get("uuid").is_some();
                if has_uuid != (minor(&v.mv) >= 41) {
                    errs.push(format!("uuid presence wrong at {}: {agg}", v.mv));
                }
                let is_create = v.method == "POST" && v.path == "/os-aggregates";
                if is_create == agg.get("hosts").is_some() {
                    errs.push(format!("hosts/metadata presence wrong: {agg}"));
                }
            }
        }
    }
    let want = expected_version(&v.mv);
    if r.header("x-openstack-nova-api-version") != Some(want.as_str())
        || r.header("openstack-api-version") != Some(format!("compute {want}").as_str())
        || r.header("vary") != Some("OpenStack-API-Version, X-OpenStack-Nova-API-Version")
    {
        errs.push(format!("version headers wrong: {:?}", r.headers));
    }
    if !r
        .header("x-openstack-request-id")
        .is_some_and(|id| id.starts_with("req-"))
    {
        errs.push("no x-openstack-request-id".into());
    }
    errs
}

async fn replay(db: Db, run: &str, computes: &[&str]) {
    let srv = TestServer::start(db).await;
    srv.register_hosts(computes).await;
    let mut failures = Vec::new();
    let mut sent = 0;
    for v in vectors(run) {
        if v.xenpool.as_ref().is_some_and(|o| o.skip.is_some()) {
            continue;
        }
        let mut path = v.path.clone();
        if let Some(rest) = path.strip_prefix("/os-services/{service_uuid:") {
            let host = rest.trim_end_matches('}');
            let h = srv.v1("GET", &format!("/hosts/{host}"), ADMIN, None).await;
            path = format!(
                "/os-services/{}",
                h.json()["service_uuid"].as_str().unwrap()
            );
        }
        let r = send(&srv, &v, &path).await;
        sent += 1;
        for e in check(&v, &r) {
            failures.push(format!("{}: {e}", v.label));
        }
    }
    assert!(sent > 0, "no vectors for run {run}");
    srv.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const COMPUTES: [&str; 4] = ["compute", "compute2", "compute3", "compute4"];

both!(appendix_a_probe, |db| async move {
    replay(db, "probe", &COMPUTES).await
});
both!(appendix_a_second_run, |db| async move {
    replay(db, "p2", &COMPUTES).await
});
both!(appendix_a_content_types, |db| async move {
    replay(db, "p4", &[]).await
});
