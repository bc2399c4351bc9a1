//! Connection quality of a received track, from two `getStats()` samples.
//! Pure, so it is tested natively; `ui::call` samples the browser.

/// Counters of one inbound track at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// When, in milliseconds.
    pub at_ms: f64,
    /// RTP packets received so far.
    pub packets_received: u64,
    /// RTP packets lost so far (may go down when late packets arrive).
    pub packets_lost: i64,
    /// Video frames decoded so far (0 for audio).
    pub frames_decoded: u64,
}

/// Whether a video track decoded frames between two samples: a shared
/// screen whose owner is not sharing sends nothing, and its tile stays out
/// of sight until it does.
pub fn flowing(before: &Sample, now: &Sample) -> bool {
    now.frames_decoded > before.frames_decoded
}

/// What a tile shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// Smooth.
    Good,
    /// Some loss or a low frame rate.
    Fair,
    /// Heavy loss or a stutter.
    Poor,
    /// Nothing arrives.
    Lost,
}

impl Quality {
    /// The wire-free name used as a CSS hook and for screen readers.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Fair => "fair",
            Quality::Poor => "poor",
            Quality::Lost => "lost",
        }
    }
}

/// Grades the interval between `before` and `now`; `video` tracks are also
/// judged by their frame rate.
pub fn grade(before: &Sample, now: &Sample, video: bool) -> Quality {
    let seconds = (now.at_ms - before.at_ms) / 1000.0;
    if seconds <= 0.0 {
        return Quality::Good;
    }
    let received = now.packets_received.saturating_sub(before.packets_received);
    let lost = (now.packets_lost - before.packets_lost).max(0) as u64;
    if received == 0 {
        return Quality::Lost;
    }
    let loss = lost as f64 / (received + lost) as f64;
    let fps = now.frames_decoded.saturating_sub(before.frames_decoded) as f64 / seconds;
    if loss > 0.10 || (video && fps < 5.0) {
        Quality::Poor
    } else if loss > 0.02 || (video && fps < 15.0) {
        Quality::Fair
    } else {
        Quality::Good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: f64, received: u64, lost: i64, frames: u64) -> Sample {
        Sample {
            at_ms,
            packets_received: received,
            packets_lost: lost,
            frames_decoded: frames,
        }
    }

    #[test]
    fn a_track_flows_while_frames_are_decoded() {
        assert!(flowing(&s(0.0, 10, 0, 5), &s(2000.0, 70, 0, 60)));
        assert!(!flowing(&s(0.0, 10, 0, 60), &s(2000.0, 12, 0, 60)));
    }

    #[test]
    fn grades_by_loss_and_frame_rate() {
        let start = s(0.0, 0, 0, 0);
        assert_eq!(grade(&start, &s(2000.0, 200, 0, 60), true), Quality::Good);
        assert_eq!(grade(&start, &s(2000.0, 200, 6, 60), true), Quality::Fair);
        assert_eq!(grade(&start, &s(2000.0, 200, 40, 60), true), Quality::Poor);
        assert_eq!(grade(&start, &s(2000.0, 200, 0, 20), true), Quality::Fair);
        assert_eq!(grade(&start, &s(2000.0, 200, 0, 4), true), Quality::Poor);
        // Audio is judged by loss only.
        assert_eq!(grade(&start, &s(2000.0, 100, 0, 0), false), Quality::Good);
        assert_eq!(
            grade(&s(0.0, 100, 0, 0), &s(2000.0, 100, 0, 0), false),
            Quality::Lost
        );
        // Late packets lower the loss count; that is not negative loss.
        assert_eq!(
            grade(&s(0.0, 0, 5, 0), &s(2000.0, 100, 3, 0), false),
            Quality::Good
        );
    }
}
