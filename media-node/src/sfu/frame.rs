//! What the node reads from a video payload: whether the packet starts a
//! keyframe (a subscriber may switch layers only there), and the frame
//! height where the payload states it cheaply (VP8 keyframe header, VP9
//! scalability structure). One reader per codec, each bounded by the
//! payload's length: a malformed payload reads as "not a keyframe, height
//! unknown", never as an error.
//!
//! Why not str0m's `detect_*_keyframe`: a subscriber switches at the first
//! packet flagged, so the flag must mark the frame's first packet. str0m's
//! VP9 check flags every packet of a keyframe (P clear), and its H.264 check
//! looks for IDR only, so a switch there would lose the parameter sets sent
//! just before it.

use str0m::format::Codec;

/// What one video packet says about its frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The packet starts (or carries the start of) a keyframe.
    pub keyframe: bool,
    /// The frame height in pixels, when this packet states it.
    pub height: Option<u32>,
}

/// Reads a video payload of `codec`.
pub fn inspect(codec: Option<Codec>, payload: &[u8]) -> Frame {
    match codec {
        Some(Codec::Vp8) => vp8(payload),
        Some(Codec::Vp9) => vp9(payload),
        Some(Codec::H264) => h264(payload),
        Some(Codec::Av1) => av1(payload),
        _ => Frame::default(),
    }
}

/// The length of a VP8 payload descriptor (RFC 7741 section 4.2).
pub fn vp8_descriptor_len(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    if first & 0x80 == 0 {
        return Some(1);
    }
    let ext = *payload.get(1)?;
    let mut n = 2;
    if ext & 0x80 != 0 {
        n += if payload.get(n)? & 0x80 != 0 { 2 } else { 1 };
    }
    if ext & 0x40 != 0 {
        n += 1;
    }
    if ext & 0x30 != 0 {
        n += 1;
    }
    (n <= payload.len()).then_some(n)
}

/// The frame height of a VP8 keyframe whose first packet's VP8 payload
/// (after the descriptor) is `frame`, per RFC 6386 section 9.1.
pub fn vp8_keyframe_height(frame: &[u8]) -> Option<u32> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    Some(u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff))
}

/// VP8: the first packet of partition 0 (S set, PID 0) of a frame whose
/// frame tag says key (RFC 7741 section 4.3, RFC 6386 section 9.1).
fn vp8(payload: &[u8]) -> Frame {
    let Some(&first) = payload.first() else {
        return Frame::default();
    };
    let Some(frame) = vp8_descriptor_len(payload).and_then(|n| payload.get(n..)) else {
        return Frame::default();
    };
    let start = first & 0x10 != 0 && first & 0x07 == 0;
    let keyframe = start && frame.first().is_some_and(|b| b & 1 == 0);
    Frame {
        keyframe,
        height: if keyframe {
            vp8_keyframe_height(frame)
        } else {
            None
        },
    }
}

/// VP9 (RFC 9628): the beginning of a frame (B) that is not inter-picture
/// predicted (P clear) in spatial layer 0; the height is the top spatial
/// layer's in the scalability structure, which senders attach to keyframes.
fn vp9(payload: &[u8]) -> Frame {
    vp9_read(payload).unwrap_or_default()
}

fn vp9_read(payload: &[u8]) -> Option<Frame> {
    let first = *payload.first()?;
    let (i, p, l, f, b, v) = (
        first & 0x80 != 0,
        first & 0x40 != 0,
        first & 0x20 != 0,
        first & 0x10 != 0,
        first & 0x08 != 0,
        first & 0x02 != 0,
    );
    let mut n = 1;
    if i {
        n += if payload.get(n)? & 0x80 != 0 { 2 } else { 1 };
    }
    let mut spatial = 0;
    if l {
        spatial = (payload.get(n)? >> 1) & 0x07;
        n += if f { 1 } else { 2 };
    }
    if f && p {
        // Up to three reference differences, each flagging the next.
        for _ in 0..3 {
            let more = payload.get(n)? & 0x01 != 0;
            n += 1;
            if !more {
                break;
            }
        }
    }
    let keyframe = b && !p && spatial == 0;
    let mut height = None;
    if v {
        let ss = *payload.get(n)?;
        let layers = usize::from(ss >> 5) + 1;
        if ss & 0x10 != 0 {
            let last = n + 1 + (layers - 1) * 4;
            let h = payload.get(last + 2..last + 4)?;
            height = Some(u32::from(u16::from_be_bytes([h[0], h[1]])));
        }
    }
    Some(Frame { keyframe, height })
}

/// H.264 (RFC 6184): a packet carrying a sequence parameter set or the start
/// of an IDR slice, alone, in a STAP-A or as the first FU-A fragment.
fn h264(payload: &[u8]) -> Frame {
    const IDR: u8 = 5;
    const SPS: u8 = 7;
    const STAP_A: u8 = 24;
    const FU_A: u8 = 28;
    let starts_key = |nal: u8| matches!(nal & 0x1f, IDR | SPS);
    let Some(&header) = payload.first() else {
        return Frame::default();
    };
    let keyframe = match header & 0x1f {
        STAP_A => {
            let mut n = 1;
            let mut found = false;
            while let Some(size) = payload.get(n..n + 2) {
                let size = usize::from(u16::from_be_bytes([size[0], size[1]]));
                let Some(&nal) = payload.get(n + 2) else {
                    break;
                };
                found |= size > 0 && starts_key(nal);
                n += 2 + size;
            }
            found
        }
        FU_A => payload
            .get(1)
            .is_some_and(|&fu| fu & 0x80 != 0 && starts_key(fu)),
        _ => starts_key(header),
    };
    Frame {
        keyframe,
        height: None,
    }
}

/// AV1 (the AOM RTP payload format): the aggregation header's N bit marks
/// the first packet of a coded video sequence, which starts with a keyframe.
fn av1(payload: &[u8]) -> Frame {
    Frame {
        keyframe: payload.first().is_some_and(|b| b & 0x08 != 0),
        height: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_descriptor_lengths() {
        assert_eq!(vp8_descriptor_len(&[0x10, 0xaa]), Some(1));
        // X, then I with a 15-bit picture id, L and T.
        assert_eq!(
            vp8_descriptor_len(&[0x90, 0xe0, 0x81, 0x02, 0x05, 0x20, 0xaa]),
            Some(6)
        );
        assert_eq!(vp8_descriptor_len(&[0x90, 0x80]), None);
        assert_eq!(vp8_descriptor_len(&[]), None);
    }

    /// Frame tag (keyframe bit 0), start code, 640x360.
    const VP8_KEY: [u8; 10] = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01];

    #[test]
    fn vp8_keyframes_and_their_height() {
        assert_eq!(vp8_keyframe_height(&VP8_KEY), Some(360));
        assert_eq!(vp8_keyframe_height(&VP8_KEY[..5]), None);
        let mut packet = vec![0x10];
        packet.extend_from_slice(&VP8_KEY);
        let f = inspect(Some(Codec::Vp8), &packet);
        assert_eq!(
            f,
            Frame {
                keyframe: true,
                height: Some(360)
            }
        );
        // An inter frame, and a keyframe's later partition, are not starts.
        packet[1] |= 1;
        assert!(!inspect(Some(Codec::Vp8), &packet).keyframe);
        packet[1] &= !1;
        packet[0] = 0x00;
        assert!(!inspect(Some(Codec::Vp8), &packet).keyframe);
    }

    #[test]
    fn vp9_keyframes_and_the_scalability_structure() {
        // I (7-bit picture id), B, V; SS with one layer and Y: 640x360.
        let key = [0x8a, 0x05, 0x10, 0x02, 0x80, 0x01, 0x68, 0xaa];
        assert_eq!(
            inspect(Some(Codec::Vp9), &key),
            Frame {
                keyframe: true,
                height: Some(360)
            }
        );
        // The same with P (inter-predicted): not a keyframe.
        let mut inter = key;
        inter[0] |= 0x40;
        assert!(!inspect(Some(Codec::Vp9), &inter).keyframe);
        // Not the beginning of the frame.
        let mut middle = key;
        middle[0] &= !0x08;
        assert!(!inspect(Some(Codec::Vp9), &middle).keyframe);
        // A truncated structure gives nothing rather than garbage.
        assert_eq!(inspect(Some(Codec::Vp9), &key[..4]), Frame::default());
        // L with spatial id 1 in non-flexible mode: not the base layer.
        let upper = [0xa8, 0x05, 0x02, 0x00, 0xaa];
        assert!(!inspect(Some(Codec::Vp9), &upper).keyframe);
    }

    #[test]
    fn h264_keyframes_alone_aggregated_and_fragmented() {
        // Single NAL units: IDR and SPS start keyframes; a non-IDR slice not.
        assert!(inspect(Some(Codec::H264), &[0x65, 0x88]).keyframe);
        assert!(inspect(Some(Codec::H264), &[0x67, 0x42]).keyframe);
        assert!(!inspect(Some(Codec::H264), &[0x41, 0x9a]).keyframe);
        // STAP-A carrying SPS and PPS.
        let stap = [0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce];
        assert!(inspect(Some(Codec::H264), &stap).keyframe);
        // STAP-A with a size running past the end: read safely.
        assert!(!inspect(Some(Codec::H264), &[0x78, 0xff, 0xff, 0x41]).keyframe);
        // FU-A: the first fragment of an IDR, then a middle one.
        assert!(inspect(Some(Codec::H264), &[0x7c, 0x85, 0x00]).keyframe);
        assert!(!inspect(Some(Codec::H264), &[0x7c, 0x05, 0x00]).keyframe);
        assert!(!inspect(Some(Codec::H264), &[]).keyframe);
    }

    #[test]
    fn av1_new_coded_video_sequence_is_a_keyframe() {
        assert!(inspect(Some(Codec::Av1), &[0x18, 0x00]).keyframe);
        assert!(!inspect(Some(Codec::Av1), &[0x10, 0x00]).keyframe);
        assert_eq!(inspect(None, &[0x18]), Frame::default());
    }
}
