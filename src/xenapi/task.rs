//! `Async.*` calls and waiting for their tasks: by `event.from` on the task, falling back to
//! polling `task.get_record` when events fail. A finished task yields its decoded result or
//! its `error_info` as the same typed error the synchronous call would have raised.

use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::{sleep, Instant};
use tracing::{debug, instrument, warn};
use xenpool_xapi_types::{EventOperation, Ref, TaskStatus};
use xenpool_xmlrpc::{self as xmlrpc, Value};

use super::client::CallSite;
use super::error::{Result, XenApiError};
use super::records::TaskRecord;
use super::session::Session;

/// A running XAPI task and the `Async.` call that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The task object.
    pub reference: Ref,
    /// The wire name of the call, e.g. `Async.VM.pool_migrate` (used in its errors).
    pub method: String,
}

/// How [`Session::wait_task_with`] waits.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Give up (with a `Timeout` error) after this long. The task keeps running on the server.
    pub timeout: Duration,
    /// The longest single `event.from` wait.
    pub event_wait: Duration,
    /// First delay between `task.get_record` polls (doubling up to `max_poll_interval`).
    pub poll_interval: Duration,
    /// Longest delay between polls.
    pub max_poll_interval: Duration,
}

impl WaitOptions {
    /// Waits up to `timeout`, with the default event and poll cadence.
    pub fn within(timeout: Duration) -> WaitOptions {
        WaitOptions {
            timeout,
            event_wait: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            max_poll_interval: Duration::from_secs(5),
        }
    }
}

impl Session {
    /// Calls `Async.<method>` (session prepended) and returns its task.
    pub async fn call_async(&self, method: &str, params: Vec<Value>) -> Result<Task> {
        let method = format!("Async.{method}");
        let reference: Ref = self.call_as(&method, params).await?;
        Ok(Task { reference, method })
    }

    /// `task.get_record`.
    pub async fn task_get_record(&self, task: &Ref) -> Result<TaskRecord> {
        self.call_as("task.get_record", vec![Value::from(task.as_str())])
            .await
    }

    /// `task.cancel`: asks XAPI to cancel (not every operation can be).
    pub async fn task_cancel(&self, task: &Ref) -> Result<()> {
        self.call_void("task.cancel", vec![Value::from(task.as_str())])
            .await
    }

    /// `task.destroy`: forgets a finished task.
    pub async fn task_destroy(&self, task: &Ref) -> Result<()> {
        self.call_void("task.destroy", vec![Value::from(task.as_str())])
            .await
    }

    /// Waits up to `timeout` for `task` and returns its result as a dynamic value.
    pub async fn wait_task(&self, task: &Task, timeout: Duration) -> Result<Value> {
        self.wait_task_with(task, &WaitOptions::within(timeout))
            .await
    }

    /// Waits for `task` and decodes its result into `T`.
    pub async fn wait_task_as<T: DeserializeOwned>(
        &self,
        task: &Task,
        timeout: Duration,
    ) -> Result<T> {
        let value = self.wait_task(task, timeout).await?;
        let url = self.url();
        xmlrpc::from_value(value).map_err(|e| {
            CallSite {
                method: &task.method,
                url: &url,
            }
            .decode(e)
        })
    }

    /// Waits for `task` as `options` say: `event.from` first, polling if events fail.
    #[instrument(skip_all, fields(method = %task.method, host = %self.url()))]
    pub async fn wait_task_with(&self, task: &Task, options: &WaitOptions) -> Result<Value> {
        let deadline = Instant::now() + options.timeout;
        let record = match self.wait_by_events(task, deadline, options).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err(self.site_error(task, |s| s.timeout(options.timeout))),
            Err(e) => {
                warn!(error = %e, "event.from failed while waiting for a task: polling task.get_record instead");
                self.wait_by_polling(task, deadline, options).await?
            }
        };
        let outcome = self.task_outcome(task, &record);
        if let Err(e) = self.task_destroy(&task.reference).await {
            debug!(error = %e, "task.destroy failed (the server garbage-collects tasks anyway)");
        }
        outcome
    }

    /// `Ok(None)` when the deadline passed first; `Err` when events cannot be used.
    async fn wait_by_events(
        &self,
        task: &Task,
        deadline: Instant,
        options: &WaitOptions,
    ) -> Result<Option<TaskRecord>> {
        let class = format!("task/{}", task.reference);
        let mut token = String::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(None);
            }
            let batch = self
                .event_from(&[&class], &token, remaining.min(options.event_wait))
                .await?;
            token = batch.token;
            for event in batch.events {
                if event.reference != task.reference {
                    continue;
                }
                if event.operation == EventOperation::Del {
                    return Err(self.site_error(task, |s| {
                        s.protocol("the task was destroyed before it was seen finished")
                    }));
                }
                let Some(snapshot) = event.snapshot else {
                    continue;
                };
                let record: TaskRecord = xmlrpc::from_value(snapshot)
                    .map_err(|e| self.site_error(task, |s| s.decode(e)))?;
                if record.status.is_finished() {
                    return Ok(Some(record));
                }
            }
        }
    }

    async fn wait_by_polling(
        &self,
        task: &Task,
        deadline: Instant,
        options: &WaitOptions,
    ) -> Result<TaskRecord> {
        let mut interval = options.poll_interval;
        loop {
            let record = self.task_get_record(&task.reference).await?;
            if record.status.is_finished() {
                return Ok(record);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.site_error(task, |s| s.timeout(options.timeout)));
            }
            sleep(interval.min(remaining)).await;
            interval = (interval * 2).min(options.max_poll_interval);
        }
    }

    /// The finished task's result, or its error as the call's own typed error.
    fn task_outcome(&self, task: &Task, record: &TaskRecord) -> Result<Value> {
        match record.status {
            TaskStatus::Success if record.result.trim().is_empty() => Ok(Value::from("")),
            TaskStatus::Success => {
                xmlrpc::decode_value(record.result.as_bytes(), &self.client().options().limits)
                    .map_err(|e| self.site_error(task, |s| s.decode(e)))
            }
            TaskStatus::Failure => {
                Err(self.site_error(task, |s| s.failure(record.error_info.clone())))
            }
            TaskStatus::Cancelled | TaskStatus::Cancelling => Err(self.site_error(task, |s| {
                s.failure(vec!["TASK_CANCELLED".into(), task.reference.to_string()])
            })),
            TaskStatus::Pending => Err(self.site_error(task, |s| {
                s.protocol("task reported as finished while pending")
            })),
        }
    }

    fn site_error(
        &self,
        task: &Task,
        make: impl FnOnce(CallSite<'_>) -> XenApiError,
    ) -> XenApiError {
        let url = self.url();
        make(CallSite {
            method: &task.method,
            url: &url,
        })
    }
}
