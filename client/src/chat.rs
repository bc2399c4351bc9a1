//! The room's message log as this client knows it.

use protocol::room::{Said, ServerMessage};

/// Messages in `seq` order, without duplicates, plus the last refusal.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ChatLog {
    /// Known messages, sorted by `seq`.
    pub messages: Vec<Said>,
    /// The server's last error, shown until the next successful send.
    pub last_error: Option<String>,
}

impl ChatLog {
    /// Applies one server message.
    pub fn apply(&mut self, msg: ServerMessage) {
        match msg {
            ServerMessage::Welcome { history, .. } => {
                for said in history {
                    self.insert(said);
                }
            }
            ServerMessage::Said(said) => {
                self.last_error = None;
                self.insert(said);
            }
            ServerMessage::Error { message, .. } => self.last_error = Some(message),
        }
    }

    fn insert(&mut self, said: Said) {
        // Reconnects replay history that may overlap what is shown.
        if let Err(at) = self.messages.binary_search_by_key(&said.seq, |m| m.seq) {
            self.messages.insert(at, said);
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::room::ErrorCode;

    use super::*;

    fn said(seq: u64) -> Said {
        Said {
            seq,
            text: format!("m{seq}"),
            at_ms: 0,
        }
    }

    #[test]
    fn history_and_live_messages_merge_in_order_without_duplicates() {
        let mut log = ChatLog::default();
        log.apply(ServerMessage::Said(said(3)));
        log.apply(ServerMessage::Welcome {
            protocol: 1,
            history: vec![said(1), said(2), said(3)],
        });
        log.apply(ServerMessage::Said(said(4)));
        let seqs: Vec<u64> = log.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4]);
    }

    #[test]
    fn errors_show_until_the_next_message() {
        let mut log = ChatLog::default();
        log.apply(ServerMessage::Error {
            code: ErrorCode::Empty,
            message: "message is empty".into(),
        });
        assert_eq!(log.last_error.as_deref(), Some("message is empty"));
        log.apply(ServerMessage::Said(said(1)));
        assert_eq!(log.last_error, None);
    }
}
