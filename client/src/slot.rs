//! Video slots on the page: when a slot's frames belong to the track it was
//! just given. Pure.
//!
//! The node reuses a video section (a slot) for whichever track a tile
//! needs, and says so on the data channel (`Assign`), which can arrive
//! before the last frames of the slot's previous track were shown. The
//! slot's RTP timestamps only rise across tracks, so a frame belongs to the
//! new track once its RTP time reaches the one `Assign` named.

/// Whether a frame with RTP time `rtp_time` is of the track that took the
/// slot at `from` (32-bit RTP time wraps: "reached" means at most half the
/// range ahead).
pub fn reached(rtp_time: u32, from: u32) -> bool {
    rtp_time.wrapping_sub(from) < 1 << 31
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_from_the_assigned_time_on_belong_to_the_new_track() {
        assert!(reached(1000, 1000));
        assert!(reached(1001, 1000));
        assert!(!reached(999, 1000), "the previous holder's last frame");
        // Across the wrap of RTP time.
        assert!(reached(5, u32::MAX - 5));
        assert!(!reached(u32::MAX - 6, u32::MAX - 5));
    }
}
