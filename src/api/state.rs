//! What every handler can reach: the store, the tokens and the settings. Nothing here holds
//! state another replica would need.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use super::memo::RevisionMemo;
use crate::auth::Tokens;
use crate::store::Store;

/// Behaviour settings of the API.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A host is `down` when its last heartbeat is older than this.
    pub service_down_time: Duration,
    /// Zone of hosts in no zoned aggregate.
    pub default_availability_zone: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            service_down_time: Duration::from_secs(60),
            default_availability_zone: "nova".to_string(),
        }
    }
}

/// Shared handler state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Tokens in force.
    pub tokens: Arc<Tokens>,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Cancelled when the server shuts down (ends long-polls at once).
    pub shutdown: CancellationToken,
    /// Renders `/metrics`, when the recorder could be installed.
    pub metrics: Option<PrometheusHandle>,
    /// The Nova aggregate list, rendered once per revision.
    pub nova_aggregate_list: Arc<RevisionMemo>,
}

impl AppState {
    /// Whether `host` is up now.
    pub fn is_up(&self, host: &crate::store::Host) -> bool {
        let down = i64::try_from(self.settings.service_down_time.as_micros()).unwrap_or(i64::MAX);
        host.is_up(crate::store::now_micros(), down)
    }
}
