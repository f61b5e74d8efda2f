//! The change log: every change with who made it, plus agents' own step events.

use serde_json::Value;
use sqlx::Row;

use super::{Event, EventFilter, NewEvent, Result, Store, StoreError};

impl Store {
    /// Events matching `f`, oldest first.
    pub async fn list_events(&self, f: &EventFilter) -> Result<Vec<Event>> {
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query(
            "SELECT id, at, revision, actor, kind, aggregate, host, message, details FROM events \
             WHERE id > $1 AND ($2 = '' OR kind = $2) AND ($3 = '' OR host = $3) \
             AND ($4 = '' OR aggregate = $4) ORDER BY id LIMIT $5",
        )
        .bind(f.since)
        .bind(f.kind.clone().unwrap_or_default())
        .bind(f.host.clone().unwrap_or_default())
        .bind(f.aggregate.clone().unwrap_or_default())
        .bind(f.limit)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    revision: r.try_get(2)?,
                    actor: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    aggregate: r.try_get(5)?,
                    host: r.try_get(6)?,
                    message: r.try_get(7)?,
                    details: serde_json::from_str(&r.try_get::<String, _>(8)?)
                        .map_err(StoreError::json)?,
                })
            })
            .collect()
    }

    /// Appends a log-only event (an agent's step): no revision bump, so watchers stay asleep.
    pub async fn append_event(
        &self,
        actor: &str,
        kind: &str,
        aggregate: Option<&str>,
        host: Option<&str>,
        message: &str,
        details: Value,
    ) -> Result<Event> {
        let mut w = self.write_with(actor, false).await?;
        let at = w.now;
        let id = w
            .event_at(
                NewEvent {
                    kind,
                    aggregate,
                    host,
                    message: message.to_string(),
                    details: details.clone(),
                },
                None,
            )
            .await?;
        w.commit().await?;
        Ok(Event {
            id,
            at,
            revision: None,
            actor: actor.to_string(),
            kind: kind.to_string(),
            aggregate: aggregate.map(str::to_string),
            host: host.map(str::to_string),
            message: message.to_string(),
            details,
        })
    }
}
