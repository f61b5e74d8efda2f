//! Hosts: registration (by an admin or the host's agent), heartbeats and the service switch.

use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::{flag, Host, NewEvent, Resources, Result, Store, StoreError};

/// Changes to a host's service record; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct HostPatch {
    /// Disable (`true`) or enable (`false`) for scheduling.
    pub disabled: Option<bool>,
    /// Reason (`Some(None)` clears).
    pub disabled_reason: Option<Option<String>>,
    /// Nova's forced_down.
    pub forced_down: Option<bool>,
    /// XAPI URL.
    pub xapi_url: Option<String>,
}

impl Store {
    /// All hosts in registration order.
    pub async fn list_hosts(&self) -> Result<Vec<Host>> {
        let mut tx = self.read().await?;
        let hosts = load(&mut tx, None).await?;
        tx.commit().await?;
        Ok(hosts)
    }

    /// One host by name.
    pub async fn get_host(&self, name: &str) -> Result<Host> {
        let mut tx = self.read().await?;
        let host = load_one(&mut tx, name).await?;
        tx.commit().await?;
        Ok(host)
    }

    /// One host by its Nova service uuid (the `os-services` id from 2.53).
    pub async fn get_host_by_service_uuid(&self, uuid: &str) -> Result<Host> {
        let mut tx = self.read().await?;
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM hosts WHERE service_uuid = $1")
                .bind(uuid)
                .fetch_optional(&mut *tx)
                .await?;
        let name = name.ok_or_else(|| StoreError::HostNotFound(uuid.to_string()))?;
        let host = load_one(&mut tx, &name).await?;
        tx.commit().await?;
        Ok(host)
    }

    /// Registers a host by an admin; refuses a name already registered.
    #[tracing::instrument(skip_all, fields(host = %name, actor = %actor))]
    pub async fn register_host(
        &self,
        actor: &str,
        name: &str,
        xapi_url: Option<&str>,
    ) -> Result<Host> {
        let mut w = self.write(actor).await?;
        if exists(w.conn(), name).await? {
            return Err(StoreError::HostExists(name.to_string()));
        }
        insert(&mut w, name, xapi_url, None, None, None).await?;
        let host = load_one(w.conn(), name).await?;
        w.commit().await?;
        Ok(host)
    }

    /// An agent's registration: creates the host or refreshes its XAPI facts; counts as a
    /// heartbeat.
    #[tracing::instrument(skip_all, fields(host = %name, actor = %actor))]
    pub async fn agent_register(
        &self,
        actor: &str,
        name: &str,
        xapi_url: &str,
        xapi_uuid: Option<&str>,
        agent_version: &str,
        resources: Option<Resources>,
    ) -> Result<Host> {
        let mut w = self.write(actor).await?;
        if exists(w.conn(), name).await? {
            let now = w.now;
            sqlx::query(
                "UPDATE hosts SET xapi_url = $1, xapi_uuid = COALESCE($2, xapi_uuid), \
                 agent_version = $3, last_heartbeat_at = $4, updated_at = $4 WHERE name = $5",
            )
            .bind(xapi_url)
            .bind(xapi_uuid)
            .bind(agent_version)
            .bind(now)
            .bind(name)
            .execute(w.conn())
            .await?;
            set_resources(w.conn(), name, resources).await?;
            w.event(NewEvent {
                kind: "host.updated",
                aggregate: None,
                host: Some(name),
                message: format!("agent of host {name} registered (version {agent_version})"),
                details: json!({"xapi_url": xapi_url, "xapi_uuid": xapi_uuid, "agent_version": agent_version}),
            })
            .await?;
        } else {
            let now = w.now;
            insert(
                &mut w,
                name,
                Some(xapi_url),
                xapi_uuid,
                Some(agent_version),
                Some(now),
            )
            .await?;
            set_resources(w.conn(), name, resources).await?;
        }
        let host = load_one(w.conn(), name).await?;
        w.commit().await?;
        Ok(host)
    }

    /// Records a heartbeat. Not a change: no revision bump, no event.
    pub async fn heartbeat(&self, name: &str) -> Result<()> {
        let n = sqlx::query("UPDATE hosts SET last_heartbeat_at = $1 WHERE name = $2")
            .bind(super::now_micros())
            .bind(name)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::HostNotFound(name.to_string()));
        }
        Ok(())
    }

    /// Changes a host's service switch, reason, forced_down or XAPI URL.
    #[tracing::instrument(skip_all, fields(host = %name, actor = %actor))]
    pub async fn update_host(&self, actor: &str, name: &str, patch: &HostPatch) -> Result<Host> {
        let mut w = self.write(actor).await?;
        let before = load_one(w.conn(), name).await?;
        let disabled = patch.disabled.unwrap_or(before.disabled);
        let reason = match &patch.disabled_reason {
            Some(r) => r.clone(),
            None => before.disabled_reason.clone(),
        };
        let forced = patch.forced_down.unwrap_or(before.forced_down);
        let url = patch.xapi_url.clone().or(before.xapi_url.clone());
        let now = w.now;
        sqlx::query(
            "UPDATE hosts SET disabled = $1, disabled_reason = $2, forced_down = $3, xapi_url = $4, \
             updated_at = $5 WHERE name = $6",
        )
        .bind(i64::from(disabled))
        .bind(reason.as_deref())
        .bind(i64::from(forced))
        .bind(url.as_deref())
        .bind(now)
        .bind(name)
        .execute(w.conn())
        .await?;
        w.event(NewEvent {
            kind: "host.updated",
            aggregate: None,
            host: Some(name),
            message: format!(
                "host {name} is {}{}",
                if disabled { "disabled" } else { "enabled" },
                reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            ),
            details: json!({"disabled": disabled, "disabled_reason": reason, "forced_down": forced, "xapi_url": url}),
        })
        .await?;
        let host = load_one(w.conn(), name).await?;
        w.commit().await?;
        Ok(host)
    }
}

async fn set_resources(conn: &mut AnyConnection, name: &str, r: Option<Resources>) -> Result<()> {
    if let Some(r) = r {
        sqlx::query("UPDATE hosts SET cpu = $1, memory_mb = $2, disk_gb = $3 WHERE name = $4")
            .bind(r.cpu)
            .bind(r.memory_mb)
            .bind(r.disk_gb)
            .bind(name)
            .execute(conn)
            .await?;
    }
    Ok(())
}

async fn exists(conn: &mut AnyConnection, name: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosts WHERE name = $1")
        .bind(name)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

async fn insert(
    w: &mut super::WriteTx<'_>,
    name: &str,
    xapi_url: Option<&str>,
    xapi_uuid: Option<&str>,
    agent_version: Option<&str>,
    heartbeat: Option<i64>,
) -> Result<()> {
    let now = w.now;
    sqlx::query(
        "INSERT INTO hosts (name, service_uuid, xapi_url, xapi_uuid, agent_version, last_heartbeat_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(name)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(xapi_url)
    .bind(xapi_uuid)
    .bind(agent_version)
    .bind(heartbeat)
    .bind(now)
    .execute(w.conn())
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::HostExists(name.to_string())
        }
        e => e.into(),
    })?;
    w.event(NewEvent {
        kind: "host.registered",
        aggregate: None,
        host: Some(name),
        message: format!("host {name} registered"),
        details: json!({"xapi_url": xapi_url, "xapi_uuid": xapi_uuid, "agent_version": agent_version}),
    })
    .await
}

/// Loads one host by name.
pub(crate) async fn load_one(conn: &mut AnyConnection, name: &str) -> Result<Host> {
    load(conn, Some(name))
        .await?
        .pop()
        .ok_or_else(|| StoreError::HostNotFound(name.to_string()))
}

/// Loads all hosts (or the one named) with their aggregates and zones.
pub(crate) async fn load(conn: &mut AnyConnection, name: Option<&str>) -> Result<Vec<Host>> {
    match name {
        Some(n) => load_where(conn, Some(&[n])).await,
        None => load_where(conn, None).await,
    }
}

/// Loads the named hosts (those that exist, in registration order) with their aggregates and
/// zones.
pub(crate) async fn load_named(conn: &mut AnyConnection, names: &[&str]) -> Result<Vec<Host>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    load_where(conn, Some(names)).await
}

/// `$1, $2, …` for `n` binds.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn load_where(conn: &mut AnyConnection, names: Option<&[&str]>) -> Result<Vec<Host>> {
    let cols = "id, name, service_uuid, xapi_url, xapi_uuid, agent_version, last_heartbeat_at, \
                disabled, disabled_reason, forced_down, maintenance, created_at, updated_at, \
                cpu, memory_mb, disk_gb";
    let rows = match names {
        Some(names) => {
            let sql = format!(
                "SELECT {cols} FROM hosts WHERE name IN ({}) ORDER BY id",
                placeholders(names.len())
            );
            let mut q = sqlx::query(&sql);
            for n in names {
                q = q.bind(*n);
            }
            q.fetch_all(&mut *conn).await?
        }
        None => {
            sqlx::query(&format!("SELECT {cols} FROM hosts ORDER BY id"))
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut hosts = Vec::with_capacity(rows.len());
    for r in &rows {
        hosts.push(Host {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            service_uuid: r.try_get(2)?,
            xapi_url: r.try_get(3)?,
            xapi_uuid: r.try_get(4)?,
            agent_version: r.try_get(5)?,
            last_heartbeat_at: r.try_get(6)?,
            disabled: flag(r.try_get(7)?),
            disabled_reason: r.try_get(8)?,
            forced_down: flag(r.try_get(9)?),
            maintenance: flag(r.try_get(10)?),
            created_at: r.try_get(11)?,
            updated_at: r.try_get(12)?,
            resources: match (r.try_get(13)?, r.try_get(14)?, r.try_get(15)?) {
                (Some(cpu), Some(memory_mb), Some(disk_gb)) => Some(Resources {
                    cpu,
                    memory_mb,
                    disk_gb,
                }),
                _ => None,
            },
            aggregates: Vec::new(),
            zones: Vec::new(),
        });
    }
    let sql = "SELECT ah.host, a.name, a.availability_zone FROM aggregate_hosts ah \
               JOIN aggregates a ON a.id = ah.aggregate_id";
    let rows = match names {
        Some(names) => {
            let sql = format!(
                "{sql} WHERE ah.host IN ({}) ORDER BY a.id",
                placeholders(names.len())
            );
            let mut q = sqlx::query(&sql);
            for n in names {
                q = q.bind(*n);
            }
            q.fetch_all(&mut *conn).await?
        }
        None => {
            sqlx::query(&format!("{sql} ORDER BY a.id"))
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let index: std::collections::HashMap<String, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.clone(), i))
        .collect();
    for r in &rows {
        let host: String = r.try_get(0)?;
        if let Some(&i) = index.get(&host) {
            hosts[i].aggregates.push(r.try_get(1)?);
            if let Some(z) = r.try_get::<Option<String>, _>(2)? {
                if !hosts[i].zones.contains(&z) {
                    hosts[i].zones.push(z);
                }
            }
        }
    }
    Ok(hosts)
}
