//! A published track: one media section of a publisher, its simulcast
//! layers, and who receives it.

use std::time::{Duration, Instant};

use protocol::media::Source;
use str0m::format::Codec;
use str0m::media::{MediaKind, Mid, Pt, Rid};

use super::ClientRef;
use super::layer::LayerInfo;
use super::speaker::Loudness;

/// Keyframe requests to one layer are at most this frequent; requests in
/// between are merged into the next.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// A subscriber that waited this long for a keyframe asks again.
pub const KEYFRAME_RETRY: Duration = Duration::from_millis(1000);

/// A layer without packets for this long is considered stopped.
const LAYER_IDLE: Duration = Duration::from_millis(1500);

/// Bitrate measurement window.
const METER_WINDOW: Duration = Duration::from_millis(500);

/// One simulcast layer (or the only stream of a non-simulcast track).
#[derive(Debug)]
pub struct Layer {
    /// Its rid; `None` without simulcast.
    pub rid: Option<Rid>,
    /// Last packet arrival.
    pub last_packet: Option<Instant>,
    /// Height in pixels, read from the last keyframe that stated it.
    pub height: Option<u32>,
    /// The payload type of the last packet and its codec, so the codec is
    /// looked up when the type changes, not per packet.
    pub codec: Option<(Pt, Option<Codec>)>,
    /// Bits per second over the last complete window.
    pub bitrate: u64,
    window_start: Option<Instant>,
    window_bytes: u64,
    /// When a keyframe was last requested from the publisher.
    pub last_keyframe_request: Option<Instant>,
    /// A request came in while throttled; send it when allowed.
    pub keyframe_wanted: bool,
}

impl Layer {
    fn new(rid: Option<Rid>) -> Self {
        Layer {
            rid,
            last_packet: None,
            height: None,
            codec: None,
            bitrate: 0,
            window_start: None,
            window_bytes: 0,
            last_keyframe_request: None,
            keyframe_wanted: false,
        }
    }

    /// Counts one packet of `bytes` at `at`.
    pub fn handle_packet(&mut self, at: Instant, bytes: usize) {
        self.last_packet = Some(at);
        let start = *self.window_start.get_or_insert(at);
        self.window_bytes += bytes as u64;
        let span = at.saturating_duration_since(start);
        if span >= METER_WINDOW {
            self.bitrate = self.window_bytes * 8 * 1000 / (span.as_millis() as u64).max(1);
            self.window_start = Some(at);
            self.window_bytes = 0;
        }
    }

    /// Whether packets arrive now.
    pub fn active(&self, now: Instant) -> bool {
        self.last_packet
            .is_some_and(|t| now.saturating_duration_since(t) < LAYER_IDLE)
    }

    /// What layer allocation needs to know.
    pub fn info(&self, now: Instant) -> LayerInfo {
        LayerInfo {
            bitrate: self.bitrate,
            height: self.height,
            active: self.active(now),
        }
    }

    /// Whether a keyframe request may go out at `now`; records it if so.
    pub fn take_keyframe_slot(&mut self, now: Instant) -> bool {
        let free = self
            .last_keyframe_request
            .is_none_or(|t| now.saturating_duration_since(t) >= KEYFRAME_INTERVAL);
        if free {
            self.last_keyframe_request = Some(now);
            self.keyframe_wanted = false;
        } else {
            self.keyframe_wanted = true;
        }
        free
    }
}

/// Orders rids lowest first: the names our client uses (`l`, `m`, `h`),
/// then the common `q`, `h`, `f`; unknown names keep offer order after them.
fn rid_rank(rid: &str) -> usize {
    match rid {
        "l" | "q" | "low" => 0,
        "m" | "mid" => 1,
        "h" | "high" => 2,
        "f" | "full" => 3,
        _ => 4,
    }
}

/// One published track.
#[derive(Debug)]
pub struct Track {
    /// The publisher's media section.
    pub mid: Mid,
    /// What it is.
    pub source: Source,
    /// Audio or video.
    pub kind: MediaKind,
    /// Layers, lowest first; one entry without simulcast.
    pub layers: Vec<Layer>,
    /// Not forwarded: the source is not granted now (host mute).
    pub blocked: bool,
    /// Receivers: subscriber and the index of the subscription there.
    pub subscribers: Vec<(ClientRef, usize)>,
    /// Audio only: how loud the publisher is.
    pub loudness: Loudness,
    /// Audio only: forwarded now (large rooms forward only speakers).
    pub audible: bool,
}

impl Track {
    /// A track for section `mid` carrying `source`, with these rids.
    pub fn new(mid: Mid, source: Source, kind: MediaKind, rids: Vec<Rid>) -> Self {
        let mut rids = rids;
        rids.sort_by_key(|r| rid_rank(r));
        let layers = if rids.is_empty() {
            vec![Layer::new(None)]
        } else {
            rids.into_iter().map(|r| Layer::new(Some(r))).collect()
        };
        Track {
            mid,
            source,
            kind,
            layers,
            blocked: false,
            subscribers: Vec::new(),
            loudness: Loudness::default(),
            audible: true,
        }
    }

    /// The index of the layer with `rid`.
    pub fn layer_of(&self, rid: Option<Rid>) -> Option<usize> {
        self.layers.iter().position(|l| l.rid == rid)
    }

    /// Layer summaries for allocation.
    pub fn layer_infos(&self, now: Instant) -> Vec<LayerInfo> {
        self.layers.iter().map(|l| l.info(now)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids_are_ordered_lowest_first() {
        let t = Track::new(
            Mid::from("0"),
            Source::Camera,
            MediaKind::Video,
            vec![Rid::from("h"), Rid::from("l"), Rid::from("m")],
        );
        let rids: Vec<_> = t
            .layers
            .iter()
            .map(|l| l.rid.unwrap().to_string())
            .collect();
        assert_eq!(rids, ["l", "m", "h"]);
    }

    #[test]
    fn keyframe_requests_are_throttled() {
        let t0 = Instant::now();
        let mut l = Layer::new(None);
        assert!(l.take_keyframe_slot(t0));
        assert!(!l.take_keyframe_slot(t0 + Duration::from_millis(100)));
        assert!(l.keyframe_wanted);
        assert!(l.take_keyframe_slot(t0 + Duration::from_millis(500)));
        assert!(!l.keyframe_wanted);
    }

    #[test]
    fn bitrate_is_measured_over_a_window() {
        let t0 = Instant::now();
        let mut l = Layer::new(None);
        for i in 0..=50 {
            l.handle_packet(t0 + Duration::from_millis(10 * i), 1000);
        }
        // 1000 bytes every 10 ms = 800 kbit/s.
        assert!((700_000..900_000).contains(&l.bitrate), "{}", l.bitrate);
        assert!(l.active(t0 + Duration::from_millis(600)));
        assert!(!l.active(t0 + Duration::from_secs(5)));
    }
}
