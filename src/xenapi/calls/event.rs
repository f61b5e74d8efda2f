//! `event.from`: change feeds with tokens.

use std::time::Duration;

use xenpool_xmlrpc::Value;

use super::s;
use crate::xenapi::error::Result;
use crate::xenapi::records::EventBatch;
use crate::xenapi::session::Session;

impl Session {
    /// `event.from(classes, token, timeout)`: events on `classes` (`"*"`, `"vm"`,
    /// `"task/OpaqueRef:…"`) since `token` (`""` = the current state of every matching object
    /// as `add` events), waiting up to `wait` for one. The HTTP call may take `wait` plus the
    /// client's call timeout.
    pub async fn event_from(
        &self,
        classes: &[&str],
        token: &str,
        wait: Duration,
    ) -> Result<EventBatch> {
        let classes = Value::Array(classes.iter().map(|c| s(c)).collect());
        let timeout = wait + self.client().options().call_timeout;
        self.call_within(
            "event.from",
            vec![classes, s(token), Value::from(wait.as_secs_f64())],
            timeout,
        )
        .await
    }
}
