//! Leases: at most one holder per name across all replicas, granted by one atomic upsert.

use serde_json::json;
use sqlx::Row;

use super::{now_micros, Lease, NewEvent, Result, Store, StoreError};

impl Store {
    /// Grants `name` to `holder` for `ttl_secs`, or renews it if `holder` has it; refuses with
    /// [`StoreError::LeaseHeld`] while another holder's lease is live.
    #[tracing::instrument(skip_all, fields(lease = %name, holder = %holder))]
    pub async fn acquire_lease(
        &self,
        actor: &str,
        name: &str,
        holder: &str,
        ttl_secs: i64,
    ) -> Result<Lease> {
        let now = now_micros();
        let expires_at = now + ttl_secs * 1_000_000;
        // Renewal by the live holder is not a change: one statement, no revision bump.
        let renewed = sqlx::query(
            "UPDATE leases SET expires_at = $1 WHERE name = $2 AND holder = $3 AND expires_at > $4",
        )
        .bind(expires_at)
        .bind(name)
        .bind(holder)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        if renewed == 1 {
            return Ok(Lease {
                name: name.to_string(),
                holder: holder.to_string(),
                expires_at,
            });
        }
        let mut w = self.write(actor).await?;
        let granted = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(expires_at)
        .bind(now)
        .fetch_optional(w.conn())
        .await?;
        if granted.is_none() {
            let row = sqlx::query("SELECT holder, expires_at FROM leases WHERE name = $1")
                .bind(name)
                .fetch_one(w.conn())
                .await?;
            return Err(StoreError::LeaseHeld {
                name: name.to_string(),
                holder: row.try_get(0)?,
                expires_at: row.try_get(1)?,
            });
        }
        w.event(NewEvent {
            kind: "lease.acquired",
            aggregate: None,
            host: None,
            message: format!("lease {name} granted to {holder} for {ttl_secs} s"),
            details: json!({"lease": name, "holder": holder, "ttl_seconds": ttl_secs}),
        })
        .await?;
        w.commit().await?;
        Ok(Lease {
            name: name.to_string(),
            holder: holder.to_string(),
            expires_at,
        })
    }

    /// Releases `name` held by `holder`.
    pub async fn release_lease(&self, actor: &str, name: &str, holder: &str) -> Result<()> {
        let mut w = self.write(actor).await?;
        let now = w.now;
        let row = sqlx::query(
            "SELECT holder, expires_at FROM leases WHERE name = $1 AND expires_at > $2",
        )
        .bind(name)
        .bind(now)
        .fetch_optional(w.conn())
        .await?
        .ok_or_else(|| StoreError::LeaseNotFound(name.to_string()))?;
        let current: String = row.try_get(0)?;
        if current != holder {
            return Err(StoreError::LeaseHeld {
                name: name.to_string(),
                holder: current,
                expires_at: row.try_get(1)?,
            });
        }
        sqlx::query("DELETE FROM leases WHERE name = $1")
            .bind(name)
            .execute(w.conn())
            .await?;
        w.event(NewEvent {
            kind: "lease.released",
            aggregate: None,
            host: None,
            message: format!("lease {name} released by {holder}"),
            details: json!({"lease": name, "holder": holder}),
        })
        .await?;
        w.commit().await
    }
}
