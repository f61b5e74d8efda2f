//! Tasks: `Async.<Class>.<method>` runs the call in the background under a task record with
//! `status`, `progress`, `result` (the XML-RPC-serialised value) and `error_info`.

use std::time::SystemTime;

use xenpool_xapi_types::TaskStatus;
use xenpool_xmlrpc::{self as xmlrpc, EncodeOptions, Value};

use crate::call::Call;
use crate::methods::Handler;
use crate::records;
use crate::state::{new_ref, new_uuid, Task, XResult};

/// Creates a pending task, runs `handler` under it in the background, and returns the task ref.
pub fn spawn_async(mut call: Call, name: &str, handler: Handler) -> XResult<String> {
    let reference = new_ref();
    {
        let mut db = call.shared.lock();
        let gen = db.bump();
        db.tasks.insert(
            reference.clone(),
            Task {
                uuid: new_uuid(),
                pool: call.pool.clone(),
                host: call.host,
                name_label: name.to_owned(),
                status: TaskStatus::Pending,
                progress: 0.0,
                result: String::new(),
                error_info: Vec::new(),
                created: SystemTime::now(),
                finished: None,
                gen,
                created_gen: gen,
            },
        );
    }
    call.task = Some(reference.clone());
    let shared = call.shared.clone();
    let task_ref = reference.clone();
    tokio::spawn(async move {
        let outcome = handler(call).await;
        let mut db = shared.lock();
        let gen = db.bump();
        if let Some(t) = db.tasks.get_mut(&task_ref) {
            match outcome {
                Ok(v) => {
                    let mut out = Vec::new();
                    xmlrpc::encode_value(&v, EncodeOptions::default(), &mut out);
                    t.status = TaskStatus::Success;
                    t.result = String::from_utf8_lossy(&out).into_owned();
                    t.progress = 1.0;
                }
                Err(e) => {
                    t.status = TaskStatus::Failure;
                    t.error_info = e.description();
                }
            }
            t.finished = Some(SystemTime::now());
            t.gen = gen;
        }
    });
    Ok(reference)
}

/// `task.destroy(task)`: the record goes; an operation still running carries on.
pub async fn destroy(c: Call) -> XResult<Value> {
    let mut db = c.shared.lock();
    let t = c.task_arg(&db, 0)?;
    db.tasks.remove(&t);
    db.tombstone("task", &t, &c.pool);
    Ok(records::s(""))
}
