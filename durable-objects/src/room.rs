//! The room state machine: presence, lobby, chat with direct messages, host
//! controls.
//!
//! Contract (as in str0m): after every `handle_*` call the caller drains
//! [`Room::poll_output`] until it returns `None`, carrying out each output in
//! order, and arranges for [`Room::handle_tick`] at [`Room::poll_timeout`].
//! Time is passed in; the room never reads a clock. Chat messages go to the
//! [`Store`] synchronously (the Durable Object's SQLite is synchronous), so a
//! message is durable before any [`Output`] shows it to anyone.

use std::collections::{BTreeMap, HashMap, VecDeque};

use protocol::access::{self, Grants, Permission, RoomRole};
use protocol::media::{
    GrantsUpdate, MAX_OFFER_SOURCES, MAX_SDP_BYTES, MediaClaims, Source, TrackSource,
};
use protocol::room::{
    ChatMessage, ClientMessage, ErrorCode, HISTORY_PAGE, Identity, MAX_FRAME_BYTES, MAX_REPLAY,
    MAX_TEXT_CHARS, PROTOCOL_VERSION, Participant, Person, RoomState, RoomSync, ServerMessage,
    Track, close_code,
};
use protocol::{ParticipantId, RoomId};
use serde::{Deserialize, Serialize};

use crate::board::{BoardStore, Boards, Effect, Rights};
use crate::limit::TokenBucket;
use protocol::board;

/// How long a participant whose last socket closed stays in the room, so a
/// reconnect resumes them without a leave and a join.
pub const GRACE_MS: i64 = 30_000;

/// Refused messages over the rate limit before the socket is closed.
const MAX_STRIKES: u32 = 100;

/// One WebSocket connection, unique within the room's lifetime (the shell
/// keeps it in the socket's hibernation attachment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConnId(pub u64);

/// A frame as received from a socket.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame; only its length matters, the room speaks text.
    Binary(usize),
}

/// Storage of chat messages, boards and the room's state; the Durable
/// Object's SQLite in production, vectors and maps in tests.
pub trait Store {
    /// Where the whiteboards are kept.
    type Boards: BoardStore;
    /// The whiteboards' storage.
    fn boards(&mut self) -> &mut Self::Boards;
    /// The whiteboards' storage, to read.
    fn boards_ref(&self) -> &Self::Boards;
    /// Stores a new message.
    fn append(&mut self, message: &ChatMessage) -> Result<(), StoreError>;
    /// Replaces a message (edit, delete).
    fn replace(&mut self, message: &ChatMessage) -> Result<(), StoreError>;
    /// One message.
    fn get(&self, seq: u64) -> Option<ChatMessage>;
    /// The newest `limit` messages `viewer` may see whose revision is above
    /// `after_rev`, in `seq` order. (A client that missed more pages back.)
    fn after(&self, viewer: &ParticipantId, after: u64, limit: usize) -> Vec<ChatMessage>;
    /// The newest `limit` messages `viewer` may see with `seq < before`, oldest first.
    fn before(&self, viewer: &ParticipantId, before: u64, limit: usize) -> Vec<ChatMessage>;
    /// Saves everything but the messages.
    fn save(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;
}

/// Storage failed; the room refuses the change rather than lose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

/// Where stored messages end: the highest `seq` and revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Last {
    /// Highest message sequence number stored (0 when none).
    pub seq: u64,
    /// Highest revision stored (0 when none).
    pub rev: u64,
}

/// Something the shell must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send one message to these connections (encoded once).
    Send(Vec<ConnId>, ServerMessage),
    /// Close one connection.
    Close {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason, for people.
        reason: String,
    },
    /// Write a security event to the deployment's audit log.
    Audit {
        /// Who acted (an account id, or `guest:<id>`).
        actor: String,
        /// What happened.
        action: &'static str,
        /// To whom or what.
        target: String,
    },
    /// Record an account's new role in this room in the accounts database.
    PersistRole {
        /// The account (a user id).
        user: String,
        /// The new role.
        role: RoomRole,
    },
    /// Record the room's lock in the accounts database.
    PersistLock(bool),
    /// Record that the meeting ended.
    PersistEnded,
    /// Join this participant's media: place the room on a media node if it
    /// has none, mint a token for `claims`, send the offer, and hand the
    /// result to [`Room::handle_media_answer`].
    MediaJoin {
        /// The socket that sent the offer (and gets the answer).
        conn: ConnId,
        /// The grants the token carries.
        claims: MediaClaims,
        /// The browser's SDP offer.
        sdp: String,
        /// What each sending section carries.
        sources: Vec<TrackSource>,
        /// Where the participant is, for placement.
        near: Option<String>,
    },
    /// An ICE restart offer for the participant's existing media connection.
    MediaRestart {
        /// The socket that sent it.
        conn: ConnId,
        /// Whose connection.
        participant: ParticipantId,
        /// The offer.
        sdp: String,
    },
    /// Tell the room's media node what a participant may do now.
    MediaGrants {
        /// Whom.
        participant: ParticipantId,
        /// Their grants.
        grants: GrantsUpdate,
    },
    /// Disconnect a participant's media at once.
    MediaRemove(ParticipantId),
    /// Disconnect everyone's media: the meeting ended.
    MediaClose,
}

/// Where a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Presence {
    /// In the room with at least one socket.
    Present,
    /// In the room, but their last socket closed at `since_ms`.
    Away {
        /// When the last socket closed.
        since_ms: i64,
    },
    /// In the lobby.
    Waiting,
}

/// A member as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedMember {
    /// What everyone sees.
    pub participant: Participant,
    /// Where they are.
    pub presence: Presence,
}

/// Everything but the messages, saved after every change of it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Locked to newcomers.
    pub locked: bool,
    /// Newcomers wait in the lobby.
    pub lobby: bool,
    /// Most participants present at once.
    pub max_participants: u32,
    /// The meeting ended; nobody may join.
    pub ended: bool,
    /// Options were taken from the accounts database once.
    #[serde(default)]
    pub configured: bool,
    /// The room's id, learnt from the first identity (media tokens name it).
    #[serde(default)]
    pub id: Option<RoomId>,
    /// Everyone present, away or waiting.
    pub members: Vec<SavedMember>,
    /// Removed and not yet allowed back.
    pub removed: Vec<Person>,
    /// The layout a host pushed to everyone.
    #[serde(default)]
    pub layout: Option<protocol::layout::PushedLayout>,
}

/// A member's open sockets, in order: usually one or two, so a sorted
/// vector. Every broadcast walks the sockets of every member (a thousand in
/// a large room, per chat message), and a `BTreeSet` per member made that
/// walk a few percent of the object's time in the fan-out benchmark.
#[derive(Debug, Default)]
struct Conns(Vec<ConnId>);

impl Conns {
    fn insert(&mut self, conn: ConnId) {
        if let Err(at) = self.0.binary_search(&conn) {
            self.0.insert(at, conn);
        }
    }

    fn remove(&mut self, conn: &ConnId) {
        self.0.retain(|c| c != conn);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn iter(&self) -> std::slice::Iter<'_, ConnId> {
        self.0.iter()
    }
}

#[derive(Debug)]
struct Member {
    participant: Participant,
    presence: Presence,
    conns: Conns,
    /// The message rate limit, per participant (all their sockets share it).
    bucket: TokenBucket,
    /// The separate, faster limit for whiteboard operations (a stroke
    /// streams about one message per frame).
    board_bucket: TokenBucket,
    /// Messages refused for rate in a row; a successful one resets it.
    strikes: u32,
}

impl Member {
    fn new(participant: Participant, presence: Presence, now_ms: i64) -> Self {
        Member {
            participant,
            presence,
            conns: Conns::default(),
            bucket: TokenBucket::new(now_ms),
            board_bucket: TokenBucket::with_rate(board::OPS_BURST, board::OPS_PER_SECOND, now_ms),
            strikes: 0,
        }
    }
}

#[derive(Debug)]
struct Conn {
    who: ParticipantId,
    /// Where the socket's request came from (a continent code), if known.
    near: Option<String>,
}

/// The state of one room.
#[derive(Debug)]
pub struct Room {
    locked: bool,
    lobby: bool,
    max_participants: u32,
    ended: bool,
    /// Whether the options have been taken from an identity yet.
    configured: bool,
    /// The room's id, from the first identity.
    id: Option<RoomId>,
    /// Present, away and waiting members; the order of ids is the order
    /// lists are shown in.
    members: BTreeMap<ParticipantId, Member>,
    /// Removed participants (and their names, for hosts), kept out until allowed.
    removed: BTreeMap<ParticipantId, String>,
    conns: HashMap<ConnId, Conn>,
    /// The time of the input being handled.
    now_ms: i64,
    /// Sequence number the next message gets; continues from storage.
    next_seq: u64,
    /// Revision the next new, edited or deleted message gets.
    next_rev: u64,
    /// The whiteboards, read from storage when first needed.
    boards: Option<Boards>,
    /// The layout a host pushed to everyone.
    layout: Option<protocol::layout::PushedLayout>,
    outputs: VecDeque<Output>,
}

/// Why the media side refused an offer, for [`Room::handle_media_answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRefusal {
    /// What the client is told.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

/// The permission publishing `source` needs.
pub fn publish_permission(source: Source) -> Permission {
    match source {
        Source::Camera => Permission::PublishCamera,
        Source::Microphone => Permission::PublishMicrophone,
        Source::Screen => Permission::ShareScreen,
    }
}

/// A refused client message, sent back as [`ServerMessage::Error`].
#[derive(Debug)]
struct Refusal(ErrorCode, String);

impl From<Refusal> for ServerMessage {
    fn from(r: Refusal) -> Self {
        ServerMessage::Error {
            code: r.0,
            message: r.1,
        }
    }
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal(code, message.into())
}

/// The actor string of the audit log for a participant id.
pub fn audit_actor(id: &ParticipantId) -> String {
    let s = id.as_str();
    match (s.strip_prefix("u-"), s.strip_prefix("g-")) {
        (Some(user), _) => user.to_owned(),
        (_, Some(guest)) => format!("guest:{guest}"),
        _ => s.to_owned(),
    }
}

impl Room {
    /// A room restored from `snapshot`, whose stored messages end at
    /// `last`, with the sockets still open (`conns`) at `now_ms`.
    pub fn restore(
        snapshot: Snapshot,
        last: Last,
        conns: &[(ConnId, ParticipantId)],
        now_ms: i64,
    ) -> Self {
        let mut room = Room {
            locked: snapshot.locked,
            lobby: snapshot.lobby,
            max_participants: snapshot.max_participants,
            ended: snapshot.ended,
            configured: snapshot.configured,
            id: snapshot.id,
            layout: snapshot.layout,
            members: BTreeMap::new(),
            removed: snapshot
                .removed
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect(),
            conns: HashMap::new(),
            now_ms,
            next_seq: last.seq + 1,
            next_rev: last.rev + 1,
            boards: None,
            outputs: VecDeque::new(),
        };
        for m in snapshot.members {
            let id = m.participant.id.clone();
            room.members
                .insert(id, Member::new(m.participant, m.presence, now_ms));
        }
        for (conn, who) in conns {
            if let Some(m) = room.members.get_mut(who) {
                m.conns.insert(*conn);
                room.conns.insert(
                    *conn,
                    Conn {
                        who: who.clone(),
                        near: None,
                    },
                );
            }
        }
        // Members whose sockets died while the object was away get the grace
        // period from now; the lobby forgets those with no socket.
        for m in room.members.values_mut() {
            if m.conns.is_empty() && m.presence == Presence::Present {
                m.presence = Presence::Away { since_ms: now_ms };
            }
        }
        room.members
            .retain(|_, m| !(m.conns.is_empty() && m.presence == Presence::Waiting));
        room
    }

    /// A new, empty room.
    pub fn new() -> Self {
        Self::restore(
            Snapshot {
                max_participants: 100,
                ..Snapshot::default()
            },
            Last::default(),
            &[],
            0,
        )
    }

    /// Next thing the shell must do, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Room::handle_tick`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<i64> {
        self.members
            .values()
            .filter_map(|m| match m.presence {
                Presence::Away { since_ms } => Some(since_ms + GRACE_MS),
                _ => None,
            })
            .min()
    }

    /// Everything but the messages, for [`Store::save`].
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            locked: self.locked,
            lobby: self.lobby,
            max_participants: self.max_participants,
            ended: self.ended,
            configured: self.configured,
            id: self.id.clone(),
            layout: self.layout.clone(),
            members: self
                .members
                .values()
                .map(|m| SavedMember {
                    participant: m.participant.clone(),
                    presence: m.presence,
                })
                .collect(),
            removed: self
                .removed
                .iter()
                .map(|(id, name)| Person {
                    id: id.clone(),
                    name: name.clone(),
                })
                .collect(),
        }
    }

    /// Ids of the sockets of present members.
    fn present_conns(&self) -> Vec<ConnId> {
        let mut all = Vec::with_capacity(self.conns.len());
        for m in self.members.values() {
            if m.presence == Presence::Present {
                all.extend(m.conns.iter().copied());
            }
        }
        all
    }

    fn conns_of(&self, id: &ParticipantId) -> Vec<ConnId> {
        self.members
            .get(id)
            .map(|m| m.conns.iter().copied().collect())
            .unwrap_or_default()
    }

    fn hosts_conns(&self) -> Vec<ConnId> {
        self.members
            .values()
            .filter(|m| m.presence == Presence::Present && m.participant.role == RoomRole::Host)
            .flat_map(|m| m.conns.iter().copied())
            .collect()
    }

    fn send(&mut self, to: Vec<ConnId>, msg: impl Into<ServerMessage>) {
        if !to.is_empty() {
            self.outputs.push_back(Output::Send(to, msg.into()));
        }
    }

    /// Tells a socket why, closes it, and forgets it.
    fn close(&mut self, conn: ConnId, code: u16, reason: &str) {
        self.send(
            vec![conn],
            ServerMessage::Closing {
                code,
                reason: reason.to_owned(),
            },
        );
        self.outputs.push_back(Output::Close {
            conn,
            code,
            reason: reason.to_owned(),
        });
        self.detach(conn);
    }

    /// Takes a member out of the room: closes their sockets with `code` and,
    /// unless they were still in the lobby, tells everyone they left.
    fn expel(&mut self, id: &ParticipantId, code: u16, reason: &str) -> Option<Member> {
        let member = self.members.remove(id)?;
        self.outputs.push_back(Output::MediaRemove(id.clone()));
        for c in member.conns.iter() {
            self.conns.remove(c);
            self.close(*c, code, reason);
        }
        if member.presence != Presence::Waiting {
            let everyone = self.present_conns();
            self.send(everyone, ServerMessage::Left { id: id.clone() });
        }
        Some(member)
    }

    /// Ends the meeting: every socket closes and nobody may come back.
    fn end_meeting(&mut self) {
        self.ended = true;
        self.outputs.push_back(Output::MediaClose);
        let all: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in all {
            self.close(c, close_code::ENDED, "a host ended the meeting");
        }
        self.members.clear();
    }

    /// Forgets a socket; a member left without sockets is away (or, in the
    /// lobby, gone). Returns whether anything changed.
    fn detach(&mut self, conn: ConnId) -> bool {
        let Some(c) = self.conns.remove(&conn) else {
            return false;
        };
        let Some(member) = self.members.get_mut(&c.who) else {
            return true;
        };
        member.conns.remove(&conn);
        if member.conns.is_empty() {
            match member.presence {
                Presence::Present => {
                    member.presence = Presence::Away {
                        since_ms: self.now_ms,
                    }
                }
                Presence::Waiting => {
                    self.members.remove(&c.who);
                    self.host_view();
                }
                Presence::Away { .. } => {}
            }
        }
        true
    }

    fn audit(&mut self, actor: &ParticipantId, action: &'static str, target: String) {
        self.outputs.push_back(Output::Audit {
            actor: audit_actor(actor),
            action,
            target,
        });
    }

    fn room_state(&self) -> RoomState {
        RoomState {
            locked: self.locked,
            lobby: self.lobby,
        }
    }

    fn participants(&self) -> Vec<Participant> {
        self.members
            .values()
            .filter(|m| m.presence != Presence::Waiting)
            .map(|m| m.participant.clone())
            .collect()
    }

    fn host_view(&mut self) {
        let waiting = self
            .members
            .values()
            .filter(|m| m.presence == Presence::Waiting)
            .map(|m| Person {
                id: m.participant.id.clone(),
                name: m.participant.name.clone(),
            })
            .collect();
        let removed = self
            .removed
            .iter()
            .map(|(id, name)| Person {
                id: id.clone(),
                name: name.clone(),
            })
            .collect();
        let hosts = self.hosts_conns();
        self.send(hosts, ServerMessage::HostView { waiting, removed });
    }

    fn save(&mut self, store: &mut impl Store) {
        // A failed save is retried by the next change; the live state stays
        // right, and messages (stored separately) are never lost.
        let _ = store.save(&self.snapshot());
    }

    /// The boards, loaded from `store` on first use.
    fn boards(&mut self, store: &impl Store) -> &mut Boards {
        self.boards
            .get_or_insert_with(|| Boards::load(store.boards_ref()))
    }

    fn welcome(
        &mut self,
        conns: Vec<ConnId>,
        id: &ParticipantId,
        after: Option<u64>,
        store: &impl Store,
    ) {
        let Some(you) = self.members.get(id).map(|m| m.participant.clone()) else {
            return;
        };
        let history = match after {
            Some(after) => store.after(id, after, MAX_REPLAY),
            None => store.before(id, u64::MAX, HISTORY_PAGE),
        };
        let boards = self.boards(store).state();
        let welcome = ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            you: you.clone(),
            participants: self.participants(),
            history,
            room: self.room_state(),
            boards,
            layout: self.layout.clone(),
        };
        self.send(conns, welcome);
        if you.role == RoomRole::Host {
            self.host_view();
        }
    }

    /// A socket was accepted for `identity` (verified by the worker), wanting
    /// the messages after `after` if it is resuming.
    pub fn handle_connect(
        &mut self,
        conn: ConnId,
        identity: Identity,
        after: Option<u64>,
        now_ms: i64,
        store: &mut impl Store,
    ) {
        self.now_ms = now_ms;
        if self.ended {
            return self.close(conn, close_code::ENDED, "the meeting has ended");
        }
        if self.removed.contains_key(&identity.id) {
            return self.close(
                conn,
                close_code::REMOVED,
                "a host removed you from this room",
            );
        }
        // The accounts database is the truth for options. The room takes them
        // from the first identity only; later changes arrive as they happen
        // (`Lock` here, written through; `handle_sync` for the HTTP API), so
        // a join that read D1 a moment earlier cannot undo them.
        if self.id.is_none() {
            self.id = Some(identity.room.clone());
        }
        if !self.configured {
            self.configured = true;
            self.lobby = identity.lobby;
            self.locked = identity.locked;
            self.max_participants = identity.max_participants;
        }
        let id = identity.id.clone();
        self.conns.insert(
            conn,
            Conn {
                who: id.clone(),
                near: identity.near.clone(),
            },
        );

        if let Some(member) = self.members.get_mut(&id) {
            member.conns.insert(conn);
            let role_changed = member.participant.role != identity.role;
            member.participant.role = identity.role;
            member.participant.name = identity.name;
            match member.presence {
                Presence::Waiting => self.send(vec![conn], ServerMessage::Waiting),
                Presence::Away { .. } | Presence::Present => {
                    member.presence = Presence::Present;
                    let participant = member.participant.clone();
                    self.welcome(vec![conn], &id, after, store);
                    if role_changed {
                        let others: Vec<ConnId> = self
                            .present_conns()
                            .into_iter()
                            .filter(|c| *c != conn)
                            .collect();
                        self.send(others, ServerMessage::Updated { participant });
                    }
                }
            }
            return self.save(store);
        }

        let host = identity.role == RoomRole::Host;
        if !host && self.locked {
            self.conns.remove(&conn);
            return self.close(conn, close_code::LOCKED, "the room is locked");
        }
        let present = self
            .members
            .values()
            .filter(|m| m.presence != Presence::Waiting)
            .count();
        if !host && present >= self.max_participants as usize {
            self.conns.remove(&conn);
            return self.close(conn, close_code::FULL, "the room is full");
        }
        let participant = Participant {
            id: id.clone(),
            name: identity.name,
            role: identity.role,
            guest: identity.guest,
            hand_raised: false,
            mic_muted: false,
            camera_muted: false,
        };
        let presence = if self.lobby && !host {
            Presence::Waiting
        } else {
            Presence::Present
        };
        let mut member = Member::new(participant.clone(), presence, now_ms);
        member.conns.insert(conn);
        self.members.insert(id.clone(), member);
        if presence == Presence::Waiting {
            self.send(vec![conn], ServerMessage::Waiting);
            self.host_view();
        } else {
            let others: Vec<ConnId> = self
                .present_conns()
                .into_iter()
                .filter(|c| *c != conn)
                .collect();
            self.send(others, ServerMessage::Joined { participant });
            self.welcome(vec![conn], &id, after, store);
        }
        self.save(store);
    }

    /// The accounts database changed through the HTTP API (options, end, a
    /// role): apply it to the live room.
    pub fn handle_sync(&mut self, sync: RoomSync, now_ms: i64, store: &mut impl Store) {
        self.now_ms = now_ms;
        self.configured = true;
        self.max_participants = sync.max_participants;
        if (self.locked, self.lobby) != (sync.locked, sync.lobby) {
            self.locked = sync.locked;
            self.lobby = sync.lobby;
            let everyone = self.present_conns();
            let room = self.room_state();
            self.send(everyone, ServerMessage::Room { room });
        }
        if let Some((id, role)) = sync.role_change {
            match role {
                Some(role) => {
                    // Absent members get the new role when they next connect.
                    let _ = self.update(&id, |p| p.role = role, store);
                    if role == RoomRole::Host {
                        self.host_view();
                    }
                }
                None => {
                    if self
                        .expel(
                            &id,
                            close_code::REMOVED,
                            "you are no longer a member of this room",
                        )
                        .is_some()
                    {
                        self.host_view();
                    }
                }
            }
        }
        if sync.ended && !self.ended {
            self.end_meeting();
        }
        self.save(store);
    }

    /// A socket closed at `now_ms`.
    pub fn handle_disconnect(&mut self, conn: ConnId, now_ms: i64, store: &mut impl Store) {
        self.now_ms = now_ms;
        if self.detach(conn) {
            self.save(store);
        }
    }

    /// Time passed: members away longer than [`GRACE_MS`] leave.
    pub fn handle_tick(&mut self, now_ms: i64, store: &mut impl Store) {
        self.now_ms = now_ms;
        let gone: Vec<ParticipantId> = self
            .members
            .iter()
            .filter(|(_, m)| matches!(m.presence, Presence::Away { since_ms } if since_ms + GRACE_MS <= now_ms))
            .map(|(id, _)| id.clone())
            .collect();
        if gone.is_empty() {
            return;
        }
        for id in gone {
            self.members.remove(&id);
            let everyone = self.present_conns();
            self.send(everyone, ServerMessage::Left { id });
        }
        self.save(store);
    }

    /// A socket sent a frame at `now_ms`.
    pub fn handle_frame(
        &mut self,
        conn: ConnId,
        frame: Frame<'_>,
        now_ms: i64,
        store: &mut impl Store,
    ) {
        self.now_ms = now_ms;
        let len = match frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(n) => n,
        };
        if len > MAX_FRAME_BYTES {
            return self.close(
                conn,
                close_code::MESSAGE_TOO_BIG,
                "frame larger than 40 KiB",
            );
        }
        let Some(who) = self.conns.get(&conn).map(|c| c.who.clone()) else {
            return;
        };
        let decoded = match frame {
            Frame::Text(text) => Some(ClientMessage::decode(text)),
            Frame::Binary(_) => None,
        };
        let Some(member) = self.members.get_mut(&who) else {
            return;
        };
        // Whiteboard operations have their own, faster budget.
        let bucket = match decoded {
            Some(Ok(ClientMessage::Board(_))) => &mut member.board_bucket,
            _ => &mut member.bucket,
        };
        if bucket.take(now_ms) {
            member.strikes = 0;
        } else {
            member.strikes += 1;
            if member.strikes > MAX_STRIKES {
                return self.close(conn, close_code::POLICY, "too many messages");
            }
            return self.send(
                vec![conn],
                refuse(ErrorCode::RateLimited, "too many messages; slow down"),
            );
        }
        let Some(decoded) = decoded else {
            return self.send(
                vec![conn],
                refuse(
                    ErrorCode::Malformed,
                    "binary frames are not part of the protocol",
                ),
            );
        };
        let msg = match decoded {
            Ok(msg) => msg,
            Err(e) => {
                return self.send(vec![conn], refuse(ErrorCode::Malformed, e.to_string()));
            }
        };
        let (role, presence) = match self.members.get(&who) {
            Some(m) => (m.participant.role, m.presence),
            None => return,
        };
        if presence == Presence::Waiting {
            return self.send(
                vec![conn],
                refuse(ErrorCode::Forbidden, "waiting in the lobby"),
            );
        }
        let grants = Grants {
            global: None,
            room: Some(role),
        };
        let result = self.apply(&who, grants, msg, conn, now_ms, store);
        if let Err(refusal) = result {
            self.send(vec![conn], refusal);
        }
    }

    fn apply(
        &mut self,
        who: &ParticipantId,
        grants: Grants,
        msg: ClientMessage,
        conn: ConnId,
        now_ms: i64,
        store: &mut impl Store,
    ) -> Result<(), Refusal> {
        let need = |p: Permission| {
            access::check(grants, p).map_err(|d| refuse(ErrorCode::Forbidden, d.to_string()))
        };
        match msg {
            ClientMessage::Board(op) => {
                let rights = Rights {
                    draw: access::check(grants, Permission::Draw).is_ok(),
                    manage: access::check(grants, Permission::ManageBoards).is_ok(),
                };
                let effects = self
                    .boards(store)
                    .apply(who, rights, op, store.boards())
                    .map_err(|r| refuse(r.0, r.1))?;
                for e in effects {
                    match e {
                        Effect::Change { seq, change } => {
                            let everyone = self.present_conns();
                            let by = who.clone();
                            self.send(everyone, ServerMessage::Board { seq, by, change });
                        }
                        Effect::State { board, strokes } => {
                            let seq = self.boards(store).seq();
                            self.send(
                                vec![conn],
                                ServerMessage::BoardState {
                                    board,
                                    seq,
                                    strokes,
                                },
                            );
                        }
                    }
                }
            }
            ClientMessage::Say { text, to } => {
                need(Permission::Chat)?;
                let text = checked_text(text)?;
                if let Some(to) = &to {
                    need(Permission::DirectMessage)?;
                    let reachable = self
                        .members
                        .get(to)
                        .is_some_and(|m| m.presence != Presence::Waiting);
                    if to == who || !reachable {
                        return Err(refuse(ErrorCode::NotFound, "no such participant"));
                    }
                }
                let from_name = self
                    .members
                    .get(who)
                    .map(|m| m.participant.name.clone())
                    .unwrap_or_default();
                let message = ChatMessage {
                    seq: self.next_seq,
                    rev: self.next_rev,
                    from: who.clone(),
                    from_name,
                    to,
                    text,
                    at_ms: now_ms,
                    edited_ms: None,
                    deleted: false,
                };
                store
                    .append(&message)
                    .map_err(|e| refuse(ErrorCode::Conflict, format!("not stored: {}", e.0)))?;
                self.next_seq += 1;
                self.next_rev += 1;
                let audience = self.audience(&message);
                self.send(audience, ServerMessage::Chat { message });
            }
            ClientMessage::Edit { seq, text } => {
                let text = checked_text(text)?;
                let mut message = self.visible(who, seq, store)?;
                if &message.from != who || message.deleted {
                    return Err(refuse(
                        ErrorCode::Forbidden,
                        "only the author may edit a message",
                    ));
                }
                message.text = text;
                message.edited_ms = Some(now_ms);
                message.rev = self.next_rev;
                store
                    .replace(&message)
                    .map_err(|e| refuse(ErrorCode::Conflict, e.0))?;
                self.next_rev += 1;
                let audience = self.audience(&message);
                self.send(audience, ServerMessage::Changed { message });
            }
            ClientMessage::Delete { seq } => {
                let mut message = self.visible(who, seq, store)?;
                let by_host = &message.from != who;
                if by_host {
                    need(Permission::ModerateChat)?;
                }
                message.text.clear();
                message.deleted = true;
                message.rev = self.next_rev;
                store
                    .replace(&message)
                    .map_err(|e| refuse(ErrorCode::Conflict, e.0))?;
                self.next_rev += 1;
                if by_host {
                    self.audit(who, "chat_message_deleted", format!("message:{seq}"));
                }
                let audience = self.audience(&message);
                self.send(audience, ServerMessage::Changed { message });
            }
            ClientMessage::History { before } => {
                let messages = store.before(who, before, HISTORY_PAGE + 1);
                let more = messages.len() > HISTORY_PAGE;
                let messages = messages.into_iter().skip(usize::from(more)).collect();
                self.send(vec![conn], ServerMessage::History { messages, more });
            }
            ClientMessage::RaiseHand => self.update(who, |p| p.hand_raised = true, store)?,
            ClientMessage::LowerHand { who: target } => {
                let target = target.unwrap_or_else(|| who.clone());
                if &target != who {
                    need(Permission::LowerHands)?;
                }
                self.update(&target, |p| p.hand_raised = false, store)?;
                if &target != who {
                    self.audit(who, "hand_lowered", target.to_string());
                }
            }
            ClientMessage::Mute { who: target, track } => {
                need(Permission::MuteOthers)?;
                self.host_mute(who, &target, track, true, store)?;
            }
            ClientMessage::Unmute { who: target, track } => {
                need(Permission::MuteOthers)?;
                self.host_mute(who, &target, track, false, store)?;
            }
            ClientMessage::MediaOffer { sdp, sources } => {
                need(Permission::Join)?;
                if sdp.len() > MAX_SDP_BYTES {
                    return Err(refuse(ErrorCode::BadOffer, "the offer is too large"));
                }
                if sources.len() > MAX_OFFER_SOURCES {
                    return Err(refuse(ErrorCode::BadOffer, "too many sources"));
                }
                for s in &sources {
                    need(publish_permission(s.source))?;
                }
                let claims = self
                    .media_claims(who)
                    .ok_or_else(|| refuse(ErrorCode::NotFound, "not in the room"))?;
                let near = self.conns.get(&conn).and_then(|c| c.near.clone());
                self.outputs.push_back(Output::MediaJoin {
                    conn,
                    claims,
                    sdp,
                    sources,
                    near,
                });
            }
            ClientMessage::MediaRestart { sdp } => {
                need(Permission::Join)?;
                if sdp.len() > MAX_SDP_BYTES {
                    return Err(refuse(ErrorCode::BadOffer, "the offer is too large"));
                }
                self.outputs.push_back(Output::MediaRestart {
                    conn,
                    participant: who.clone(),
                    sdp,
                });
            }
            ClientMessage::Remove { who: target } => {
                need(Permission::RemoveOthers)?;
                if &target == who {
                    return Err(refuse(
                        ErrorCode::Conflict,
                        "you cannot remove yourself; leave instead",
                    ));
                }
                let member = self
                    .expel(
                        &target,
                        close_code::REMOVED,
                        "a host removed you from this room",
                    )
                    .ok_or_else(|| refuse(ErrorCode::NotFound, "no such participant"))?;
                self.removed.insert(target.clone(), member.participant.name);
                self.host_view();
                self.audit(who, "participant_removed", target.to_string());
                self.save(store);
            }
            ClientMessage::Allow { who: target } => {
                need(Permission::RemoveOthers)?;
                self.removed
                    .remove(&target)
                    .ok_or_else(|| refuse(ErrorCode::NotFound, "not removed"))?;
                self.host_view();
                self.audit(who, "participant_allowed", target.to_string());
                self.save(store);
            }
            ClientMessage::SetRole { who: target, role } => {
                need(Permission::ChangeRoles)?;
                let member = self
                    .members
                    .get(&target)
                    .ok_or_else(|| refuse(ErrorCode::NotFound, "no such participant"))?;
                if member.participant.guest && role == RoomRole::Host {
                    return Err(refuse(ErrorCode::Conflict, "guests cannot be hosts"));
                }
                let hosts = self
                    .members
                    .values()
                    .filter(|m| m.participant.role == RoomRole::Host)
                    .count();
                if member.participant.role == RoomRole::Host && role != RoomRole::Host && hosts <= 1
                {
                    return Err(refuse(
                        ErrorCode::Conflict,
                        "a room keeps at least one host",
                    ));
                }
                self.update(&target, |p| p.role = role, store)?;
                self.media_grants(&target);
                if let Some(user) = target.as_str().strip_prefix("u-") {
                    self.outputs.push_back(Output::PersistRole {
                        user: user.to_owned(),
                        role,
                    });
                }
                self.audit(who, "role_changed", target.to_string());
                if role == RoomRole::Host {
                    self.host_view();
                }
            }
            ClientMessage::Lock { locked } => {
                need(Permission::LockRoom)?;
                self.locked = locked;
                let everyone = self.present_conns();
                let room = self.room_state();
                self.send(everyone, ServerMessage::Room { room });
                self.outputs.push_back(Output::PersistLock(locked));
                self.audit(
                    who,
                    if locked {
                        "room_locked"
                    } else {
                        "room_unlocked"
                    },
                    String::new(),
                );
                self.save(store);
            }
            ClientMessage::Admit { who: target } => {
                need(Permission::AdmitFromLobby)?;
                let member = self
                    .members
                    .get_mut(&target)
                    .filter(|m| m.presence == Presence::Waiting);
                let member = member
                    .ok_or_else(|| refuse(ErrorCode::NotFound, "nobody by that id is waiting"))?;
                member.presence = Presence::Present;
                let participant = member.participant.clone();
                let conns: Vec<ConnId> = member.conns.iter().copied().collect();
                let others: Vec<ConnId> = self
                    .present_conns()
                    .into_iter()
                    .filter(|c| !conns.contains(c))
                    .collect();
                self.send(others, ServerMessage::Joined { participant });
                self.welcome(conns, &target, None, store);
                self.host_view();
                self.audit(who, "lobby_admitted", target.to_string());
                self.save(store);
            }
            ClientMessage::Deny { who: target } => {
                need(Permission::AdmitFromLobby)?;
                let waiting = self
                    .members
                    .get(&target)
                    .is_some_and(|m| m.presence == Presence::Waiting);
                if !waiting {
                    return Err(refuse(ErrorCode::NotFound, "nobody by that id is waiting"));
                }
                self.expel(&target, close_code::DENIED, "a host did not let you in");
                self.host_view();
                self.audit(who, "lobby_denied", target.to_string());
                self.save(store);
            }
            ClientMessage::PushLayout { pushed } => {
                need(Permission::PushLayout)?;
                if let Some(p) = &pushed {
                    p.layout
                        .check()
                        .map_err(|e| refuse(ErrorCode::Malformed, e.to_string()))?;
                }
                self.layout = pushed.clone();
                let everyone = self.present_conns();
                self.send(everyone, ServerMessage::Layout { pushed });
                self.save(store);
            }
            ClientMessage::End => {
                need(Permission::EndMeeting)?;
                self.end_meeting();
                self.outputs.push_back(Output::PersistEnded);
                self.audit(who, "room_ended", String::new());
                self.save(store);
            }
        }
        Ok(())
    }

    /// Who receives `message`: everyone present, or the two parties of a
    /// direct message.
    fn audience(&self, message: &ChatMessage) -> Vec<ConnId> {
        match &message.to {
            None => self.present_conns(),
            Some(to) => {
                let mut conns = self.conns_of(&message.from);
                conns.extend(self.conns_of(to));
                conns
            }
        }
    }

    /// Message `seq` if `who` may see it.
    fn visible(
        &self,
        who: &ParticipantId,
        seq: u64,
        store: &impl Store,
    ) -> Result<ChatMessage, Refusal> {
        store
            .get(seq)
            .filter(|m| m.to.is_none() || &m.from == who || m.to.as_ref() == Some(who))
            .ok_or_else(|| refuse(ErrorCode::NotFound, "no such message"))
    }

    /// Changes a present or away member and tells everyone.
    /// A host mutes or unmutes someone's track: everyone sees it, the audit
    /// log records it, and the media node enforces it.
    fn host_mute(
        &mut self,
        who: &ParticipantId,
        target: &ParticipantId,
        track: Track,
        muted: bool,
        store: &mut impl Store,
    ) -> Result<(), Refusal> {
        self.update(
            target,
            |p| match track {
                Track::Microphone => p.mic_muted = muted,
                Track::Camera => p.camera_muted = muted,
            },
            store,
        )?;
        let action = match (track, muted) {
            (Track::Microphone, true) => "participant_mic_muted",
            (Track::Camera, true) => "participant_camera_muted",
            (Track::Microphone, false) => "participant_mic_unmuted",
            (Track::Camera, false) => "participant_camera_unmuted",
        };
        self.audit(who, action, target.to_string());
        self.media_grants(target);
        Ok(())
    }

    /// What a participant's media token grants now: the sources their role
    /// allows, split into forwarded and host-muted.
    fn media_claims(&self, id: &ParticipantId) -> Option<MediaClaims> {
        let member = self.members.get(id)?;
        let p = &member.participant;
        let grants = Grants {
            global: None,
            room: Some(p.role),
        };
        let mut claims = MediaClaims {
            room: self.id.clone()?,
            participant: id.clone(),
            publish: Vec::new(),
            subscribe: true,
            muted: Vec::new(),
        };
        for source in [Source::Camera, Source::Microphone, Source::Screen] {
            if access::check(grants, publish_permission(source)).is_err() {
                continue;
            }
            let muted = match source {
                Source::Camera => p.camera_muted,
                Source::Microphone => p.mic_muted,
                Source::Screen => false,
            };
            if muted {
                claims.muted.push(source);
            } else {
                claims.publish.push(source);
            }
        }
        Some(claims)
    }

    /// Tells the media node a participant's current grants.
    fn media_grants(&mut self, id: &ParticipantId) {
        if let Some(c) = self.media_claims(id) {
            self.outputs.push_back(Output::MediaGrants {
                participant: id.clone(),
                grants: GrantsUpdate {
                    publish: c.publish,
                    subscribe: c.subscribe,
                },
            });
        }
    }

    /// The media node answered a socket's offer (or refused it).
    pub fn handle_media_answer(&mut self, conn: ConnId, answer: Result<String, MediaRefusal>) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        let msg = match answer {
            Ok(sdp) => ServerMessage::MediaAnswer { sdp },
            Err(r) => ServerMessage::Error {
                code: r.code,
                message: r.message,
            },
        };
        self.send(vec![conn], msg);
    }

    fn update(
        &mut self,
        id: &ParticipantId,
        change: impl FnOnce(&mut Participant),
        store: &mut impl Store,
    ) -> Result<(), Refusal> {
        let member = self
            .members
            .get_mut(id)
            .filter(|m| m.presence != Presence::Waiting)
            .ok_or_else(|| refuse(ErrorCode::NotFound, "no such participant"))?;
        change(&mut member.participant);
        let participant = member.participant.clone();
        let everyone = self.present_conns();
        self.send(everyone, ServerMessage::Updated { participant });
        self.save(store);
        Ok(())
    }
}

impl Default for Room {
    fn default() -> Self {
        Self::new()
    }
}

fn checked_text(text: String) -> Result<String, Refusal> {
    if text.trim().is_empty() {
        return Err(refuse(ErrorCode::Empty, "message is empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(refuse(
            ErrorCode::TooLong,
            format!("message is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::{ConnId, Conns};

    #[test]
    fn conns_hold_each_socket_once_in_order() {
        let mut conns = Conns::default();
        for c in [7, 3, 7, 5, 3] {
            conns.insert(ConnId(c));
        }
        let all: Vec<u64> = conns.iter().map(|c| c.0).collect();
        assert_eq!(all, [3, 5, 7]);
        conns.remove(&ConnId(5));
        conns.remove(&ConnId(9));
        let all: Vec<u64> = conns.iter().map(|c| c.0).collect();
        assert_eq!(all, [3, 7]);
        conns.remove(&ConnId(3));
        conns.remove(&ConnId(7));
        assert!(conns.is_empty());
    }
}
