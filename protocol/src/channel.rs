//! Framing on the `sfu` data channel between a browser and its media node.
//!
//! A message that fits in [`CHUNK_BYTES`] travels as itself (JSON, so it
//! starts with `{`). A larger one (the node's offer in a room of 64 is over
//! 100 KB) travels as parts: `+` and a slice while more follow, `.` and the
//! last slice. No side then depends on the other's SCTP max-message-size
//! (64 KiB by default, and RFC 8831 advises 16 KiB for interoperability),
//! and a sender's buffer never needs to hold one huge message.

/// The largest frame either side sends.
pub const CHUNK_BYTES: usize = 16 * 1024;

/// The largest message reassembled; parts beyond it are refused.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

const MORE: char = '+';
const LAST: char = '.';

/// Splits a message into the frames that carry it.
pub fn split(message: &str) -> Vec<String> {
    if message.len() <= CHUNK_BYTES {
        return vec![message.to_owned()];
    }
    let room = CHUNK_BYTES - 1;
    let mut frames = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        let mut cut = rest.len().min(room);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (part, tail) = rest.split_at(cut);
        let mark = if tail.is_empty() { LAST } else { MORE };
        frames.push(format!("{mark}{part}"));
        rest = tail;
    }
    frames
}

/// A frame that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Larger than [`CHUNK_BYTES`].
    FrameTooLarge,
    /// The parts add up to more than [`MAX_MESSAGE_BYTES`].
    MessageTooLarge,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::FrameTooLarge => write!(f, "frame over {CHUNK_BYTES} bytes"),
            FrameError::MessageTooLarge => write!(f, "message over {MAX_MESSAGE_BYTES} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Puts parts back together, one per receiving channel.
#[derive(Debug, Default)]
pub struct Reassembly {
    partial: String,
}

impl Reassembly {
    /// Takes one frame; returns a whole message once it is complete. After
    /// an error the partial message is dropped and the next frame starts
    /// afresh.
    pub fn handle(&mut self, frame: &str) -> Result<Option<String>, FrameError> {
        if frame.len() > CHUNK_BYTES {
            self.partial.clear();
            return Err(FrameError::FrameTooLarge);
        }
        let (more, body) = match frame.chars().next() {
            Some(MORE) => (true, &frame[1..]),
            Some(LAST) => (false, &frame[1..]),
            // A whole message; a stray partial before it is abandoned.
            _ => {
                self.partial.clear();
                return Ok(Some(frame.to_owned()));
            }
        };
        if self.partial.len() + body.len() > MAX_MESSAGE_BYTES {
            self.partial = String::new();
            return Err(FrameError::MessageTooLarge);
        }
        self.partial.push_str(body);
        if more {
            Ok(None)
        } else {
            Ok(Some(std::mem::take(&mut self.partial)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reassemble(frames: &[String]) -> Vec<String> {
        let mut r = Reassembly::default();
        frames.iter().filter_map(|f| r.handle(f).unwrap()).collect()
    }

    #[test]
    fn small_messages_travel_as_themselves() {
        let m = r#"{"type":"speakers","ids":[]}"#;
        assert_eq!(split(m), [m]);
        assert_eq!(reassemble(&split(m)), [m]);
    }

    #[test]
    fn large_messages_split_into_bounded_frames_and_come_back_whole() {
        // Multi-byte characters straddle the cut points.
        let m = format!("{{\"sdp\":\"{}\"}}", "é-v=0\r\n".repeat(20_000));
        let frames = split(&m);
        assert!(frames.len() > 8, "{}", frames.len());
        assert!(frames.iter().all(|f| f.len() <= CHUNK_BYTES));
        assert!(
            frames[..frames.len() - 1]
                .iter()
                .all(|f| f.starts_with('+'))
        );
        assert!(frames.last().unwrap().starts_with('.'));
        assert_eq!(reassemble(&frames), std::slice::from_ref(&m));
        // Two messages in a row, the second small.
        let mut both = frames.clone();
        both.push("{}".into());
        assert_eq!(reassemble(&both), [m, "{}".to_owned()]);
    }

    #[test]
    fn oversized_frames_and_messages_are_refused_and_forgotten() {
        let mut r = Reassembly::default();
        let big = format!("+{}", "x".repeat(CHUNK_BYTES));
        assert_eq!(r.handle(&big), Err(FrameError::FrameTooLarge));
        let part = format!("+{}", "x".repeat(CHUNK_BYTES - 1));
        let mut refused = false;
        for _ in 0..(MAX_MESSAGE_BYTES / (CHUNK_BYTES - 1) + 2) {
            if r.handle(&part) == Err(FrameError::MessageTooLarge) {
                refused = true;
                break;
            }
        }
        assert!(refused);
        // Nothing of the refused message leaks into the next one.
        assert_eq!(r.handle(".{}"), Ok(Some("{}".to_owned())));
    }
}
