//! Placing a room's media on a node: which registered nodes are healthy, and
//! which of them is best for a room. Pure; the shell runs the D1 query and
//! the worker's registry routes use the same health rules.

/// How often a node must heartbeat, told to it when it registers, unless the
/// deployment sets `MEDIA_NODE_HEARTBEAT_MS`.
pub const DEFAULT_HEARTBEAT_MS: u64 = 5_000;

/// Bounds on a configured heartbeat interval.
const HEARTBEAT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=60_000;

/// Heartbeats a node may miss before it stops counting as healthy.
pub const MISSED_HEARTBEATS: u64 = 3;

/// The heartbeat interval from the deployment's setting, if it is sane.
pub fn heartbeat_ms(setting: Option<&str>) -> u64 {
    setting
        .and_then(|v| v.trim().parse().ok())
        .filter(|ms| HEARTBEAT_RANGE_MS.contains(ms))
        .unwrap_or(DEFAULT_HEARTBEAT_MS)
}

/// A node unheard of for this long is not healthy.
pub fn stale_after_ms(heartbeat_ms: u64) -> u64 {
    MISSED_HEARTBEATS * heartbeat_ms
}

/// Oldest heartbeat time that still counts as healthy at `now_ms`.
pub fn healthy_since(now_ms: i64, stale_after_ms: u64) -> i64 {
    now_ms.saturating_sub(i64::try_from(stale_after_ms).unwrap_or(i64::MAX))
}

/// A healthy node as the placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The node's id.
    pub id: String,
    /// Its region slug; by convention it starts with a continent code
    /// (`eu-west`, `na-east`), which is what "near" matches.
    pub region: String,
    /// Its control API.
    pub control_url: String,
    /// Participants on it at the last heartbeat.
    pub participants: u32,
}

/// The best node for a room whose first participant is `near` (a continent
/// code): the least loaded node in a matching region, else the least loaded
/// anywhere. Ties go to the smaller id, so the choice is deterministic.
pub fn choose<'a>(candidates: &'a [Candidate], near: Option<&str>) -> Option<&'a Candidate> {
    let nearby = |c: &&Candidate| {
        near.is_some_and(|n| {
            !n.is_empty()
                && c.region
                    .to_ascii_lowercase()
                    .starts_with(&n.to_ascii_lowercase())
        })
    };
    let best = |it: &mut dyn Iterator<Item = &'a Candidate>| {
        it.min_by(|a, b| (a.participants, &a.id).cmp(&(b.participants, &b.id)))
    };
    best(&mut candidates.iter().filter(nearby)).or_else(|| best(&mut candidates.iter()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, region: &str, participants: u32) -> Candidate {
        Candidate {
            id: id.into(),
            region: region.into(),
            control_url: format!("http://{id}"),
            participants,
        }
    }

    #[test]
    fn nearest_region_then_least_load() {
        let nodes = [
            node("a", "eu-west", 40),
            node("b", "eu-central", 10),
            node("c", "na-east", 0),
        ];
        assert_eq!(choose(&nodes, Some("eu")).unwrap().id, "b");
        assert_eq!(choose(&nodes, Some("NA")).unwrap().id, "c");
        // Nothing nearby: least loaded anywhere.
        assert_eq!(choose(&nodes, Some("as")).unwrap().id, "c");
        assert_eq!(choose(&nodes, None).unwrap().id, "c");
        assert!(choose(&[], Some("eu")).is_none());
    }

    #[test]
    fn ties_are_broken_by_id() {
        let nodes = [node("z", "eu", 1), node("m", "eu", 1)];
        assert_eq!(choose(&nodes, None).unwrap().id, "m");
    }

    #[test]
    fn heartbeat_setting_and_staleness() {
        assert_eq!(heartbeat_ms(None), DEFAULT_HEARTBEAT_MS);
        assert_eq!(heartbeat_ms(Some(" 250 ")), 250);
        assert_eq!(heartbeat_ms(Some("5")), DEFAULT_HEARTBEAT_MS);
        assert_eq!(heartbeat_ms(Some("x")), DEFAULT_HEARTBEAT_MS);
        assert_eq!(stale_after_ms(1000), 3000);
        assert_eq!(healthy_since(10_000, 3000), 7000);
        assert_eq!(healthy_since(0, u64::MAX), -i64::MAX);
    }
}
