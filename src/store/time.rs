//! Timestamps: microseconds since the Unix epoch (UTC), the unit stored in every table.

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

/// The current time in [`Micros`].
pub fn now_micros() -> Micros {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
