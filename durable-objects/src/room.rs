//! The room state machine.
//!
//! Contract (as in str0m): after every `handle_*` call the caller drains
//! [`Room::poll_output`] until it returns `None`, carrying out each output in
//! order. A [`Output::Store`] precedes the [`Output::Broadcast`] of the same
//! message, so a message is durable before anyone sees it.

use std::collections::VecDeque;

use protocol::room::{
    ClientMessage, ErrorCode, MAX_FRAME_BYTES, MAX_TEXT_CHARS, Said, ServerMessage, close_code,
};

/// One WebSocket connection to the room, unique within the room's lifetime
/// (the shell keeps it in the socket's hibernation attachment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A frame as received from a socket.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame; only its length matters, the room speaks text.
    Binary(usize),
}

/// Something the shell must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Persist a chat message.
    Store(Said),
    /// Send a message to one connection.
    Send(ConnId, ServerMessage),
    /// Send a message to every connection of the room.
    Broadcast(ServerMessage),
    /// Close one connection.
    Close {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason, for people.
        reason: &'static str,
    },
}

/// The state of one room.
#[derive(Debug)]
pub struct Room {
    /// Sequence number the next accepted message gets; restored from storage
    /// when the object wakes, so the order has no gaps across hibernation.
    next_seq: u64,
    /// Outputs not yet drained by the shell.
    outputs: VecDeque<Output>,
}

impl Room {
    /// A room whose stored messages end at `last_seq` (0 when none).
    pub fn new(last_seq: u64) -> Self {
        Self {
            next_seq: last_seq + 1,
            outputs: VecDeque::new(),
        }
    }

    /// A socket joined; `history` is the latest stored messages, oldest first.
    pub fn handle_join(&mut self, conn: ConnId, history: Vec<Said>) {
        let welcome = ServerMessage::Welcome {
            protocol: protocol::room::PROTOCOL_VERSION,
            history,
        };
        self.outputs.push_back(Output::Send(conn, welcome));
    }

    /// A socket sent a frame at `now_ms` (milliseconds since the Unix epoch).
    pub fn handle_frame(&mut self, conn: ConnId, frame: Frame<'_>, now_ms: i64) {
        let len = match frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(n) => n,
        };
        if len > MAX_FRAME_BYTES {
            self.outputs.push_back(Output::Close {
                conn,
                code: close_code::MESSAGE_TOO_BIG,
                reason: "frame larger than 16 KiB",
            });
            return;
        }
        let Frame::Text(text) = frame else {
            self.refuse(
                conn,
                ErrorCode::Malformed,
                "binary frames are not part of the protocol",
            );
            return;
        };
        match ClientMessage::decode(text) {
            Ok(ClientMessage::Say { text }) => self.say(conn, text, now_ms),
            Err(e) => self.refuse(conn, ErrorCode::Malformed, &e.to_string()),
        }
    }

    /// Next thing the shell must do, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn say(&mut self, conn: ConnId, text: String, now_ms: i64) {
        if text.trim().is_empty() {
            return self.refuse(conn, ErrorCode::Empty, "message is empty");
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            let why = format!("message is longer than {MAX_TEXT_CHARS} characters");
            return self.refuse(conn, ErrorCode::TooLong, &why);
        }
        let said = Said {
            seq: self.next_seq,
            text,
            at_ms: now_ms,
        };
        self.next_seq += 1;
        self.outputs.push_back(Output::Store(said.clone()));
        self.outputs
            .push_back(Output::Broadcast(ServerMessage::Said(said)));
    }

    fn refuse(&mut self, conn: ConnId, code: ErrorCode, message: &str) {
        let error = ServerMessage::Error {
            code,
            message: message.to_owned(),
        };
        self.outputs.push_back(Output::Send(conn, error));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ConnId = ConnId(1);

    fn drain(room: &mut Room) -> Vec<Output> {
        std::iter::from_fn(|| room.poll_output()).collect()
    }

    fn say(text: &str) -> String {
        ClientMessage::Say { text: text.into() }.encode()
    }

    #[test]
    fn join_is_welcomed_with_history() {
        let mut room = Room::new(1);
        let old = Said {
            seq: 1,
            text: "earlier".into(),
            at_ms: 5,
        };
        room.handle_join(A, vec![old.clone()]);
        let out = drain(&mut room);
        assert_eq!(
            out,
            vec![Output::Send(
                A,
                ServerMessage::Welcome {
                    protocol: 1,
                    history: vec![old]
                }
            )]
        );
    }

    #[test]
    fn a_message_is_stored_then_broadcast_in_sequence() {
        let mut room = Room::new(41);
        room.handle_frame(A, Frame::Text(&say("hello")), 1000);
        room.handle_frame(A, Frame::Text(&say("<b>again</b>")), 1001);
        let first = Said {
            seq: 42,
            text: "hello".into(),
            at_ms: 1000,
        };
        let second = Said {
            seq: 43,
            text: "<b>again</b>".into(),
            at_ms: 1001,
        };
        assert_eq!(
            drain(&mut room),
            vec![
                Output::Store(first.clone()),
                Output::Broadcast(ServerMessage::Said(first)),
                Output::Store(second.clone()),
                Output::Broadcast(ServerMessage::Said(second)),
            ]
        );
    }

    fn refused(frame: Frame<'_>) -> ErrorCode {
        let mut room = Room::new(0);
        room.handle_frame(A, frame, 0);
        match drain(&mut room).as_slice() {
            [Output::Send(ConnId(1), ServerMessage::Error { code, .. })] => *code,
            other => panic!("expected one error, got {other:?}"),
        }
    }

    #[test]
    fn bad_input_is_refused_and_nothing_is_stored() {
        assert_eq!(refused(Frame::Text("{not json")), ErrorCode::Malformed);
        assert_eq!(
            refused(Frame::Text(r#"{"type":"nope"}"#)),
            ErrorCode::Malformed
        );
        assert_eq!(refused(Frame::Binary(3)), ErrorCode::Malformed);
        assert_eq!(refused(Frame::Text(&say("   \n"))), ErrorCode::Empty);
        assert_eq!(
            refused(Frame::Text(&say(&"é".repeat(MAX_TEXT_CHARS + 1)))),
            ErrorCode::TooLong
        );
    }

    #[test]
    fn a_refusal_does_not_consume_a_sequence_number() {
        let mut room = Room::new(0);
        room.handle_frame(A, Frame::Text("garbage"), 0);
        room.handle_frame(A, Frame::Text(&say("ok")), 0);
        let stored: Vec<u64> = drain(&mut room)
            .into_iter()
            .filter_map(|o| match o {
                Output::Store(s) => Some(s.seq),
                _ => None,
            })
            .collect();
        assert_eq!(stored, vec![1]);
    }

    #[test]
    fn an_oversized_frame_closes_only_that_connection() {
        let mut room = Room::new(0);
        let big = say(&"x".repeat(MAX_FRAME_BYTES));
        room.handle_frame(A, Frame::Text(&big), 0);
        room.handle_frame(ConnId(2), Frame::Binary(MAX_FRAME_BYTES + 1), 0);
        let out = drain(&mut room);
        assert!(matches!(
            out[0],
            Output::Close {
                conn: A,
                code: close_code::MESSAGE_TOO_BIG,
                ..
            }
        ));
        assert!(matches!(
            out[1],
            Output::Close {
                conn: ConnId(2),
                ..
            }
        ));
        assert_eq!(out.len(), 2);
    }
}
