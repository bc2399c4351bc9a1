//! The room as this client knows it: who is there, the conversations (the
//! room and each direct-message partner) with unread counts, the lobby.
//! Pure: the UI feeds it [`ServerMessage`]s and renders it.

use std::collections::BTreeMap;

use protocol::ParticipantId;
use protocol::access::RoomRole;
use protocol::room::{
    ChatMessage, PROTOCOL_VERSION, Participant, Person, RoomState, ServerMessage, close_code,
};

/// A conversation: the whole room, or direct messages with one participant.
pub type Conversation = Option<ParticipantId>;

/// Where this client stands with the room.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Standing {
    /// Connecting or reconnecting.
    #[default]
    Connecting,
    /// Waiting in the lobby.
    Waiting,
    /// In the room.
    In,
    /// Closed for good (removed, denied, ended, locked, full): why.
    Out(String),
}

/// The client's model of one room.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    /// Where we stand.
    pub standing: Standing,
    /// This participant, once welcomed.
    pub me: Option<Participant>,
    /// Everyone present, by id.
    pub participants: BTreeMap<ParticipantId, Participant>,
    /// Messages by `seq`.
    pub messages: BTreeMap<u64, ChatMessage>,
    /// Unread messages per conversation.
    pub unread: BTreeMap<Conversation, usize>,
    /// The conversation on screen.
    pub open: Conversation,
    /// Room state.
    pub room: Option<RoomState>,
    /// Hosts: who waits in the lobby.
    pub waiting: Vec<Person>,
    /// Hosts: who was removed.
    pub removed: Vec<Person>,
    /// The server's last refusal, until the next message of ours.
    pub last_error: Option<String>,
    /// Whether older messages remain to page in.
    pub more_history: bool,
    /// The layout a host pushed to everyone, if one holds.
    pub pushed_layout: Option<protocol::layout::PushedLayout>,
}

impl RoomView {
    /// The conversation a message belongs to, seen from here.
    pub fn conversation_of(&self, m: &ChatMessage) -> Conversation {
        let me = self.me.as_ref().map(|p| &p.id);
        match &m.to {
            None => None,
            Some(to) if Some(to) == me => Some(m.from.clone()),
            Some(to) => Some(to.clone()),
        }
    }

    /// The messages of the open conversation, oldest first.
    pub fn open_messages(&self) -> Vec<ChatMessage> {
        self.messages
            .values()
            .filter(|m| self.conversation_of(m) == self.open)
            .cloned()
            .collect()
    }

    /// Shows `conversation` and marks it read.
    pub fn open_conversation(&mut self, conversation: Conversation) {
        self.unread.remove(&conversation);
        self.open = conversation;
    }

    /// Everyone one can talk to or has talked to privately: those present,
    /// and earlier direct-message partners who left (their history stays
    /// readable), with display names.
    pub fn partners(&self) -> Vec<(ParticipantId, String)> {
        let me = self.me.as_ref().map(|m| &m.id);
        let mut partners: BTreeMap<ParticipantId, String> = self
            .participants
            .values()
            .filter(|p| Some(&p.id) != me)
            .map(|p| (p.id.clone(), p.name.clone()))
            .collect();
        for m in self.messages.values() {
            if let Some(partner) = self.conversation_of(m) {
                let name = if Some(&m.from) == me {
                    partner.to_string()
                } else {
                    m.from_name.clone()
                };
                partners.entry(partner).or_insert(name);
            }
        }
        partners.into_iter().collect()
    }

    /// Whether this client is a host.
    pub fn is_host(&self) -> bool {
        self.me.as_ref().is_some_and(|p| p.role == RoomRole::Host)
    }

    /// Whether this participant's role allows `permission` (the room checks
    /// again; this only decides what to offer).
    pub fn may(&self, permission: protocol::access::Permission) -> bool {
        self.me.as_ref().is_some_and(|p| {
            let grants = protocol::access::Grants {
                global: None,
                room: Some(p.role),
            };
            protocol::access::check(grants, permission).is_ok()
        })
    }

    /// The highest revision known, for resuming after a reconnect (new
    /// messages and changes to old ones both raise it).
    pub fn last_rev(&self) -> Option<u64> {
        self.messages.values().map(|m| m.rev).max()
    }

    fn insert(&mut self, m: ChatMessage, count_unread: bool) {
        let fresh = !self.messages.contains_key(&m.seq);
        let mine = self.me.as_ref().is_some_and(|p| p.id == m.from);
        let conversation = self.conversation_of(&m);
        if fresh && count_unread && !mine && conversation != self.open {
            *self.unread.entry(conversation).or_default() += 1;
        }
        self.messages.insert(m.seq, m);
    }

    /// Applies one server message.
    pub fn apply(&mut self, msg: ServerMessage) {
        match msg {
            ServerMessage::Welcome { protocol, .. } if protocol != PROTOCOL_VERSION => {
                self.standing = Standing::Out(
                    "a new version of openTelecon is available: reload the page".into(),
                );
            }
            ServerMessage::Welcome {
                you,
                participants,
                history,
                room,
                layout,
                ..
            } => {
                self.standing = Standing::In;
                self.pushed_layout = layout;
                self.participants = participants
                    .into_iter()
                    .map(|p| (p.id.clone(), p))
                    .collect();
                self.me = Some(you);
                self.room = Some(room);
                let resumed = !self.messages.is_empty();
                for m in history {
                    // Replayed messages missed while away count as unread.
                    self.insert(m, resumed);
                }
            }
            ServerMessage::Waiting => self.standing = Standing::Waiting,
            ServerMessage::Layout { pushed } => self.pushed_layout = pushed,
            // The whiteboards have their own model (`whiteboard.rs`).
            ServerMessage::Board { .. } | ServerMessage::BoardState { .. } => {}
            ServerMessage::Joined { participant } | ServerMessage::Updated { participant } => {
                if self.me.as_ref().is_some_and(|me| me.id == participant.id) {
                    self.me = Some(participant.clone());
                }
                self.participants
                    .insert(participant.id.clone(), participant);
            }
            ServerMessage::Left { id } => {
                self.participants.remove(&id);
            }
            ServerMessage::Chat { message } => {
                if self.me.as_ref().is_some_and(|me| me.id == message.from) {
                    self.last_error = None;
                }
                self.insert(message, true);
            }
            ServerMessage::Changed { message } => {
                self.messages.insert(message.seq, message);
            }
            ServerMessage::History { messages, more } => {
                self.more_history = more;
                for m in messages {
                    self.insert(m, false);
                }
            }
            ServerMessage::Room { room } => self.room = Some(room),
            ServerMessage::HostView { waiting, removed } => {
                self.waiting = waiting;
                self.removed = removed;
            }
            ServerMessage::Closing { code, reason } => {
                if is_final(code) {
                    self.standing = Standing::Out(reason);
                }
            }
            ServerMessage::Error { message, .. } => self.last_error = Some(message),
            // The call handles it (see `ui::call`).
            ServerMessage::MediaAnswer { .. } => {}
        }
    }
}

/// Whether a close code means "do not reconnect".
pub fn is_final(code: u16) -> bool {
    matches!(
        code,
        close_code::REMOVED
            | close_code::ENDED
            | close_code::LOCKED
            | close_code::FULL
            | close_code::DENIED
            | close_code::POLICY
            | close_code::MESSAGE_TOO_BIG
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> ParticipantId {
        ParticipantId::parse(s).unwrap()
    }

    fn person(id: &str) -> Participant {
        Participant {
            id: pid(id),
            name: id.into(),
            role: RoomRole::Participant,
            guest: false,
            hand_raised: false,
            mic_muted: false,
            camera_muted: false,
        }
    }

    fn msg(seq: u64, from: &str, to: Option<&str>) -> ChatMessage {
        ChatMessage {
            seq,
            from: pid(from),
            from_name: from.into(),
            to: to.map(pid),
            text: format!("m{seq}"),
            at_ms: 0,
            edited_ms: None,
            deleted: false,
            rev: seq,
        }
    }

    fn welcomed() -> RoomView {
        let mut v = RoomView::default();
        v.apply(ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            you: person("u-me"),
            participants: vec![person("u-me"), person("u-bob")],
            history: vec![msg(1, "u-bob", None)],
            room: RoomState {
                locked: false,
                lobby: false,
            },
            boards: Default::default(),
            layout: None,
        });
        v
    }

    #[test]
    fn direct_messages_form_one_conversation_per_partner_with_unread_counts() {
        let mut v = welcomed();
        assert_eq!(v.standing, Standing::In);
        assert!(v.unread.is_empty(), "history on join is not unread");
        v.apply(ServerMessage::Chat {
            message: msg(2, "u-bob", Some("u-me")),
        });
        v.apply(ServerMessage::Chat {
            message: msg(3, "u-me", Some("u-bob")),
        });
        v.apply(ServerMessage::Chat {
            message: msg(4, "u-bob", None),
        });
        assert_eq!(
            v.unread.get(&Some(pid("u-bob"))),
            Some(&1),
            "my own message is not unread"
        );
        assert_eq!(
            v.unread.get(&None),
            None,
            "the open conversation has no unread"
        );
        v.open_conversation(Some(pid("u-bob")));
        assert_eq!(
            v.open_messages().iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(v.unread.is_empty());
        v.apply(ServerMessage::Chat {
            message: msg(5, "u-bob", None),
        });
        assert_eq!(v.unread.get(&None), Some(&1));
    }

    #[test]
    fn replays_after_a_reconnect_merge_without_duplicates() {
        let mut v = welcomed();
        v.apply(ServerMessage::Chat {
            message: msg(2, "u-bob", None),
        });
        v.open_conversation(Some(pid("u-bob")));
        v.apply(ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            you: person("u-me"),
            participants: vec![person("u-me")],
            history: vec![msg(2, "u-bob", None), msg(3, "u-bob", None)],
            room: RoomState {
                locked: true,
                lobby: false,
            },
            boards: Default::default(),
            layout: None,
        });
        assert_eq!(
            v.messages.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(v.unread.get(&None), Some(&1), "only the one missed");
        assert_eq!(v.last_rev(), Some(3));
    }

    #[test]
    fn a_newer_server_asks_for_a_reload() {
        let mut v = RoomView::default();
        v.apply(ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION + 1,
            you: person("u-me"),
            participants: vec![],
            history: vec![],
            room: RoomState {
                locked: false,
                lobby: false,
            },
            boards: Default::default(),
            layout: None,
        });
        assert!(matches!(v.standing, Standing::Out(ref why) if why.contains("reload")));
    }

    #[test]
    fn partners_who_left_stay_in_the_picker() {
        let mut v = welcomed();
        v.apply(ServerMessage::Chat {
            message: msg(2, "u-bob", Some("u-me")),
        });
        v.apply(ServerMessage::Left { id: pid("u-bob") });
        assert_eq!(v.partners(), vec![(pid("u-bob"), "u-bob".to_owned())]);
    }

    #[test]
    fn presence_and_final_closes() {
        let mut v = welcomed();
        v.apply(ServerMessage::Left { id: pid("u-bob") });
        assert_eq!(v.participants.len(), 1);
        let mut me = person("u-me");
        me.role = RoomRole::Host;
        v.apply(ServerMessage::Updated { participant: me });
        assert!(v.is_host());
        v.apply(ServerMessage::Closing {
            code: close_code::REMOVED,
            reason: "removed".into(),
        });
        assert_eq!(v.standing, Standing::Out("removed".into()));
        assert!(!is_final(close_code::INTERNAL_ERROR));
    }
}
