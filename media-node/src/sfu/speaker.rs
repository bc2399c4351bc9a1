//! Active-speaker detection from the audio-level header extension (RFC 6464).
//!
//! Each microphone keeps a smoothed loudness; a room ranks its microphones
//! at most every [`INTERVAL`] and reports the loudest few that are clearly
//! speaking. Pure: the caller passes packet times.

use std::time::{Duration, Instant};

/// How often a room re-ranks its speakers.
pub const INTERVAL: Duration = Duration::from_millis(300);

/// Most speakers reported.
pub const TOP: usize = 3;

/// Loudness (127 minus the level in -dBov) above which someone is speaking:
/// louder than -50 dBov.
const SPEAKING: f32 = 77.0;

/// A microphone silent for this long is not speaking, whatever its average.
const STALE: Duration = Duration::from_millis(1000);

/// The smoothed loudness of one microphone.
#[derive(Debug, Clone, Default)]
pub struct Loudness {
    level: f32,
    last: Option<Instant>,
    /// The last packet that by itself sounded like speech.
    voiced: Option<Instant>,
}

impl Loudness {
    /// Feeds one packet's audio level (0 is loudest, 127 silence) at `at`.
    /// A packet without the extension or flagged as no voice counts as quiet.
    pub fn handle_level(&mut self, at: Instant, level: Option<i8>, voice: Option<bool>) {
        let loud = match (level, voice) {
            (_, Some(false)) | (None, _) => 0.0,
            (Some(l), _) => 127.0 - f32::from(l.unsigned_abs().min(127)),
        };
        // About 20 packets (400 ms of Opus) to settle.
        self.level += (loud - self.level) * 0.1;
        self.last = Some(at);
        if loud > SPEAKING {
            self.voiced = Some(at);
        }
    }

    /// Whether a packet sounded like speech within `window` before `now`:
    /// someone starting to talk is heard before their average rises.
    pub fn voiced_within(&self, now: Instant, window: Duration) -> bool {
        self.voiced
            .is_some_and(|t| now.saturating_duration_since(t) < window)
    }

    /// How loud, if speaking at `now`.
    pub fn speaking(&self, now: Instant) -> Option<f32> {
        let last = self.last?;
        (now.saturating_duration_since(last) < STALE && self.level > SPEAKING).then_some(self.level)
    }
}

/// Ranks speakers: the loudest [`TOP`] of `(who, loudness)` that speak now.
pub fn rank<T: Clone>(now: Instant, mics: impl Iterator<Item = (T, Loudness)>) -> Vec<T> {
    let mut loud: Vec<(f32, T)> = mics
        .filter_map(|(who, l)| l.speaking(now).map(|v| (v, who)))
        .collect();
    loud.sort_by(|a, b| b.0.total_cmp(&a.0));
    loud.into_iter().take(TOP).map(|(_, who)| who).collect()
}

/// Rooms with at most this many microphones forward all of them; larger
/// rooms forward only the ranked speakers and whoever spoke just now.
pub const FORWARD_ALL_UP_TO: usize = 8;

/// How long after its last speech-like packet a microphone stays forwarded.
pub const VOICE_HOLD: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(t0: Instant, level: i8, n: u32) -> Loudness {
        let mut l = Loudness::default();
        for i in 0..n {
            l.handle_level(
                t0 + Duration::from_millis(20 * u64::from(i)),
                Some(level),
                None,
            );
        }
        l
    }

    #[test]
    fn loudest_speakers_first_and_silence_ignored() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(1);
        let mics = vec![
            ("quiet", fed(t0, -90, 50)),
            ("loud", fed(t0, -10, 50)),
            ("medium", fed(t0, -30, 50)),
        ];
        assert_eq!(rank(now, mics.into_iter()), vec!["loud", "medium"]);
    }

    #[test]
    fn a_microphone_that_stopped_sending_is_not_speaking() {
        let t0 = Instant::now();
        let l = fed(t0, -10, 50);
        assert!(l.speaking(t0 + Duration::from_secs(1)).is_some());
        assert!(l.speaking(t0 + Duration::from_secs(5)).is_none());
    }

    #[test]
    fn one_loud_packet_counts_as_speech_at_once() {
        let t0 = Instant::now();
        let mut l = fed(t0, -100, 50);
        assert!(!l.voiced_within(t0 + Duration::from_secs(1), VOICE_HOLD));
        l.handle_level(t0 + Duration::from_secs(1), Some(-10), Some(true));
        assert!(l.voiced_within(t0 + Duration::from_secs(1), VOICE_HOLD));
        assert!(
            l.speaking(t0 + Duration::from_secs(1)).is_none(),
            "the average lags"
        );
        assert!(!l.voiced_within(t0 + Duration::from_secs(4), VOICE_HOLD));
    }

    #[test]
    fn voice_activity_false_counts_as_quiet() {
        let t0 = Instant::now();
        let mut l = Loudness::default();
        for i in 0..50 {
            l.handle_level(t0 + Duration::from_millis(20 * i), Some(-10), Some(false));
        }
        assert!(l.speaking(t0 + Duration::from_secs(1)).is_none());
    }
}
