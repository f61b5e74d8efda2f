//! `Async.*` calls and waiting for their tasks: by `event.from`, by polling when events fail,
//! success results decoded from the task's XML-RPC text, failures as typed errors.

use std::time::Duration;

use wiremock::{Mock, MockServer};
use xenpool::xenapi::{ErrorCode, Ref, Session, Task, Value, WaitOptions, XenApiError};
use xenpool_xmlrpc::Struct;

use crate::support::xapi_mock::{call, count_calls, failure, login, mount_login, strings, success};

const SESSION: &str = "OpaqueRef:s1";
const TASK: &str = "OpaqueRef:task1";

fn task_record(status: &str, result: &str, error_info: &[&str]) -> Value {
    let mut t = Struct::new();
    t.insert("uuid", "task-uuid");
    t.insert("name_label", "Async.VM.pool_migrate");
    t.insert("status", status);
    t.insert(
        "progress",
        Value::Double(if status == "pending" { 0.5 } else { 1.0 }),
    );
    t.insert("result", result);
    t.insert("error_info", strings(error_info));
    t.insert("other_config", Struct::new());
    Value::Struct(t)
}

fn event_batch(snapshot: Value, token: &str) -> Value {
    let mut ev = Struct::new();
    ev.insert("id", "17");
    ev.insert("timestamp", "1733040000.0");
    ev.insert("class", "task");
    ev.insert("operation", "mod");
    ev.insert("ref", TASK);
    ev.insert("snapshot", snapshot);
    let mut counts = Struct::new();
    counts.insert("task", 1);
    let mut batch = Struct::new();
    batch.insert("events", Value::Array(vec![Value::Struct(ev)]));
    batch.insert("valid_ref_counts", counts);
    batch.insert("token", token);
    Value::Struct(batch)
}

fn event_from(token: &str) -> crate::support::xapi_mock::Call {
    call("event.from").with_params([
        Value::from(SESSION),
        Value::Array(vec![Value::from(format!("task/{TASK}"))]),
        Value::from(token),
    ])
}

async fn server_with_async_migrate() -> MockServer {
    let server = MockServer::start().await;
    mount_login(&server, SESSION).await;
    Mock::given(call("Async.VM.pool_migrate").with_params([Value::from(SESSION)]))
        .respond_with(success(TASK))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(call("task.destroy"))
        .respond_with(success(""))
        .mount(&server)
        .await;
    server
}

/// A server without `event.from` (as an old or partial implementation would be).
async fn mount_events_unavailable(server: &MockServer) {
    Mock::given(call("event.from"))
        .respond_with(failure("MESSAGE_METHOD_UNKNOWN", &["event.from"]))
        .mount(server)
        .await;
}

async fn start_migration(session: &Session) -> Task {
    session
        .vm_pool_migrate_async(
            &Ref::from("OpaqueRef:vm1"),
            &Ref::from("OpaqueRef:h2"),
            &Default::default(),
        )
        .await
        .unwrap()
}

/// Logs in, starts the migration and returns the error its task ends with.
async fn migration_error(server: &MockServer) -> XenApiError {
    let session = login(server).await;
    let task = start_migration(&session).await;
    session
        .wait_task(&task, Duration::from_secs(10))
        .await
        .unwrap_err()
}

fn quick(timeout: Duration) -> WaitOptions {
    WaitOptions {
        poll_interval: Duration::from_millis(20),
        max_poll_interval: Duration::from_millis(50),
        ..WaitOptions::within(timeout)
    }
}

#[tokio::test]
async fn async_tasks_are_waited_for_by_events_and_their_result_decoded() {
    let server = server_with_async_migrate().await;
    Mock::given(event_from(""))
        .respond_with(success(event_batch(task_record("pending", "", &[]), "t1")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(event_from("t1"))
        .respond_with(success(event_batch(
            task_record("success", "<value>OpaqueRef:result</value>", &[]),
            "t2",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let session = login(&server).await;
    let task = start_migration(&session).await;
    assert_eq!(task.reference, Ref::from(TASK));
    assert_eq!(task.method, "Async.VM.pool_migrate");
    let result: Ref = session
        .wait_task_as(&task, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(result, Ref::from("OpaqueRef:result"));
    assert_eq!(count_calls(&server, "task.get_record").await, 0);
    assert_eq!(count_calls(&server, "task.destroy").await, 1);
}

#[tokio::test]
async fn a_failed_task_is_the_calls_own_typed_error() {
    let server = server_with_async_migrate().await;
    Mock::given(event_from(""))
        .respond_with(success(event_batch(
            task_record(
                "failure",
                "",
                &["VM_REQUIRES_SR", "OpaqueRef:vm1", "OpaqueRef:sr-local"],
            ),
            "t1",
        )))
        .mount(&server)
        .await;

    let err = migration_error(&server).await;
    match &err {
        XenApiError::Xapi {
            method,
            code,
            params,
            ..
        } => {
            assert_eq!(method, "Async.VM.pool_migrate");
            assert_eq!(code, &ErrorCode::VM_REQUIRES_SR);
            assert_eq!(params, &["OpaqueRef:vm1", "OpaqueRef:sr-local"]);
        }
        other => panic!("expected a XAPI error, got {other:?}"),
    }
    assert!(err.is_migration_refusal());
}

#[tokio::test]
async fn when_events_fail_the_task_is_polled() {
    let server = server_with_async_migrate().await;
    mount_events_unavailable(&server).await;
    Mock::given(call("task.get_record").with_params([Value::from(SESSION), Value::from(TASK)]))
        .respond_with(success(task_record("pending", "", &[])))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(call("task.get_record"))
        .respond_with(success(task_record("success", "<value></value>", &[])))
        .mount(&server)
        .await;

    let session = login(&server).await;
    let task = start_migration(&session).await;
    let result = session
        .wait_task_with(&task, &quick(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(result, Value::from(""), "void result");
    assert_eq!(count_calls(&server, "task.get_record").await, 3);
    assert_eq!(
        count_calls(&server, "event.from").await,
        1,
        "no retry of events"
    );
}

#[tokio::test]
async fn a_task_that_never_finishes_times_out() {
    let server = server_with_async_migrate().await;
    mount_events_unavailable(&server).await;
    Mock::given(call("task.get_record"))
        .respond_with(success(task_record("pending", "", &[])))
        .mount(&server)
        .await;

    let session = login(&server).await;
    let task = start_migration(&session).await;
    let err = session
        .wait_task_with(&task, &quick(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, XenApiError::Timeout { method, .. } if method == "Async.VM.pool_migrate"),
        "{err:?}"
    );
    assert!(count_calls(&server, "task.get_record").await >= 2);
}

#[tokio::test]
async fn a_cancelled_task_reports_task_cancelled() {
    let server = server_with_async_migrate().await;
    Mock::given(event_from(""))
        .respond_with(success(event_batch(
            task_record("cancelled", "", &[]),
            "t1",
        )))
        .mount(&server)
        .await;
    let err = migration_error(&server).await;
    assert!(err.is(&ErrorCode::TASK_CANCELLED), "{err:?}");
    assert_eq!(err.params(), [TASK]);
}
