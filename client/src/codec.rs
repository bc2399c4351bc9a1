//! The video codec a participant publishes in. Pure: which capabilities of
//! `RTCRtpSender.getCapabilities('video')` to offer, tested natively.
//!
//! The media node forwards without transcoding, so a subscriber receives a
//! track only in its publisher's codec. VP8 is the default because every
//! browser decodes it; VP9 and AV1 give sharper text and lower bitrates at
//! more CPU, H.264 uses hardware encoders where they exist.

/// A codec the media node accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoCodec {
    /// VP8, the default.
    #[default]
    Vp8,
    /// VP9 profile 0.
    Vp9,
    /// H.264 constrained baseline, packetization mode 1.
    H264,
    /// AV1.
    Av1,
}

impl VideoCodec {
    /// Every choice, in the order a picker lists them.
    pub const ALL: [VideoCodec; 4] = [
        VideoCodec::Vp8,
        VideoCodec::Vp9,
        VideoCodec::H264,
        VideoCodec::Av1,
    ];

    /// The value stored and used in form fields.
    pub fn as_str(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "vp8",
            VideoCodec::Vp9 => "vp9",
            VideoCodec::H264 => "h264",
            VideoCodec::Av1 => "av1",
        }
    }

    /// Reads a stored value; anything unknown is the default.
    pub fn parse(value: &str) -> VideoCodec {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
            .unwrap_or_default()
    }

    /// What a picker shows.
    pub fn label(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "VP8 (works everywhere)",
            VideoCodec::Vp9 => "VP9",
            VideoCodec::H264 => "H.264",
            VideoCodec::Av1 => "AV1",
        }
    }

    /// Whether a capability (`mimeType`, `sdpFmtpLine`) is one to offer:
    /// this codec in the variant the node configures, or retransmission.
    pub fn offers(self, mime: &str, fmtp: &str) -> bool {
        let mime = mime.to_ascii_lowercase();
        let has = |param: &str| fmtp.split(';').any(|p| p.trim() == param);
        match (self, mime.as_str()) {
            (_, "video/rtx") => true,
            (VideoCodec::Vp8, "video/vp8") | (VideoCodec::Av1, "video/av1") => true,
            (VideoCodec::Vp9, "video/vp9") => !fmtp.contains("profile-id") || has("profile-id=0"),
            (VideoCodec::H264, "video/h264") => {
                has("packetization-mode=1") && has("profile-level-id=42e01f")
            }
            _ => false,
        }
    }

    /// The scalability mode for each simulcast layer, where one must be set:
    /// without it Chromium sends VP9 and AV1 as one SVC stream instead of
    /// three independent layers.
    pub fn scalability_mode(self) -> Option<&'static str> {
        match self {
            VideoCodec::Vp8 | VideoCodec::H264 => None,
            VideoCodec::Vp9 | VideoCodec::Av1 => Some("L1T1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip_and_unknown_is_vp8() {
        for c in VideoCodec::ALL {
            assert_eq!(VideoCodec::parse(c.as_str()), c);
        }
        assert_eq!(VideoCodec::parse("theora"), VideoCodec::Vp8);
        assert_eq!(VideoCodec::parse(""), VideoCodec::Vp8);
    }

    #[test]
    fn only_the_chosen_codec_and_rtx_are_offered() {
        let caps = [
            ("video/VP8", ""),
            ("video/rtx", ""),
            (
                "video/H264",
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
            ),
            (
                "video/H264",
                "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
            ),
            (
                "video/H264",
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            ),
            ("video/AV1", "level-idx=5;profile=0;tier=0"),
            ("video/VP9", "profile-id=0"),
            ("video/VP9", "profile-id=2"),
            ("video/red", ""),
        ];
        let offered = |c: VideoCodec| -> Vec<usize> {
            (0..caps.len())
                .filter(|&i| c.offers(caps[i].0, caps[i].1))
                .collect()
        };
        assert_eq!(offered(VideoCodec::Vp8), [0, 1]);
        assert_eq!(offered(VideoCodec::H264), [1, 4]);
        assert_eq!(offered(VideoCodec::Av1), [1, 5]);
        assert_eq!(offered(VideoCodec::Vp9), [1, 6]);
    }
}
