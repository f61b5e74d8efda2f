//! Rendered responses kept per revision: a read whose answer depends only on the committed
//! state (and on a variant such as the microversion class) is rendered once per revision and
//! then served as the same bytes until the next change.

use std::sync::Mutex;

use axum::body::Bytes;

/// Rendered bodies of one response kind, by revision and variant.
#[derive(Default)]
pub struct RevisionMemo {
    slots: Mutex<Vec<(i64, u8, Bytes)>>,
}

impl RevisionMemo {
    /// The body rendered at exactly `revision` for `variant`, if kept.
    pub fn get(&self, revision: i64, variant: u8) -> Option<Bytes> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .find(|(r, v, _)| *r == revision && *v == variant)
            .map(|(_, _, b)| b.clone())
    }

    /// Keeps `body` for (`revision`, `variant`), dropping bodies of older revisions.
    pub fn put(&self, revision: i64, variant: u8, body: Bytes) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.iter().any(|(r, _, _)| *r > revision) {
            return;
        }
        slots.retain(|(r, v, _)| *r == revision && *v != variant);
        slots.push((revision, variant, body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_the_exact_revision_and_variant() {
        let m = RevisionMemo::default();
        m.put(3, 0, Bytes::from_static(b"a"));
        m.put(3, 1, Bytes::from_static(b"b"));
        assert_eq!(m.get(3, 0).as_deref(), Some(&b"a"[..]));
        assert_eq!(m.get(3, 1).as_deref(), Some(&b"b"[..]));
        assert!(m.get(4, 0).is_none());
        m.put(4, 0, Bytes::from_static(b"c"));
        assert!(m.get(3, 1).is_none(), "older revisions are dropped");
        m.put(3, 1, Bytes::from_static(b"stale"));
        assert!(m.get(3, 1).is_none(), "never kept behind a newer revision");
        assert_eq!(m.get(4, 0).as_deref(), Some(&b"c"[..]));
    }
}
