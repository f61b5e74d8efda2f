//! Choosing the member that takes over the master role.

use super::facts::HostFacts;

/// Picks the new master among `members`: an enabled, live host not listed in `excluding`,
/// with the most free memory; ties go to the name that sorts first. `None` when no member
/// qualifies (the caller must then refuse the operation that needed a handover).
pub fn choose_master<'a>(members: &'a [HostFacts], excluding: &[&str]) -> Option<&'a HostFacts> {
    members
        .iter()
        .filter(|h| h.enabled && h.live && !excluding.contains(&h.name.as_str()))
        .min_by(|a, b| {
            b.free_memory
                .cmp(&a.free_memory)
                .then_with(|| a.name.cmp(&b.name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, enabled: bool, live: bool, free_gib: u64) -> HostFacts {
        HostFacts {
            name: name.into(),
            enabled,
            live,
            free_memory: free_gib << 30,
        }
    }

    #[test]
    fn picks_the_enabled_live_member_with_most_free_memory() {
        let members = [
            host("h1", true, true, 4),
            host("h2", false, true, 64),
            host("h3", true, false, 64),
            host("h4", true, true, 8),
        ];
        assert_eq!(choose_master(&members, &["h1"]).unwrap().name, "h4");
    }

    #[test]
    fn ties_go_to_the_first_name() {
        let members = [host("h3", true, true, 8), host("h2", true, true, 8)];
        assert_eq!(choose_master(&members, &[]).unwrap().name, "h2");
    }

    #[test]
    fn none_when_nobody_qualifies() {
        let members = [host("h1", true, true, 8), host("h2", false, true, 8)];
        assert_eq!(choose_master(&members, &["h1"]), None);
    }
}
