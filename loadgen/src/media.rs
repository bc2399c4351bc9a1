//! Synthetic media: VP8 packets for three simulcast layers and Opus packets,
//! each ending with a trailer (publisher, layer, send time) that the
//! receiving peer reads back to measure loss and latency. The VP8 payload
//! descriptor and frame header are real, so an SFU that looks for keyframes
//! and frame sizes (ours does, to switch layers) sees what a browser sends.

use std::time::Duration;

/// Simulcast layers, lowest first, as rids.
pub const RIDS: [&str; 3] = ["l", "m", "h"];

/// Frame size per layer (a 16:9 camera).
pub const LAYER_SIZE: [(u16, u16); 3] = [(320, 180), (640, 360), (1280, 720)];

/// Payload bytes per frame per layer: one packet per frame per layer,
/// about 100, 250 and 700 kbit/s at 30 fps.
pub const LAYER_BYTES: [usize; 3] = [400, 1000, 1150];

/// Opus packet size (a 20 ms frame at ~24 kbit/s).
pub const OPUS_BYTES: usize = 60;

/// Marks the "layer" of an audio packet in the trailer.
pub const AUDIO: u8 = 3;

/// Video frame period (30 fps).
pub const FRAME: Duration = Duration::from_nanos(33_333_333);

/// Opus packet period while talking.
pub const AUDIO_FRAME: Duration = Duration::from_millis(20);

/// Opus packet period while silent (DTX sends a comfort-noise packet about
/// every 400 ms).
pub const DTX_FRAME: Duration = Duration::from_millis(400);

/// Keyframe interval in frames, besides answering requests.
pub const KEYFRAME_EVERY: u64 = 300;

/// Bytes of the trailer: publisher (u16), layer (u8), send time (u64 ns).
const TRAILER: usize = 11;

/// What the trailer of a received packet says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Index of the publishing peer.
    pub publisher: u16,
    /// Layer 0..3, or [`AUDIO`].
    pub layer: u8,
    /// Nanoseconds since the generator's epoch when it was written.
    pub sent: u64,
}

impl Trailer {
    fn write(&self, p: &mut Vec<u8>) {
        p.extend_from_slice(&self.publisher.to_le_bytes());
        p.push(self.layer);
        p.extend_from_slice(&self.sent.to_le_bytes());
    }

    /// Reads the trailer of `payload`; `None` if it is too short or names
    /// no layer (packets from elsewhere, padding).
    pub fn read(payload: &[u8]) -> Option<Trailer> {
        let at = payload.len().checked_sub(TRAILER)?;
        let t = &payload[at..];
        let layer = t[2];
        if layer > AUDIO {
            return None;
        }
        let mut sent = [0u8; 8];
        sent.copy_from_slice(&t[3..11]);
        Some(Trailer {
            publisher: u16::from_le_bytes([t[0], t[1]]),
            layer,
            sent: u64::from_le_bytes(sent),
        })
    }
}

/// One VP8 packet carrying a whole frame of `layer`: payload descriptor with
/// a 15-bit picture id and the start bit, the frame header (with the
/// dimensions on keyframes), filler, then the trailer.
pub fn vp8(picture_id: u16, keyframe: bool, trailer: Trailer) -> Vec<u8> {
    let layer = usize::from(trailer.layer).min(2);
    let len = LAYER_BYTES[layer];
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&[
        0x90,
        0x80,
        0x80 | (picture_id >> 8) as u8 & 0x7f,
        picture_id as u8,
    ]);
    let (w, h) = LAYER_SIZE[layer];
    if keyframe {
        p.extend_from_slice(&[0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a]);
    } else {
        p.extend_from_slice(&[0x01, 0x00, 0x00, 0x00, 0x00, 0x00]);
    }
    p.extend_from_slice(&w.to_le_bytes());
    p.extend_from_slice(&h.to_le_bytes());
    p.resize(len - TRAILER, 0x55);
    trailer.write(&mut p);
    p
}

/// One Opus packet (a TOC byte, filler, the trailer).
pub fn opus(trailer: Trailer) -> Vec<u8> {
    let mut p = Vec::with_capacity(OPUS_BYTES);
    p.push(0xfc);
    p.resize(OPUS_BYTES - TRAILER, 0x33);
    trailer.write(&mut p);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_come_back_from_both_kinds_of_packet() {
        let t = Trailer {
            publisher: 513,
            layer: 2,
            sent: 0x0102_0304_0506_0708,
        };
        let p = vp8(77, true, t);
        assert_eq!(p.len(), LAYER_BYTES[2]);
        assert_eq!(Trailer::read(&p), Some(t));
        assert_eq!(&p[..4], &[0x90, 0x80, 0x80, 77]);
        assert_eq!(&p[4..10], &[0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a]);
        assert_eq!(&p[10..14], &[0x00, 0x05, 0xd0, 0x02]);
        let a = Trailer { layer: AUDIO, ..t };
        assert_eq!(Trailer::read(&opus(a)), Some(a));
        assert_eq!(Trailer::read(&[1, 2, 3]), None);
        assert_eq!(Trailer::read(&[9; 20]), None);
    }
}
