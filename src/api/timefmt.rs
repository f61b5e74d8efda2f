//! Timestamp formats of the two surfaces.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::store::Micros;

const NOVA: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]");
const NATIVE: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

fn at(t: Micros) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Nova's naive UTC form: `2026-11-24T13:13:44.104874`.
pub fn nova(t: Micros) -> String {
    at(t).format(NOVA).unwrap_or_default()
}

/// The native API's RFC 3339 form: `2026-11-24T13:13:44.104874Z`.
pub fn native(t: Micros) -> String {
    at(t).format(NATIVE).unwrap_or_default()
}
