//! The room state machine, driven deterministically: sockets are ids, time is
//! a number, storage is a vector.
#![allow(clippy::unwrap_used)] // a test harness: a failed unwrap is a failed test

use std::collections::HashMap;

use durable_objects::room::{
    ConnId, Frame, GRACE_MS, MediaRefusal, Output, Room, Snapshot, Store, StoreError,
};
use protocol::ParticipantId;
use protocol::access::RoomRole;
use protocol::board::{BoardChange, BoardId, BoardOp, Color, DrawPolicy, Point, Shape};
use protocol::media::{MediaClaims, Source, TrackSource};
use protocol::room::{
    ChatMessage, ClientMessage, ErrorCode, Identity, MAX_FRAME_BYTES, ServerMessage, Track,
    close_code,
};

mod memory;

#[derive(Default)]
struct Memory {
    messages: Vec<ChatMessage>,
    snapshot: Option<Snapshot>,
    boards: memory::MemoryBoards,
}

fn visible(m: &ChatMessage, viewer: &ParticipantId) -> bool {
    m.to.is_none() || &m.from == viewer || m.to.as_ref() == Some(viewer)
}

impl Store for Memory {
    type Boards = memory::MemoryBoards;
    fn boards(&mut self) -> &mut memory::MemoryBoards {
        &mut self.boards
    }
    fn boards_ref(&self) -> &memory::MemoryBoards {
        &self.boards
    }
    fn append(&mut self, message: &ChatMessage) -> Result<(), StoreError> {
        self.messages.push(message.clone());
        Ok(())
    }
    fn replace(&mut self, message: &ChatMessage) -> Result<(), StoreError> {
        let slot = self
            .messages
            .iter_mut()
            .find(|m| m.seq == message.seq)
            .ok_or(StoreError("gone".into()))?;
        *slot = message.clone();
        Ok(())
    }
    fn get(&self, seq: u64) -> Option<ChatMessage> {
        self.messages.iter().find(|m| m.seq == seq).cloned()
    }
    fn after(&self, viewer: &ParticipantId, after_rev: u64, limit: usize) -> Vec<ChatMessage> {
        let v: Vec<_> = self
            .messages
            .iter()
            .filter(|m| m.rev > after_rev && visible(m, viewer))
            .cloned()
            .collect();
        v[v.len().saturating_sub(limit)..].to_vec()
    }

    fn before(&self, viewer: &ParticipantId, before: u64, limit: usize) -> Vec<ChatMessage> {
        let v: Vec<_> = self
            .messages
            .iter()
            .filter(|m| m.seq < before && visible(m, viewer))
            .cloned()
            .collect();
        v[v.len().saturating_sub(limit)..].to_vec()
    }
    fn save(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }
}

/// A room, its storage, its clock and what each socket received.
struct Sim {
    room: Room,
    store: Memory,
    now: i64,
    next_conn: u64,
    inbox: HashMap<ConnId, Vec<ServerMessage>>,
    closed: HashMap<ConnId, u16>,
    side_effects: Vec<Output>,
    lobby: bool,
    locked: bool,
    max: u32,
}

fn pid(s: &str) -> ParticipantId {
    ParticipantId::parse(s).unwrap()
}

impl Sim {
    fn new() -> Self {
        Sim {
            room: Room::new(),
            store: Memory::default(),
            now: 1_000_000,
            next_conn: 1,
            inbox: HashMap::new(),
            closed: HashMap::new(),
            side_effects: vec![],
            lobby: false,
            locked: false,
            max: 100,
        }
    }

    fn identity(&self, id: &str, role: RoomRole) -> Identity {
        Identity {
            room: protocol::RoomId::parse("r1").unwrap(),
            id: pid(id),
            name: format!("name of {id}"),
            role,
            guest: id.starts_with("g-"),
            lobby: self.lobby,
            locked: self.locked,
            max_participants: self.max,
            near: None,
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.room.poll_output() {
            match out {
                Output::Send(to, msg) => {
                    for c in to {
                        assert!(
                            !self.closed.contains_key(&c),
                            "sent to closed {c:?}: {msg:?}"
                        );
                        self.inbox.entry(c).or_default().push(msg.clone());
                    }
                }
                Output::Close { conn, code, .. } => {
                    self.closed.insert(conn, code);
                }
                other => self.side_effects.push(other),
            }
        }
    }

    fn connect_after(&mut self, id: &str, role: RoomRole, after: Option<u64>) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let identity = self.identity(id, role);
        self.room
            .handle_connect(conn, identity, after, self.now, &mut self.store);
        self.drain();
        conn
    }

    fn connect(&mut self, id: &str, role: RoomRole) -> ConnId {
        self.connect_after(id, role, None)
    }

    fn send(&mut self, conn: ConnId, msg: ClientMessage) {
        self.room
            .handle_frame(conn, Frame::Text(&msg.encode()), self.now, &mut self.store);
        self.drain();
    }

    fn disconnect(&mut self, conn: ConnId) {
        self.room.handle_disconnect(conn, self.now, &mut self.store);
        self.drain();
    }

    fn advance(&mut self, ms: i64) {
        self.now += ms;
        if self.room.poll_timeout().is_some_and(|t| t <= self.now) {
            self.room.handle_tick(self.now, &mut self.store);
            self.drain();
        }
    }

    fn take(&mut self, conn: ConnId) -> Vec<ServerMessage> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    fn chats(&mut self, conn: ConnId) -> Vec<(u64, String)> {
        self.take(conn)
            .into_iter()
            .filter_map(|m| match m {
                ServerMessage::Chat { message } => Some((message.seq, message.text)),
                _ => None,
            })
            .collect()
    }

    fn error(&mut self, conn: ConnId) -> ErrorCode {
        let msgs = self.take(conn);
        match msgs.as_slice() {
            [ServerMessage::Error { code, .. }] => *code,
            other => panic!("expected one error, got {other:?}"),
        }
    }

    fn audits(&self) -> Vec<&'static str> {
        self.side_effects
            .iter()
            .filter_map(|o| match o {
                Output::Audit { action, .. } => Some(*action),
                _ => None,
            })
            .collect()
    }
}

fn say(text: &str) -> ClientMessage {
    ClientMessage::Say {
        text: text.into(),
        to: None,
    }
}

fn dm(text: &str, to: &str) -> ClientMessage {
    ClientMessage::Say {
        text: text.into(),
        to: Some(pid(to)),
    }
}

fn welcome_of(msgs: &[ServerMessage]) -> (Vec<String>, Vec<u64>) {
    msgs.iter()
        .find_map(|m| match m {
            ServerMessage::Welcome {
                participants,
                history,
                ..
            } => Some((
                participants.iter().map(|p| p.id.to_string()).collect(),
                history.iter().map(|h| h.seq).collect(),
            )),
            _ => None,
        })
        .expect("a welcome")
}

#[test]
fn joins_are_announced_and_welcomed_with_everyone_present() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let (present, _) = welcome_of(&s.take(host));
    assert_eq!(present, vec!["u-host"]);
    let bob = s.connect("u-bob", RoomRole::Participant);
    assert!(
        matches!(s.take(host).as_slice(), [ServerMessage::Joined { participant }] if participant.id.as_str() == "u-bob")
    );
    let (present, _) = welcome_of(&s.take(bob));
    assert_eq!(present, vec!["u-bob", "u-host"]);
}

#[test]
fn room_messages_reach_everyone_in_order_and_direct_messages_only_their_two_parties() {
    let mut s = Sim::new();
    let a = s.connect("u-a", RoomRole::Host);
    let b = s.connect("u-b", RoomRole::Participant);
    let c = s.connect("u-c", RoomRole::Participant);
    for conn in [a, b, c] {
        s.take(conn);
    }
    s.send(a, say("one"));
    s.send(b, dm("psst", "u-a"));
    s.send(c, say("two"));
    assert_eq!(
        s.chats(a),
        vec![(1, "one".into()), (2, "psst".into()), (3, "two".into())]
    );
    assert_eq!(
        s.chats(b),
        vec![(1, "one".into()), (2, "psst".into()), (3, "two".into())]
    );
    assert_eq!(
        s.chats(c),
        vec![(1, "one".into()), (3, "two".into())],
        "the DM never reaches a third"
    );

    // History on join honours the same privacy.
    let c2 = s.connect("u-c", RoomRole::Participant);
    assert_eq!(welcome_of(&s.take(c2)).1, vec![1, 3]);
    let b2 = s.connect("u-b", RoomRole::Participant);
    assert_eq!(welcome_of(&s.take(b2)).1, vec![1, 2, 3]);

    // A DM to oneself or to nobody is refused and takes no number.
    s.send(a, dm("x", "u-a"));
    assert_eq!(s.error(a), ErrorCode::NotFound);
    s.send(a, dm("x", "u-nobody"));
    assert_eq!(s.error(a), ErrorCode::NotFound);
    s.send(a, say("four"));
    assert_eq!(s.chats(a), vec![(4, "four".into())]);
}

#[test]
fn a_reconnect_within_the_grace_period_resumes_without_a_leave_and_gets_what_it_missed() {
    let mut s = Sim::new();
    let a = s.connect("u-a", RoomRole::Host);
    let b = s.connect("u-b", RoomRole::Participant);
    s.send(a, say("before"));
    s.take(a);
    s.take(b);
    s.disconnect(b);
    s.send(a, say("while away"));
    s.send(a, dm("private while away", "u-b"));
    s.advance(GRACE_MS - 1);
    let b2 = s.connect_after("u-b", RoomRole::Participant, Some(1));
    let msgs = s.take(b2);
    let (present, history) = welcome_of(&msgs);
    assert_eq!(present, vec!["u-a", "u-b"], "no duplicate");
    assert_eq!(history, vec![2, 3], "missed messages, each once");
    let to_a = s.take(a);
    assert!(
        to_a.iter()
            .all(|m| !matches!(m, ServerMessage::Left { .. } | ServerMessage::Joined { .. })),
        "{to_a:?}"
    );

    // Past the grace period, the room sees them leave.
    s.disconnect(b2);
    s.advance(GRACE_MS);
    assert!(matches!(s.take(a).as_slice(), [ServerMessage::Left { id }] if id.as_str() == "u-b"));
    assert_eq!(s.room.poll_timeout(), None);
}

#[test]
fn two_sockets_of_one_participant_are_one_participant() {
    let mut s = Sim::new();
    let a = s.connect("u-a", RoomRole::Host);
    let tab1 = s.connect("u-b", RoomRole::Participant);
    let tab2 = s.connect("u-b", RoomRole::Participant);
    assert_eq!(welcome_of(&s.take(tab2)).0, vec!["u-a", "u-b"]);
    s.take(a);
    s.take(tab1);
    s.disconnect(tab1);
    s.advance(GRACE_MS * 2);
    assert!(s.take(a).is_empty(), "still present through the other tab");
    s.send(a, dm("hi", "u-b"));
    assert_eq!(s.chats(tab2), vec![(1, "hi".into())]);
}

#[test]
fn every_host_control_is_refused_to_a_participant_and_changes_nothing() {
    let mut s = Sim::new();
    s.lobby = false;
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    let other = s.connect("u-o", RoomRole::Participant);
    s.send(other, ClientMessage::RaiseHand);
    s.send(host, say("host's message"));
    for conn in [host, p, other] {
        s.take(conn);
    }
    let attempts = vec![
        ClientMessage::Mute {
            who: pid("u-o"),
            track: Track::Microphone,
        },
        ClientMessage::Mute {
            who: pid("u-o"),
            track: Track::Camera,
        },
        ClientMessage::Remove { who: pid("u-o") },
        ClientMessage::Allow { who: pid("u-o") },
        ClientMessage::SetRole {
            who: pid("u-p"),
            role: RoomRole::Host,
        },
        ClientMessage::Lock { locked: true },
        ClientMessage::Admit { who: pid("u-o") },
        ClientMessage::Deny { who: pid("u-o") },
        ClientMessage::End,
        ClientMessage::LowerHand {
            who: Some(pid("u-o")),
        },
        ClientMessage::Delete { seq: 1 },
    ];
    for attempt in attempts {
        s.send(p, attempt.clone());
        assert_eq!(s.error(p), ErrorCode::Forbidden, "{attempt:?}");
        assert!(
            s.take(host).is_empty() && s.take(other).is_empty(),
            "{attempt:?} had an effect"
        );
    }
    assert!(s.closed.is_empty());
    assert!(s.audits().is_empty());
    assert!(s.side_effects.is_empty());
}

#[test]
fn mute_lower_hand_and_roles() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    let g = s.connect("g-guest", RoomRole::Participant);
    s.send(p, ClientMessage::RaiseHand);
    s.send(
        host,
        ClientMessage::Mute {
            who: pid("u-p"),
            track: Track::Microphone,
        },
    );
    s.send(
        host,
        ClientMessage::LowerHand {
            who: Some(pid("u-p")),
        },
    );
    let updates: Vec<(bool, bool)> = s
        .take(g)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Updated { participant } => {
                Some((participant.hand_raised, participant.mic_muted))
            }
            _ => None,
        })
        .collect();
    assert_eq!(updates, vec![(true, false), (true, true), (false, true)]);

    s.take(host);
    s.send(
        host,
        ClientMessage::SetRole {
            who: pid("g-guest"),
            role: RoomRole::Host,
        },
    );
    assert_eq!(s.error(host), ErrorCode::Conflict, "guests cannot be hosts");
    s.send(
        host,
        ClientMessage::SetRole {
            who: pid("u-host"),
            role: RoomRole::Participant,
        },
    );
    assert_eq!(s.error(host), ErrorCode::Conflict, "the last host stays");
    s.send(
        host,
        ClientMessage::SetRole {
            who: pid("u-p"),
            role: RoomRole::Host,
        },
    );
    assert!(s.side_effects.contains(&Output::PersistRole {
        user: "p".into(),
        role: RoomRole::Host
    }));
    s.take(p);
    s.send(
        p,
        ClientMessage::Mute {
            who: pid("g-guest"),
            track: Track::Camera,
        },
    );
    assert!(
        s.take(g).iter().any(
            |m| matches!(m, ServerMessage::Updated { participant } if participant.camera_muted)
        )
    );
    assert_eq!(
        s.audits(),
        vec![
            "participant_mic_muted",
            "hand_lowered",
            "role_changed",
            "participant_camera_muted"
        ]
    );
}

#[test]
fn a_removed_participant_cannot_rejoin_until_allowed() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    s.take(host);
    s.send(host, ClientMessage::Remove { who: pid("u-p") });
    assert_eq!(s.closed.get(&p), Some(&close_code::REMOVED));
    assert!(
        s.take(host)
            .iter()
            .any(|m| matches!(m, ServerMessage::Left { id } if id.as_str() == "u-p"))
    );
    let again = s.connect("u-p", RoomRole::Participant);
    assert_eq!(s.closed.get(&again), Some(&close_code::REMOVED));
    s.send(host, ClientMessage::Allow { who: pid("u-p") });
    let back = s.connect("u-p", RoomRole::Participant);
    assert!(!s.closed.contains_key(&back));
    assert_eq!(welcome_of(&s.take(back)).0, vec!["u-host", "u-p"]);
    assert_eq!(
        s.audits(),
        vec!["participant_removed", "participant_allowed"]
    );
}

#[test]
fn a_locked_room_refuses_newcomers_but_not_hosts_or_those_inside() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    s.send(host, ClientMessage::Lock { locked: true });
    assert!(s.side_effects.contains(&Output::PersistLock(true)));
    s.locked = true; // as the accounts database now says
    let late = s.connect("u-late", RoomRole::Participant);
    assert_eq!(s.closed.get(&late), Some(&close_code::LOCKED));
    let host2 = s.connect("u-host2", RoomRole::Host);
    assert!(!s.closed.contains_key(&host2));
    s.disconnect(p);
    let p_again = s.connect("u-p", RoomRole::Participant);
    assert!(
        !s.closed.contains_key(&p_again),
        "a member within the grace period resumes"
    );
}

#[test]
fn the_lobby_holds_newcomers_until_a_host_admits_or_denies_them() {
    let mut s = Sim::new();
    s.lobby = true;
    let host = s.connect("u-host", RoomRole::Host);
    s.take(host);
    let w1 = s.connect("g-one", RoomRole::Participant);
    let w2 = s.connect("g-two", RoomRole::Participant);
    assert_eq!(s.take(w1), vec![ServerMessage::Waiting]);
    let views: Vec<usize> = s
        .take(host)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::HostView { waiting, .. } => Some(waiting.len()),
            _ => None,
        })
        .collect();
    assert_eq!(views, vec![1, 2]);
    s.send(w1, say("let me in"));
    assert_eq!(s.error(w1), ErrorCode::Forbidden);

    s.send(host, ClientMessage::Admit { who: pid("g-one") });
    assert_eq!(welcome_of(&s.take(w1)).0, vec!["g-one", "u-host"]);
    assert!(
        s.take(host)
            .iter()
            .any(|m| matches!(m, ServerMessage::Joined { .. }))
    );
    s.send(host, ClientMessage::Deny { who: pid("g-two") });
    assert_eq!(s.closed.get(&w2), Some(&close_code::DENIED));
    assert!(
        s.take(w1)
            .iter()
            .all(|m| !matches!(m, ServerMessage::Joined { .. })),
        "nobody saw the denied one"
    );
    assert_eq!(s.audits(), vec!["lobby_admitted", "lobby_denied"]);
}

#[test]
fn a_full_room_refuses_participants() {
    let mut s = Sim::new();
    s.max = 2;
    s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    assert!(!s.closed.contains_key(&p));
    let third = s.connect("u-third", RoomRole::Participant);
    assert_eq!(s.closed.get(&third), Some(&close_code::FULL));
}

#[test]
fn ending_the_meeting_closes_every_socket_and_keeps_everyone_out() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    s.send(host, ClientMessage::End);
    assert_eq!(s.closed.get(&host), Some(&close_code::ENDED));
    assert_eq!(s.closed.get(&p), Some(&close_code::ENDED));
    assert!(s.side_effects.contains(&Output::PersistEnded));
    let back = s.connect("u-host", RoomRole::Host);
    assert_eq!(s.closed.get(&back), Some(&close_code::ENDED));
}

#[test]
fn authors_edit_and_delete_their_messages_and_hosts_delete_any() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    let q = s.connect("u-q", RoomRole::Participant);
    s.send(p, say("tpyo"));
    s.send(p, dm("secret", "u-host"));
    for conn in [host, p, q] {
        s.take(conn);
    }
    s.send(
        q,
        ClientMessage::Edit {
            seq: 1,
            text: "hijack".into(),
        },
    );
    assert_eq!(s.error(q), ErrorCode::Forbidden);
    s.send(
        q,
        ClientMessage::Edit {
            seq: 2,
            text: "peek".into(),
        },
    );
    assert_eq!(
        s.error(q),
        ErrorCode::NotFound,
        "a DM of others does not exist for q"
    );
    s.send(
        p,
        ClientMessage::Edit {
            seq: 1,
            text: "typo".into(),
        },
    );
    s.take(p);
    let changed = s.take(q);
    assert!(
        matches!(changed.as_slice(), [ServerMessage::Changed { message }] if message.text == "typo" && message.edited_ms.is_some())
    );
    s.send(host, ClientMessage::Delete { seq: 1 });
    assert!(
        matches!(s.take(p).as_slice(), [ServerMessage::Changed { message }] if message.deleted && message.text.is_empty())
    );
    assert_eq!(s.audits(), vec!["chat_message_deleted"]);
    s.take(q);
    s.send(p, ClientMessage::Delete { seq: 2 });
    assert!(
        s.take(q).is_empty(),
        "the DM's deletion reaches only its parties"
    );
    assert_eq!(
        s.store.get(2).unwrap().text,
        "",
        "deleted text is gone from storage"
    );
}

#[test]
fn bad_input_is_refused_without_loss_and_floods_are_limited() {
    let mut s = Sim::new();
    let a = s.connect("u-a", RoomRole::Host);
    s.take(a);
    for frame in ["{not json", r#"{"type":"nope"}"#, r#"{"type":"say"}"#] {
        s.room
            .handle_frame(a, Frame::Text(frame), s.now, &mut s.store);
        s.drain();
        assert_eq!(s.error(a), ErrorCode::Malformed, "{frame}");
    }
    s.room
        .handle_frame(a, Frame::Binary(10), s.now, &mut s.store);
    s.drain();
    assert_eq!(s.error(a), ErrorCode::Malformed);
    s.send(a, say("  "));
    assert_eq!(s.error(a), ErrorCode::Empty);
    s.send(a, say(&"x".repeat(4001)));
    assert_eq!(s.error(a), ErrorCode::TooLong);
    s.now += 10_000; // refill after the refusals above

    // A burst of 20 passes, then the sender is slowed; others are not.
    let b = s.connect("u-b", RoomRole::Participant);
    for i in 0..25 {
        s.send(a, say(&format!("m{i}")));
    }
    let errors = s
        .take(a)
        .into_iter()
        .filter(|m| {
            matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            )
        })
        .count();
    assert_eq!(errors, 5);
    s.send(b, say("b is fine"));
    assert!(s.chats(b).iter().any(|(_, t)| t == "b is fine"));
    let seqs: Vec<u64> = s.store.messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=21).collect::<Vec<_>>(),
        "refusals take no number"
    );

    // A flood far over the limit closes that socket only.
    for _ in 0..200 {
        s.send(a, say("flood"));
    }
    assert_eq!(s.closed.get(&a), Some(&close_code::POLICY));
    assert!(!s.closed.contains_key(&b));

    // An oversized frame closes its socket; nothing of it is applied.
    let big = say(&"y".repeat(MAX_FRAME_BYTES)).encode();
    s.room
        .handle_frame(b, Frame::Text(&big), s.now, &mut s.store);
    s.drain();
    assert_eq!(s.closed.get(&b), Some(&close_code::MESSAGE_TOO_BIG));
    assert_eq!(s.store.messages.len(), 21);
}

#[test]
fn history_pages_back_through_visible_messages() {
    let mut s = Sim::new();
    let a = s.connect("u-a", RoomRole::Host);
    let b = s.connect("u-b", RoomRole::Participant);
    for i in 0..120 {
        s.now += 1000;
        if i % 10 == 0 {
            s.send(a, dm("private", "u-b"));
        } else {
            s.send(a, say(&format!("m{i}")));
        }
    }
    let c = s.connect("u-c", RoomRole::Participant);
    let (_, history) = welcome_of(&s.take(c));
    assert_eq!(history.len(), 50);
    assert_eq!(history.last(), Some(&120));
    s.send(c, ClientMessage::History { before: history[0] });
    let page = s.take(c);
    let (older, more) = match page.as_slice() {
        [ServerMessage::History { messages, more }] => {
            (messages.iter().map(|m| m.seq).collect::<Vec<_>>(), *more)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(older.len(), 50);
    assert!(more);
    assert!(
        older.iter().all(|seq| (seq - 1) % 10 != 0),
        "no DM of others"
    );
    s.take(a);
    s.take(b);
}

#[test]
fn state_survives_a_restore_from_storage() {
    let mut s = Sim::new();
    s.lobby = true;
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    s.send(host, ClientMessage::Admit { who: pid("u-p") });
    s.send(p, ClientMessage::RaiseHand);
    s.connect("u-gone", RoomRole::Participant);
    s.send(host, ClientMessage::Remove { who: pid("u-gone") });
    s.send(host, say("kept"));
    let snapshot = s.store.snapshot.clone().unwrap();

    // The object is evicted; the host's socket survived hibernation, p's did not.
    let last = durable_objects::room::Last { seq: 1, rev: 1 };
    let mut restored = Room::restore(snapshot, last, &[(host, pid("u-host"))], s.now);
    s.room = std::mem::take(&mut restored);
    s.inbox.clear();
    s.send(host, say("after wake"));
    assert_eq!(
        s.chats(host),
        vec![(2, "after wake".into())],
        "numbering continues"
    );
    let p2 = s.connect_after("u-p", RoomRole::Participant, Some(0));
    let msgs = s.take(p2);
    let you = msgs.iter().find_map(|m| match m {
        ServerMessage::Welcome { you, .. } => Some(you.clone()),
        _ => None,
    });
    assert!(
        you.unwrap().hand_raised,
        "p resumed as they were, without the lobby"
    );
    let gone = s.connect("u-gone", RoomRole::Participant);
    assert_eq!(s.closed.get(&gone), Some(&close_code::REMOVED));
}

#[test]
fn changes_made_through_the_api_reach_the_live_room() {
    use protocol::room::RoomSync;
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    let g = s.connect("g-g", RoomRole::Participant);
    for c in [host, p, g] {
        s.take(c);
    }
    let base = RoomSync {
        locked: true,
        lobby: false,
        max_participants: 100,
        ended: false,
        role_change: None,
    };
    s.room.handle_sync(base.clone(), s.now, &mut s.store);
    s.drain();
    assert!(
        s.take(p)
            .iter()
            .any(|m| matches!(m, ServerMessage::Room { room } if room.locked))
    );
    let promote = RoomSync {
        role_change: Some((pid("u-p"), Some(RoomRole::Host))),
        ..base.clone()
    };
    s.room.handle_sync(promote, s.now, &mut s.store);
    s.drain();
    assert!(s.take(g).iter().any(|m| matches!(m, ServerMessage::Updated { participant } if participant.role == RoomRole::Host)));
    let expel = RoomSync {
        role_change: Some((pid("u-p"), None)),
        ..base.clone()
    };
    s.room.handle_sync(expel, s.now, &mut s.store);
    s.drain();
    assert_eq!(s.closed.get(&p), Some(&close_code::REMOVED));
    s.room.handle_sync(
        RoomSync {
            ended: true,
            ..base
        },
        s.now,
        &mut s.store,
    );
    s.drain();
    assert_eq!(s.closed.get(&host), Some(&close_code::ENDED));
    assert_eq!(s.closed.get(&g), Some(&close_code::ENDED));
    // The API already recorded all of it; only the media node is told.
    assert!(
        s.side_effects
            .iter()
            .all(|o| matches!(o, Output::MediaRemove(_) | Output::MediaClose)),
        "{:?}",
        s.side_effects
    );
    assert!(
        s.side_effects
            .iter()
            .any(|o| matches!(o, Output::MediaRemove(_)))
    );
    assert!(s.side_effects.contains(&Output::MediaClose));
}

#[test]
fn the_rate_limit_is_per_participant_not_per_socket() {
    let mut s = Sim::new();
    let tab1 = s.connect("u-a", RoomRole::Host);
    let tab2 = s.connect("u-a", RoomRole::Host);
    s.now += 10_000;
    for i in 0..15 {
        s.send(tab1, say(&format!("one {i}")));
        s.send(tab2, say(&format!("two {i}")));
    }
    assert_eq!(
        s.store.messages.len(),
        20,
        "one burst for both tabs together"
    );
}

#[test]
fn a_join_with_a_stale_view_of_the_options_does_not_undo_a_lock() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    s.send(host, ClientMessage::Lock { locked: true });
    // The accounts database has not recorded the lock yet when a host joins.
    s.locked = false;
    let host2 = s.connect("u-host2", RoomRole::Host);
    assert!(!s.closed.contains_key(&host2));
    let late = s.connect("u-late", RoomRole::Participant);
    assert_eq!(s.closed.get(&late), Some(&close_code::LOCKED));
}

#[test]
fn a_long_absence_resumes_with_the_newest_messages_and_pages_back_for_the_rest() {
    let mut s = Sim::new();
    let a = s.connect("u-a", RoomRole::Host);
    let b = s.connect("u-b", RoomRole::Participant);
    s.disconnect(b);
    for i in 0..600 {
        s.now += 200;
        s.send(a, say(&format!("m{i}")));
    }
    let b2 = s.connect_after("u-b", RoomRole::Participant, Some(0));
    let (_, history) = welcome_of(&s.take(b2));
    assert_eq!(history.len(), protocol::room::MAX_REPLAY);
    assert_eq!(
        history.last(),
        Some(&600),
        "the newest, so nothing after them is missing"
    );
    s.send(b2, ClientMessage::History { before: history[0] });
    assert!(
        matches!(s.take(b2).as_slice(), [ServerMessage::History { messages, more: true }] if messages.last().map(|m| m.seq) == Some(100))
    );
}

#[test]
fn nobody_can_direct_message_someone_in_the_lobby() {
    let mut s = Sim::new();
    s.lobby = true;
    let host = s.connect("u-host", RoomRole::Host);
    let waiting = s.connect("g-w", RoomRole::Participant);
    s.take(host);
    s.send(host, dm("hello?", "g-w"));
    assert_eq!(s.error(host), ErrorCode::NotFound);
    assert_eq!(s.take(waiting), vec![ServerMessage::Waiting]);
}

#[test]
fn edits_and_deletions_made_while_away_are_replayed_on_resume() {
    let mut s = Sim::new();
    let a = s.connect("u-a", RoomRole::Host);
    let b = s.connect("u-b", RoomRole::Participant);
    s.send(a, say("first draft"));
    s.send(a, say("doomed"));
    let seen: u64 = s
        .take(b)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Chat { message } => Some(message.rev),
            _ => None,
        })
        .max()
        .unwrap();
    s.disconnect(b);
    s.send(
        a,
        ClientMessage::Edit {
            seq: 1,
            text: "final".into(),
        },
    );
    s.send(a, ClientMessage::Delete { seq: 2 });
    s.send(a, say("new"));
    let b2 = s.connect_after("u-b", RoomRole::Participant, Some(seen));
    let history = s
        .take(b2)
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::Welcome { history, .. } => Some(history),
            _ => None,
        })
        .unwrap();
    let got: Vec<(u64, String, bool)> = history
        .into_iter()
        .map(|m| (m.seq, m.text, m.deleted))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "final".into(), false),
            (2, String::new(), true),
            (3, "new".into(), false)
        ]
    );
}

fn media_offer(sources: &[(&str, Source)]) -> ClientMessage {
    ClientMessage::MediaOffer {
        sdp: "v=0\r\n".into(),
        sources: sources
            .iter()
            .map(|(mid, source)| TrackSource {
                mid: (*mid).into(),
                source: *source,
            })
            .collect(),
    }
}

fn media_joins(s: &Sim) -> Vec<(ConnId, MediaClaims)> {
    s.side_effects
        .iter()
        .filter_map(|o| match o {
            Output::MediaJoin { conn, claims, .. } => Some((*conn, claims.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_media_offer_becomes_a_join_with_the_grants_of_the_role_minus_host_mutes() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    s.send(
        host,
        ClientMessage::Mute {
            who: pid("u-p"),
            track: Track::Camera,
        },
    );
    // The room tells the node at once.
    assert!(s.side_effects.iter().any(|o| matches!(o,
        Output::MediaGrants { participant, grants } if participant == &pid("u-p")
            && grants.publish == vec![Source::Microphone, Source::Screen])));
    s.send(
        p,
        media_offer(&[("0", Source::Microphone), ("1", Source::Camera)]),
    );
    let joins = media_joins(&s);
    assert_eq!(joins.len(), 1);
    let (conn, claims) = &joins[0];
    assert_eq!(*conn, p);
    assert_eq!(claims.participant, pid("u-p"));
    assert_eq!(claims.room.as_str(), "r1");
    assert_eq!(claims.publish, vec![Source::Microphone, Source::Screen]);
    assert_eq!(claims.muted, vec![Source::Camera]);
    assert!(claims.subscribe);

    // The answer goes to that socket only.
    s.take(host);
    s.take(p);
    s.room.handle_media_answer(*conn, Ok("v=0 answer".into()));
    s.drain();
    assert_eq!(
        s.take(p),
        vec![ServerMessage::MediaAnswer {
            sdp: "v=0 answer".into()
        }]
    );
    assert!(s.take(host).is_empty());
    s.room.handle_media_answer(
        p,
        Err(MediaRefusal {
            code: ErrorCode::Unavailable,
            message: "no node".into(),
        }),
    );
    s.drain();
    assert_eq!(s.error(p), ErrorCode::Unavailable);

    // A host lifts the mute; the participant cannot do it themselves.
    s.side_effects.clear();
    s.send(
        p,
        ClientMessage::Unmute {
            who: pid("u-p"),
            track: Track::Camera,
        },
    );
    assert_eq!(s.error(p), ErrorCode::Forbidden);
    assert!(s.side_effects.is_empty());
    s.send(
        host,
        ClientMessage::Unmute {
            who: pid("u-p"),
            track: Track::Camera,
        },
    );
    assert!(s.side_effects.iter().any(|o| matches!(o,
        Output::MediaGrants { grants, .. } if grants.publish.contains(&Source::Camera))));
}

#[test]
fn bad_media_offers_are_refused_before_any_node_is_asked() {
    let mut s = Sim::new();
    let p = s.connect("u-p", RoomRole::Participant);
    s.take(p);
    let huge = ClientMessage::MediaOffer {
        sdp: "a".repeat(protocol::media::MAX_SDP_BYTES + 1),
        sources: vec![],
    };
    s.send(p, huge);
    assert_eq!(s.error(p), ErrorCode::BadOffer);
    let many: Vec<(&str, Source)> =
        vec![("0", Source::Camera); protocol::media::MAX_OFFER_SOURCES + 1];
    s.send(p, media_offer(&many));
    assert_eq!(s.error(p), ErrorCode::BadOffer);
    assert!(media_joins(&s).is_empty());
}

#[test]
fn removal_and_the_end_of_the_meeting_cut_media() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let _p = s.connect("u-p", RoomRole::Participant);
    s.send(host, ClientMessage::Remove { who: pid("u-p") });
    assert!(s.side_effects.contains(&Output::MediaRemove(pid("u-p"))));
    s.send(host, ClientMessage::End);
    assert!(s.side_effects.contains(&Output::MediaClose));
}

fn board(op: BoardOp) -> ClientMessage {
    ClientMessage::Board(op)
}

fn board_changes(msgs: &[ServerMessage]) -> Vec<(u64, BoardChange)> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMessage::Board { seq, change, .. } => Some((*seq, change.clone())),
            _ => None,
        })
        .collect()
}

fn pen(board: BoardId, n: u32, points: Vec<Point>) -> BoardOp {
    BoardOp::Begin {
        board,
        n,
        shape: Shape::Pen,
        color: Color(0xff0000),
        width: 4,
        points,
        text: None,
    }
}

#[test]
fn whiteboard_changes_reach_everyone_in_order_and_roles_decide_who_draws() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    let a = s.connect("u-att", RoomRole::Attendee);
    s.take(host);
    s.take(p);
    s.take(a);
    s.send(
        host,
        board(BoardOp::Create {
            name: "Plan".into(),
        }),
    );
    let b = BoardId(0);
    s.send(p, board(pen(b, 1, vec![Point(10, 10)])));
    s.send(
        p,
        board(BoardOp::Extend {
            board: b,
            n: 1,
            points: vec![Point(20, 20)],
        }),
    );
    // Everyone, attendees too, sees the same changes in the same order.
    let seen: Vec<Vec<(u64, BoardChange)>> = [host, p, a].map(|c| board_changes(&s.take(c))).into();
    assert_eq!(seen[0].len(), 3);
    assert!(seen.iter().all(|x| x == &seen[0]));
    assert_eq!(
        seen[0].iter().map(|(q, _)| *q).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // An attendee may look but not draw; a participant may not clear.
    s.send(a, board(pen(b, 1, vec![Point(0, 0)])));
    assert_eq!(s.error(a), ErrorCode::Forbidden);
    s.send(p, board(BoardOp::Clear { board: b }));
    assert_eq!(s.error(p), ErrorCode::Forbidden);
    // The host lets only chosen people draw.
    s.send(
        host,
        board(BoardOp::Policy {
            policy: DrawPolicy::Chosen { ids: vec![] },
        }),
    );
    s.take(p);
    s.send(p, board(pen(b, 2, vec![Point(0, 0)])));
    assert_eq!(s.error(p), ErrorCode::Forbidden);

    // A late joiner learns the boards, then asks for one board's strokes.
    let late = s.connect("u-late", RoomRole::Participant);
    let msgs = s.take(late);
    let boards = msgs
        .iter()
        .find_map(|m| match m {
            ServerMessage::Welcome { boards, .. } => Some(boards.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(boards.boards.len(), 1);
    assert_eq!(boards.seq, 4);
    assert_eq!(boards.policy, DrawPolicy::Chosen { ids: vec![] });
    s.send(late, board(BoardOp::Open { board: b }));
    match s.take(late).as_slice() {
        [ServerMessage::BoardState { seq, strokes, .. }] => {
            assert_eq!(*seq, 4);
            assert_eq!(strokes[0].points, [Point(10, 10), Point(20, 20)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn whiteboard_floods_and_bad_operations_are_refused_and_chat_goes_on() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    s.send(host, board(BoardOp::Create { name: "b".into() }));
    s.take(host);
    // A stroke streams a message per frame: 60 a second are fine...
    s.send(host, board(pen(BoardId(0), 1, vec![Point(0, 0)])));
    for i in 0..60 {
        s.now += 16;
        s.send(
            host,
            board(BoardOp::Extend {
                board: BoardId(0),
                n: 1,
                points: vec![Point(i, i)],
            }),
        );
    }
    let msgs = s.take(host);
    assert!(
        msgs.iter()
            .all(|m| matches!(m, ServerMessage::Board { .. })),
        "{msgs:?}"
    );
    // ...a burst of 200 at once is cut off, and chat has its own budget.
    for i in 0..200 {
        s.send(
            host,
            board(BoardOp::Extend {
                board: BoardId(0),
                n: 1,
                points: vec![Point(i, 0)],
            }),
        );
    }
    let limited = s
        .take(host)
        .iter()
        .filter(|m| {
            matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            )
        })
        .count();
    assert!((50..100).contains(&limited), "{limited}");
    s.send(host, say("still here"));
    assert_eq!(s.chats(host).len(), 1);
    // Malformed board messages are errors, and change nothing.
    s.now += 10_000;
    for bad in [
        r#"{"type":"board","op":"begin","board":0}"#,
        r#"{"type":"board","op":"explode","board":0}"#,
        r#"{"type":"board","op":"extend","board":0,"n":1,"points":[["a",1]]}"#,
    ] {
        s.room
            .handle_frame(host, Frame::Text(bad), s.now, &mut s.store);
        s.drain();
        assert_eq!(s.error(host), ErrorCode::Malformed, "{bad}");
    }
}

#[test]
fn whiteboards_survive_a_restore_from_storage() {
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    s.send(host, board(BoardOp::Create { name: "one".into() }));
    s.send(host, board(BoardOp::Create { name: "two".into() }));
    s.send(
        host,
        board(pen(BoardId(1), 1, vec![Point(1, 2), Point(3, 4)])),
    );
    s.send(
        host,
        board(BoardOp::End {
            board: BoardId(1),
            n: 1,
        }),
    );
    let snapshot = s.store.snapshot.clone().unwrap();
    let last = durable_objects::room::Last { seq: 0, rev: 0 };
    s.room = Room::restore(snapshot, last, &[(host, pid("u-host"))], s.now);
    s.inbox.clear();
    s.send(host, board(BoardOp::Open { board: BoardId(1) }));
    match s.take(host).as_slice() {
        [ServerMessage::BoardState { seq, strokes, .. }] => {
            assert_eq!(*seq, 4, "numbering continues from storage");
            assert_eq!(strokes.len(), 1);
            assert!(strokes[0].done);
            assert_eq!(strokes[0].points, [Point(1, 2), Point(3, 4)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_host_pushes_a_layout_to_everyone_and_it_outlives_a_restore() {
    use protocol::layout::{Layout, Preset, PushedLayout};
    let mut s = Sim::new();
    let host = s.connect("u-host", RoomRole::Host);
    let p = s.connect("u-p", RoomRole::Participant);
    s.take(host);
    s.take(p);
    let pushed = PushedLayout {
        layout: Layout::preset(Preset::Presentation),
        locked: true,
    };
    // Participants may not push; a malformed layout is refused.
    s.send(
        p,
        ClientMessage::PushLayout {
            pushed: Some(pushed.clone()),
        },
    );
    assert_eq!(s.error(p), ErrorCode::Forbidden);
    let mut bad = pushed.clone();
    bad.layout.panels[0].size = 0;
    s.send(host, ClientMessage::PushLayout { pushed: Some(bad) });
    assert_eq!(s.error(host), ErrorCode::Malformed);

    s.send(
        host,
        ClientMessage::PushLayout {
            pushed: Some(pushed.clone()),
        },
    );
    for c in [host, p] {
        assert_eq!(
            s.take(c),
            [ServerMessage::Layout {
                pushed: Some(pushed.clone())
            }]
        );
    }
    // A newcomer, and a room restored from storage, have it too.
    let snapshot = s.store.snapshot.clone().unwrap();
    let last = durable_objects::room::Last { seq: 0, rev: 0 };
    s.room = Room::restore(snapshot, last, &[(host, pid("u-host"))], s.now);
    let late = s.connect("u-late", RoomRole::Participant);
    let got = s.take(late).into_iter().find_map(|m| match m {
        ServerMessage::Welcome { layout, .. } => Some(layout),
        _ => None,
    });
    assert_eq!(got, Some(Some(pushed)));
    // Withdrawn.
    s.send(host, ClientMessage::PushLayout { pushed: None });
    assert_eq!(s.take(late), [ServerMessage::Layout { pushed: None }]);
}
