//! The forwarding core: every room and client on this node. Sans-IO: the
//! caller feeds datagrams, commands and time (`handle_*`) and sends what
//! [`Sfu::poll_output`] yields; nothing here reads a clock or a socket.
//!
//! Layout:
//! - this file: [`Sfu`], routing of datagrams, the timer heap, events,
//!   forwarding and negotiation;
//! - [`client`]: one participant's connection and the join check;
//! - [`track`]: a published track and its layers;
//! - [`frame`]: keyframes and heights read from VP8, VP9, H.264, AV1;
//! - [`subscription`]: a track sent to one subscriber;
//! - [`rewrite`]: sequence/timestamp/picture-id continuity across layers;
//! - [`layer`]: pure layer allocation from bandwidth and tile sizes;
//! - [`estimate`]: a subscriber's bandwidth estimate from reported loss;
//! - [`speaker`]: active speakers from audio levels.
//!
//! Invariants: a datagram reaches only the client whose ICE password its
//! sender proved, or which owns its source address; a subscription pairs a
//! track and a client of the same room (only [`Sfu::negotiate`] creates
//! them); forwarding walks a track's own subscriber list, never all clients.

pub mod client;
pub mod estimate;
pub mod frame;
pub mod layer;
pub mod overload;
pub mod rewrite;
pub mod speaker;
pub mod subscription;
pub mod track;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use protocol::channel;
use protocol::channel::Reassembly;
use protocol::media::{
    ClientStats, GrantsUpdate, NodeMessage, NodeStats, PeerMessage, RemoteTrack, Source, TrackName,
};
use protocol::node::NodeLoad;
use protocol::{ParticipantId, RoomId};
use slab::Slab;
use str0m::bwe::BweKind;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo, Vp8Descriptor};
use str0m::{Event, IceConnectionState, Input};

use client::{Accepted, Client, JoinError};
use subscription::{Gate, Holder, State, Subscription};

/// A client's index in the slab plus its unique id, so a reference to a
/// client that left (and whose slot was reused) is recognised as stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientRef {
    key: usize,
    id: u64,
}

/// A published track: its publisher and its index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrackRef {
    publisher: ClientRef,
    index: usize,
}

/// Limits of the core.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Participants on the node.
    pub max_clients: usize,
    /// Participants in one room.
    pub max_room: usize,
    /// Time to connect after joining.
    pub connect_within: Duration,
    /// Time for a connection whose ICE went down to come back before the
    /// node removes it: a backstop (the room removes a participant whose
    /// socket closed), long, because a browser back after it finds its
    /// ICE restart refused.
    pub reconnect_within: Duration,
    /// Addresses remembered per client.
    pub max_addrs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clients: 1000,
            max_room: 100,
            connect_within: Duration::from_secs(15),
            reconnect_within: Duration::from_secs(300),
            max_addrs: 8,
        }
    }
}

/// What the caller must do.
#[derive(Debug)]
pub enum Output {
    /// Send a datagram.
    Transmit(Transmit),
    /// A client left or was removed (for logs and the room).
    Gone {
        /// The room.
        room: RoomId,
        /// Who.
        participant: ParticipantId,
        /// Why, for people.
        reason: &'static str,
    },
}

/// A control command, from the room (through the control API).
#[derive(Debug)]
pub enum Command {
    /// Change what a participant may publish and receive.
    Grants(RoomId, ParticipantId, GrantsUpdate),
    /// Disconnect a participant.
    Remove(RoomId, ParticipantId),
    /// Disconnect everyone in a room.
    CloseRoom(RoomId),
    /// An ICE restart offer.
    Restart(RoomId, ParticipantId, Box<SdpOffer>),
}

/// Budget share of the estimate used for video (headroom for RTCP,
/// resends and the data channel).
const BUDGET_SHARE: u64 = 90;

/// Upgrades wait this long after the previous one.
const UPGRADE_HOLD: Duration = Duration::from_secs(3);

/// Most clients fed their timeouts per [`Sfu::handle_timeout`]; the rest
/// stay due for the next call. Clients that joined together fall due
/// together: str0m writes every stream's sender report once a second, and
/// for a subscriber with 60 streams that is 0.5 to 1 ms of work. Twenty of
/// them in one call kept the socket unread for 15 ms; between calls the
/// adapter reads and forwards what arrived.
const TIMEOUTS_PER_CALL: usize = 1;

/// Clients whose timeouts are this late are fed in the same call, beyond
/// [`TIMEOUTS_PER_CALL`]: under overload a turn is long, and one client a
/// turn would leave publishers' NACK and keyframe timers seconds behind.
/// At 20 ms a room's coinciding sender reports (20 subscribers, 15 ms in
/// turns) tipped over it and came back as one turn: p99 12 ms at 30x30.
const OVERDUE: Duration = Duration::from_millis(100);

/// How often every subscriber's layers are re-allocated.
const REALLOCATE: Duration = Duration::from_secs(1);

/// Tile height assumed before a browser reports its view.
const DEFAULT_TILE_HEIGHT: u32 = 360;

/// Most video slots a subscriber's connection gets: tiles beyond this many
/// (an 8x8 grid) are not sent.
const MAX_SLOTS: usize = 64;

#[derive(Debug, Default)]
struct Room {
    clients: Vec<ClientRef>,
    speakers: Vec<ParticipantId>,
    speakers_due: Option<Instant>,
}

/// Every room and client on the node.
pub struct Sfu {
    limits: Limits,
    public_addr: SocketAddr,
    clients: Slab<Client>,
    next_id: u64,
    rooms: HashMap<RoomId, Room>,
    by_addr: HashMap<SocketAddr, ClientRef>,
    by_ufrag: HashMap<String, ClientRef>,
    by_participant: HashMap<(RoomId, ParticipantId), ClientRef>,
    timers: BinaryHeap<Reverse<(Instant, ClientRef)>>,
    /// Events drained from clients, handled in order after each input.
    events: VecDeque<(ClientRef, Event)>,
    /// Clients whose negotiation may be due.
    dirty: Vec<ClientRef>,
    out: VecDeque<Output>,
    /// Subscribers with packets written since their last drain. Draining a
    /// str0m `Rtc` costs a scan of all its streams, so a batch of input
    /// drains each subscriber once, when the caller next polls output,
    /// instead of once per packet: under load, cost per packet falls as
    /// batches grow.
    written: Vec<ClientRef>,
    /// The time of the latest input, for work done lazily in `poll_output`.
    last_now: Option<Instant>,
    /// The node-wide share of subscribers' video budgets, cut while the
    /// forwarding task is overloaded.
    overload: overload::Overload,
    stats: NodeStats,
    /// When every subscriber's layers are next re-allocated (layers start
    /// and stop, and some peers never report an estimate or a view).
    next_allocation: Option<Instant>,
}

impl Sfu {
    /// An empty node advertising `public_addr` in its ICE candidates.
    pub fn new(public_addr: SocketAddr, limits: Limits) -> Self {
        Sfu {
            limits,
            public_addr,
            clients: Slab::new(),
            next_id: 1,
            rooms: HashMap::new(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_participant: HashMap::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            dirty: Vec::new(),
            out: VecDeque::new(),
            written: Vec::new(),
            last_now: None,
            overload: overload::Overload::default(),
            stats: NodeStats::default(),
            next_allocation: None,
        }
    }

    /// The next thing to do. Call until `None` after every input: the
    /// packets written to subscribers are sent from here.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.out.is_empty() && !self.written.is_empty() {
            self.flush_written();
        }
        self.out.pop_front()
    }

    /// Drains every subscriber that had packets written.
    fn flush_written(&mut self) {
        let written = std::mem::take(&mut self.written);
        let now = self.last_now;
        for r in written {
            if let Some(c) = self.client_mut(r) {
                c.written = false;
            }
            // str0m snapshots its send queues only in `handle_timeout`: time
            // fed now sends the packets in this drain, not after a trip
            // through the timer heap (one poll fewer per packet, and sooner).
            match now {
                Some(now) => self.feed(r, Input::Timeout(now)),
                None => self.drain(r),
            }
        }
        // Draining can surface events (feedback, keyframe requests).
        if !self.events.is_empty()
            && let Some(now) = self.last_now
        {
            self.settle(now);
        }
    }

    /// How loaded the forwarding task was over the interval ending at `now`
    /// (the adapter reads CPU time and the socket's queue). Falling behind
    /// scales every subscriber's video budget down, so layers and then the
    /// lowest-priority tiles are dropped rather than everything queueing;
    /// a short queue restores it step by step.
    pub fn handle_pressure(&mut self, now: Instant, pressure: overload::Pressure) {
        if !self.overload.handle_pressure(now, pressure) {
            return;
        }
        tracing::info!(
            ?pressure,
            percent = self.overload.percent(),
            "overload: video budget share changed"
        );
        // Re-allocate everyone now rather than at the next periodic pass.
        self.next_allocation = None;
        self.settle(now);
    }

    /// The share of subscribers' video budgets allowed now, in percent
    /// (100 unless overloaded).
    pub fn budget_percent(&self) -> u32 {
        self.overload.percent()
    }

    /// When [`Sfu::handle_timeout`] is next due (after `poll_output` gave
    /// `None`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let client = self.timers.peek().map(|Reverse((t, _))| *t);
        match (client, self.next_allocation) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Load figures for the registry.
    pub fn load(&self) -> NodeLoad {
        NodeLoad {
            rooms: self.rooms.len() as u32,
            participants: self.clients.len() as u32,
        }
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        let clients = self
            .clients
            .iter()
            .map(|(_, c)| ClientStats {
                room: c.room.to_string(),
                participant: c.participant.to_string(),
                connected: c.connected,
                estimate: Some(c.estimate.bitrate()),
                packets_out: c.packets_out,
                receiving: c
                    .subs
                    .iter()
                    .filter(|s| s.state == State::Active)
                    .filter_map(|s| {
                        let h = s.holder.as_ref()?;
                        Some((
                            format!("{}/{}", h.name.participant, h.name.source.as_str()),
                            s.current.map(|l| l as u8),
                        ))
                    })
                    .collect(),
                parked: c.subs.iter().filter(|s| s.parked.is_some()).count() as u32,
                ice_down: c.ice_down_since.is_some(),
            })
            .collect();
        NodeStats {
            rooms: self.rooms.len() as u32,
            participants: self.clients.len() as u32,
            tracks: self
                .clients
                .iter()
                .map(|(_, c)| c.tracks.len() as u32)
                .sum(),
            budget_percent: self.overload.percent(),
            clients,
            ..self.stats.clone()
        }
    }

    fn client(&self, r: ClientRef) -> Option<&Client> {
        self.clients.get(r.key).filter(|c| c.id == r.id)
    }

    fn client_mut(&mut self, r: ClientRef) -> Option<&mut Client> {
        self.clients.get_mut(r.key).filter(|c| c.id == r.id)
    }

    /// Adds an accepted participant; a second join of the same participant
    /// in the same room replaces the first.
    pub fn handle_join(&mut self, now: Instant, accepted: Accepted) -> Result<String, JoinError> {
        let Accepted {
            claims,
            mut rtc,
            answer,
            tracks,
            deadline,
        } = accepted;
        let room = claims.room.clone();
        let who = claims.participant.clone();
        if let Some(old) = self
            .by_participant
            .get(&(room.clone(), who.clone()))
            .copied()
        {
            self.remove(old, "replaced by a new connection");
        }
        if self.clients.len() >= self.limits.max_clients {
            return Err(JoinError::Full("this media node is full".into()));
        }
        if self.rooms.get(&room).map_or(0, |r| r.clients.len()) >= self.limits.max_room {
            return Err(JoinError::Full(
                "the room is full on this media node".into(),
            ));
        }
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        let id = self.next_id;
        self.next_id += 1;
        let entry = self.clients.vacant_entry();
        let me = ClientRef {
            key: entry.key(),
            id,
        };
        entry.insert(Client {
            id,
            participant: who.clone(),
            room: room.clone(),
            rtc,
            publish: claims.publish.clone(),
            subscribe: claims.subscribe,
            ufrag: ufrag.clone(),
            addrs: Vec::new(),
            tracks,
            ssrcs: HashMap::new(),
            subs: Vec::new(),
            available: Vec::new(),
            slots_wanted: 0,
            channel: None,
            pending: None,
            dirty: false,
            connected: false,
            ice_down_since: None,
            joined: now,
            deadline,
            scheduled: Some(deadline),
            packets_out: 0,
            written: false,
            estimate: Default::default(),
            view: HashMap::new(),
            outbox: VecDeque::new(),
            inbox: Reassembly::default(),
        });
        self.by_ufrag.insert(ufrag, me);
        self.by_participant.insert((room.clone(), who), me);
        let r = self.rooms.entry(room).or_default();
        r.clients.push(me);
        // Everyone else in the room will receive the newcomer's tracks; the
        // newcomer gets theirs once its data channel opens.
        let others: Vec<ClientRef> = r.clients.iter().copied().filter(|c| *c != me).collect();
        for &o in &others {
            if let Some(c) = self.client_mut(o) {
                c.dirty = true;
            }
        }
        self.dirty.extend(others);
        self.timers.push(Reverse((deadline, me)));
        self.settle(now);
        Ok(answer)
    }

    /// A datagram arrived from `source`.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, buf: &[u8]) {
        // A node advertising a loopback address serves only this host's
        // loopback: a browser with other interfaces must not settle on a
        // path the node would answer through another interface.
        if self.public_addr.ip().is_loopback() && !source.ip().is_loopback() {
            self.stats.dropped_unrouted += 1;
            return;
        }
        let Ok(receive) = Receive::new(Protocol::Udp, source, self.public_addr, buf) else {
            self.stats.dropped_unrouted += 1;
            return;
        };
        self.last_now = Some(now);
        let input = Input::Receive(now, receive);
        let target = match self.by_addr.get(&source).copied() {
            Some(r) if self.client(r).is_some_and(|c| c.rtc.accepts(&input)) => Some(r),
            _ => self.stun_owner(buf, &input),
        };
        let Some(r) = target else {
            self.stats.dropped_unrouted += 1;
            return;
        };
        if self.by_addr.get(&source) != Some(&r) {
            self.remember_addr(r, source);
        }
        self.feed(r, input);
        self.settle(now);
    }

    /// The client a STUN request is for: the username's first half is the
    /// node's ufrag; that client alone checks the message integrity.
    fn stun_owner(&self, buf: &[u8], input: &Input) -> Option<ClientRef> {
        if buf.first().is_none_or(|b| *b > 1) {
            return None;
        }
        let msg = str0m::ice::StunMessage::parse(buf).ok()?;
        let (local, _) = msg.split_username()?;
        let r = *self.by_ufrag.get(local)?;
        self.client(r)?.rtc.accepts(input).then_some(r)
    }

    fn remember_addr(&mut self, r: ClientRef, addr: SocketAddr) {
        if let Some(prev) = self.by_addr.insert(addr, r)
            && let Some(c) = self.client_mut(prev)
        {
            c.addrs.retain(|a| *a != addr);
        }
        let max = self.limits.max_addrs;
        let mut evicted = None;
        if let Some(c) = self.client_mut(r) {
            c.addrs.push(addr);
            if c.addrs.len() > max {
                evicted = Some(c.addrs.remove(0));
            }
        }
        if let Some(a) = evicted {
            self.by_addr.remove(&a);
        }
    }

    /// Time passed: due clients get their timeouts. Each client is fed at
    /// most once per call: a deadline that is already due again (str0m may
    /// ask for "now") waits for the next call, so this never spins.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
        let mut due = Vec::new();
        while let Some(Reverse((t, r))) = self.timers.peek().copied() {
            let overdue = now.saturating_duration_since(t) >= OVERDUE;
            if t > now || (due.len() >= TIMEOUTS_PER_CALL && !overdue) {
                break;
            }
            self.timers.pop();
            let Some(c) = self.client_mut(r) else {
                continue;
            };
            if c.scheduled != Some(t) {
                continue; // Superseded by an earlier entry.
            }
            c.scheduled = None;
            if c.deadline > now {
                // The deadline moved later since this entry was queued.
                let d = c.deadline;
                c.scheduled = Some(d);
                self.timers.push(Reverse((d, r)));
                continue;
            }
            due.push(r);
        }
        for r in due {
            let Some(c) = self.client(r) else { continue };
            if !c.connected && now.saturating_duration_since(c.joined) > self.limits.connect_within
            {
                self.remove(r, "did not connect in time");
                continue;
            }
            if c.ice_down_since
                .is_some_and(|t| now.saturating_duration_since(t) > self.limits.reconnect_within)
            {
                self.remove(r, "did not reconnect in time");
                continue;
            }
            self.feed(r, Input::Timeout(now));
        }
        self.settle(now);
    }

    /// Carries out a control command.
    pub fn handle_command(
        &mut self,
        now: Instant,
        cmd: Command,
    ) -> Result<Option<String>, JoinError> {
        let result = match cmd {
            Command::Grants(room, who, grants) => {
                let r = self.find(&room, &who)?;
                self.set_grants(now, r, grants);
                Ok(None)
            }
            Command::Remove(room, who) => {
                let r = self.find(&room, &who)?;
                self.remove(r, "removed by the room");
                Ok(None)
            }
            Command::CloseRoom(room) => {
                let clients = self
                    .rooms
                    .get(&room)
                    .map(|r| r.clients.clone())
                    .unwrap_or_default();
                for r in clients {
                    self.remove(r, "the room closed");
                }
                Ok(None)
            }
            Command::Restart(room, who, offer) => {
                let r = self.find(&room, &who)?;
                self.restart(r, *offer).map(Some)
            }
        };
        self.settle(now);
        result
    }

    fn find(&self, room: &RoomId, who: &ParticipantId) -> Result<ClientRef, JoinError> {
        self.by_participant
            .get(&(room.clone(), who.clone()))
            .copied()
            .ok_or(JoinError::NotFound)
    }

    fn restart(&mut self, r: ClientRef, offer: SdpOffer) -> Result<String, JoinError> {
        let c = self.client_mut(r).ok_or(JoinError::NotFound)?;
        // A pending node offer loses: the browser's restart wins the glare,
        // and the node re-offers once it is answered.
        c.pending = None;
        Self::unpark_all(c);
        let answer = c
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| JoinError::MalformedSdp(e.to_string()))?;
        let ufrag = c.rtc.direct_api().local_ice_credentials().ufrag;
        let old = std::mem::replace(&mut c.ufrag, ufrag.clone());
        // Offered-but-unanswered sections were rolled back with the pending
        // offer: forget them, and offer again.
        let dropped: Vec<usize> = (0..c.subs.len())
            .filter(|&i| c.subs[i].state == State::Offered)
            .collect();
        for &i in &dropped {
            c.subs[i].state = State::Ended;
        }
        c.dirty = true;
        self.by_ufrag.remove(&old);
        self.by_ufrag.insert(ufrag, r);
        for i in dropped {
            self.unlink_sub(r, i);
        }
        self.dirty.push(r);
        self.drain(r);
        Ok(answer.to_sdp_string())
    }

    fn set_grants(&mut self, now: Instant, r: ClientRef, grants: GrantsUpdate) {
        let Some(c) = self.client_mut(r) else { return };
        c.publish = grants.publish;
        let mut unblocked = Vec::new();
        for (i, t) in c.tracks.iter_mut().enumerate() {
            let blocked = !c.publish.contains(&t.source);
            if t.blocked && !blocked {
                unblocked.push(i);
            }
            t.blocked = blocked;
        }
        let was = std::mem::replace(&mut c.subscribe, grants.subscribe);
        if was != grants.subscribe {
            c.dirty = true;
            self.dirty.push(r);
        }
        for i in unblocked {
            self.request_keyframes(
                now,
                TrackRef {
                    publisher: r,
                    index: i,
                },
            );
        }
    }

    /// Feeds one input to a client and drains it; a client whose input
    /// makes str0m fail or panic is removed, and nobody else notices.
    fn feed(&mut self, r: ClientRef, input: Input) {
        let Some(c) = self.client_mut(r) else { return };
        let ok = catch_unwind(AssertUnwindSafe(|| c.rtc.handle_input(input).is_ok()));
        match ok {
            Ok(true) => self.drain(r),
            Ok(false) | Err(_) => {
                self.stats.faulted += 1;
                self.remove(r, "its connection failed");
            }
        }
    }

    /// Polls a client's `Rtc` until it only waits for time: transmits go
    /// out, events queue up, the next deadline goes on the heap.
    fn drain(&mut self, r: ClientRef) {
        let Some(c) = self.clients.get_mut(r.key).filter(|c| c.id == r.id) else {
            return;
        };
        let polled = catch_unwind(AssertUnwindSafe(|| {
            flush(c);
            loop {
                match c.rtc.poll_output() {
                    Ok(str0m::Output::Transmit(t)) => self.out.push_back(Output::Transmit(t)),
                    Ok(str0m::Output::Event(e)) => self.events.push_back((r, e)),
                    Ok(str0m::Output::Timeout(t)) => return Some(t),
                    Err(_) => return None,
                }
            }
        }));
        match polled {
            Ok(Some(t)) => {
                // str0m may name an instant already past: as `now`, the
                // client queues behind those already waiting instead of
                // ahead of them (one client is fed per call).
                let t = self.last_now.map_or(t, |now| t.max(now));
                c.deadline = t;
                // One live heap entry per client, at its earliest deadline;
                // a later deadline is picked up when that entry pops.
                if c.scheduled.is_none_or(|s| t < s) {
                    c.scheduled = Some(t);
                    self.timers.push(Reverse((t, r)));
                }
            }
            _ => {
                self.stats.faulted += 1;
                self.remove(r, "its connection failed");
            }
        }
    }

    /// Handles queued events, then due negotiations, until quiet.
    fn settle(&mut self, now: Instant) {
        self.last_now = Some(now);
        if self.clients.is_empty() {
            self.next_allocation = None;
        } else if self.next_allocation.is_none_or(|t| t <= now) {
            self.next_allocation = Some(now + REALLOCATE);
            let all: Vec<ClientRef> = self
                .clients
                .iter()
                .map(|(key, c)| ClientRef { key, id: c.id })
                .collect();
            for r in all {
                self.allocate(now, r);
                self.park_idle(now, r);
            }
        }
        loop {
            while let Some((r, e)) = self.events.pop_front() {
                if self.client(r).is_some() {
                    self.handle_event(now, r, e);
                }
            }
            if self.dirty.is_empty() {
                break;
            }
            let mut dirty = std::mem::take(&mut self.dirty);
            dirty.sort();
            dirty.dedup();
            for r in dirty {
                self.negotiate(now, r);
            }
            if self.events.is_empty() {
                break;
            }
        }
        self.speakers(now);
    }

    fn handle_event(&mut self, now: Instant, r: ClientRef, e: Event) {
        match e {
            Event::RtpPacket(p) => self.forward(now, r, p),
            Event::Connected => {
                if let Some(c) = self.client_mut(r) {
                    c.connected = true;
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                tracing::info!("a participant's ICE disconnected");
                // The browser restarts ICE through the room, or the path
                // comes back; until then nothing is forwarded to it.
                if let Some(c) = self.client_mut(r) {
                    c.ice_down_since.get_or_insert(now);
                }
            }
            Event::IceConnectionStateChange(state) => {
                tracing::debug!(?state, "ICE state");
                if matches!(
                    state,
                    IceConnectionState::Connected | IceConnectionState::Completed
                ) && let Some(c) = self.client_mut(r)
                    && c.ice_down_since.take().is_some()
                {
                    tracing::info!("a participant's ICE is back");
                }
            }
            Event::ChannelOpen(id, label) if label == "sfu" => {
                if let Some(c) = self.client_mut(r) {
                    c.channel = Some(id);
                    c.dirty = true;
                }
                self.dirty.push(r);
                self.drain(r);
            }
            Event::ChannelData(d) => {
                if d.binary {
                    return;
                }
                let Some(c) = self.client_mut(r) else { return };
                let frame = String::from_utf8_lossy(&d.data);
                let text = match c.inbox.handle(&frame) {
                    Ok(Some(text)) => text,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::debug!(error = %e, "data channel frame refused");
                        return;
                    }
                };
                match serde_json::from_str::<PeerMessage>(&text) {
                    Ok(PeerMessage::Answer { sdp }) => self.handle_answer(now, r, &sdp),
                    Ok(PeerMessage::View { tiles }) => {
                        if let Some(c) = self.client_mut(r) {
                            c.view = tiles
                                .into_iter()
                                .take(256)
                                .map(|t| ((t.participant, t.source), t.height))
                                .collect();
                        }
                        self.allocate(now, r);
                    }
                    Err(e) => tracing::debug!(error = %e, "unreadable data channel message"),
                }
            }
            Event::KeyframeRequest(k) => {
                let track = self.client(r).and_then(|c| {
                    let i = c.sub_by_mid(k.mid)?;
                    let s = &c.subs[i];
                    Some((s.track()?, s.current.or(s.target)))
                });
                if let Some((t, Some(layer))) = track {
                    self.request_keyframe(now, t, layer);
                }
            }
            Event::MediaEgressStats(s) => {
                let Some(c) = self.client_mut(r) else { return };
                let changed = c.estimate.handle_report(estimate::StreamReport {
                    mid: s.mid,
                    at: s.timestamp,
                    bytes: s.bytes,
                    packets: s.packets,
                    loss: s.loss,
                });
                if changed {
                    self.allocate(now, r);
                }
            }
            // A browser's own receive-side estimate, where it sends one,
            // caps what loss alone would allow.
            Event::EgressBitrateEstimate(BweKind::Remb { estimate, .. }) => {
                if let Some(c) = self.client_mut(r) {
                    c.estimate.handle_remb(estimate.as_u64());
                }
                self.allocate(now, r);
            }
            _ => {}
        }
    }

    /// The browser answered the node's offer.
    fn handle_answer(&mut self, now: Instant, r: ClientRef, sdp: &str) {
        let Some(c) = self.client_mut(r) else { return };
        let Some(pending) = c.pending.take() else {
            tracing::debug!("answer without an offer");
            return;
        };
        let answer = match SdpAnswer::from_sdp_string(sdp) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "malformed answer from browser");
                c.dirty = true;
                self.dirty.push(r);
                return;
            }
        };
        if let Err(e) = c.rtc.sdp_api().accept_answer(pending, answer) {
            tracing::debug!(error = %e, "answer refused");
        }
        // Resolve payload types now the subscriber's codecs are known.
        let mut started = Vec::new();
        for (i, s) in c.subs.iter_mut().enumerate() {
            if s.state == State::Offered {
                s.state = State::Active;
                started.push(i);
                s.last_sent = Some(now);
                if let Some(tx) = c.rtc.direct_api().stream_tx_by_mid(s.mid, None) {
                    subscription::tune(tx);
                }
            }
        }
        self.drain(r);
        for i in started {
            self.start_sub(now, r, i);
        }
        self.allocate(now, r);
        self.dirty.push(r); // Anything that changed meanwhile.
    }

    fn start_sub(&mut self, now: Instant, r: ClientRef, i: usize) {
        // Audio has one layer and is always wanted; video waits for allocation.
        if let Some(s) = self.client_mut(r).and_then(|c| c.subs.get_mut(i))
            && s.kind == MediaKind::Audio
        {
            s.set_target(Some(0), now);
        }
    }

    /// Parks the idle send streams of `r` (see [`subscription::PARK_AFTER`]).
    fn park_idle(&mut self, now: Instant, r: ClientRef) {
        let Some(c) = self.client_mut(r) else { return };
        if c.pending.is_some() {
            // Applying the answer would give a parked section a new stream.
            return;
        }
        let mut parked = 0;
        for s in &mut c.subs {
            parked += u64::from(s.park_if_idle(&mut c.rtc, now));
        }
        self.stats.parks += parked;
    }

    /// Declares every parked stream of `c` again: an offer or answer lists
    /// the SSRCs of the send streams that exist, and str0m would give a
    /// section without one a new SSRC. The sweep parks them again once idle.
    fn unpark_all(c: &mut Client) {
        for s in &mut c.subs {
            s.unpark(&mut c.rtc);
        }
    }

    /// Tells a client which video tracks there are when that changed (at
    /// once, even while an offer is in flight: a track that ended frees its
    /// slot now), and offers when sections must come or go: an audio
    /// section per microphone of the others, and the video slots its view
    /// needs.
    fn negotiate(&mut self, now: Instant, r: ClientRef) {
        let Some(c) = self.client(r) else { return };
        if !c.dirty || c.channel.is_none() {
            return;
        }
        let room = c.room.clone();
        // What this client may receive: every track of the others.
        let mut audio: Vec<Holder> = Vec::new();
        let mut video: Vec<(TrackRef, TrackName)> = Vec::new();
        if c.subscribe {
            for &p in self
                .rooms
                .get(&room)
                .map(|x| x.clients.as_slice())
                .unwrap_or(&[])
            {
                if p == r {
                    continue;
                }
                let Some(pc) = self.client(p) else { continue };
                for (index, t) in pc.tracks.iter().enumerate() {
                    let track = TrackRef {
                        publisher: p,
                        index,
                    };
                    let name = TrackName {
                        participant: pc.participant.clone(),
                        source: t.source,
                    };
                    match t.kind {
                        MediaKind::Audio => audio.push(Holder { track, name }),
                        _ => video.push((track, name)),
                    }
                }
            }
        }
        if self.client(r).is_some_and(|c| c.available != video) {
            // Slots of tracks that ended are free from now on.
            let gone: Vec<usize> = self.client(r).map_or(Vec::new(), |c| {
                (0..c.subs.len())
                    .filter(|&i| {
                        let s = &c.subs[i];
                        s.kind == MediaKind::Video
                            && s.track().is_some_and(|t| !video.iter().any(|v| v.0 == t))
                    })
                    .collect()
            });
            for i in gone {
                self.reassign(r, i, None);
            }
            let available = video.iter().map(|(_, n)| n.clone()).collect();
            if let Some(c) = self.client_mut(r) {
                c.available = video;
            }
            self.send(r, &NodeMessage::Tracks { available });
        }
        // How many slots the view needs, with the tracks as they are now.
        self.allocate(now, r);
        let Some(c) = self.client_mut(r) else { return };
        if c.pending.is_some() {
            return; // Still dirty: the answer brings it back here.
        }
        c.dirty = false;
        let live: Vec<TrackRef> = c
            .subs
            .iter()
            .filter(|s| s.kind == MediaKind::Audio && s.state != State::Ended)
            .filter_map(Subscription::track)
            .collect();
        let adds: Vec<Holder> = audio
            .iter()
            .filter(|h| !live.contains(&h.track))
            .cloned()
            .collect();
        let ended: Vec<usize> = (0..c.subs.len())
            .filter(|&i| {
                let s = &c.subs[i];
                s.kind == MediaKind::Audio
                    && s.state != State::Ended
                    && !s
                        .track()
                        .is_some_and(|t| audio.iter().any(|h| h.track == t))
            })
            .collect();
        let slots = c
            .subs
            .iter()
            .filter(|s| s.kind == MediaKind::Video && s.state != State::Ended)
            .count();
        let new_slots = c.slots_wanted.saturating_sub(slots);
        if adds.is_empty() && ended.is_empty() && new_slots == 0 {
            return;
        }
        Self::unpark_all(c);
        let mut api = c.rtc.sdp_api();
        for &i in &ended {
            api.stop_media(c.subs[i].mid);
        }
        let mut new_subs = Vec::new();
        for h in adds {
            let who = &h.name.participant;
            let mid = api.add_media(
                MediaKind::Audio,
                Direction::SendOnly,
                Some(who.to_string()),
                Some(format!("{who}-{}", h.name.source.as_str())),
                None,
            );
            new_subs.push(Subscription::new(Some(h), MediaKind::Audio, mid));
        }
        for _ in 0..new_slots {
            let mid = api.add_media(
                MediaKind::Video,
                Direction::SendOnly,
                Some("slots".into()),
                None,
                None,
            );
            new_subs.push(Subscription::new(None, MediaKind::Video, mid));
        }
        let applied = api.apply();
        for &i in &ended {
            c.subs[i].state = State::Ended;
        }
        let first_new = c.subs.len();
        c.subs.extend(new_subs);
        let count = c.subs.len();
        let Some((offer, pending)) = applied else {
            return;
        };
        c.pending = Some(pending);
        let live = c.subs.iter().filter(|s| s.state != State::Ended);
        let tracks: Vec<RemoteTrack> = live
            .clone()
            .filter(|s| s.kind == MediaKind::Audio)
            .filter_map(|s| {
                let h = s.holder.as_ref()?;
                Some(RemoteTrack {
                    mid: s.mid.to_string(),
                    participant: h.name.participant.clone(),
                    source: h.name.source,
                })
            })
            .collect();
        let slots = live
            .filter(|s| s.kind == MediaKind::Video)
            .map(|s| s.mid.to_string())
            .collect();
        for i in ended {
            self.unlink_sub(r, i);
        }
        for i in first_new..count {
            self.link_sub(r, i);
        }
        self.send(
            r,
            &NodeMessage::Offer {
                sdp: offer.to_sdp_string(),
                tracks,
                slots,
            },
        );
    }

    /// Gives video slot `i` of `r` to `holder`, or frees it: moves the slot
    /// from the old track's subscriber list to the new one's, and tells the
    /// browser the old holder is off the slot before anything of the new
    /// one can arrive.
    fn reassign(&mut self, r: ClientRef, i: usize, holder: Option<Holder>) {
        self.unlink_sub(r, i);
        let Some(c) = self.client_mut(r) else { return };
        let Some(s) = c.subs.get_mut(i) else { return };
        let told = s.holder.is_some() && !s.announce;
        s.assign(holder);
        let mid = s.mid.to_string();
        if told {
            queue(
                &mut c.outbox,
                &NodeMessage::Assign {
                    mid,
                    track: None,
                    from_rtp_time: None,
                },
            );
        }
        self.link_sub(r, i);
    }

    /// Adds subscription `i` of `r` to its track's subscriber list.
    fn link_sub(&mut self, r: ClientRef, i: usize) {
        let Some(t) = self
            .client(r)
            .and_then(|c| c.subs.get(i))
            .and_then(|s| s.track())
        else {
            return;
        };
        if let Some(pc) = self.client_mut(t.publisher)
            && let Some(tr) = pc.tracks.get_mut(t.index)
        {
            tr.subscribers.push((r, i));
        }
    }

    /// Removes subscription `i` of `r` from its track's subscriber list.
    fn unlink_sub(&mut self, r: ClientRef, i: usize) {
        let Some(t) = self
            .client(r)
            .and_then(|c| c.subs.get(i))
            .and_then(|s| s.track())
        else {
            return;
        };
        if let Some(pc) = self.client_mut(t.publisher)
            && let Some(tr) = pc.tracks.get_mut(t.index)
        {
            tr.subscribers.retain(|&(s, j)| !(s == r && j == i));
        }
    }

    /// Queues a message for a client's data channel and writes what fits
    /// now.
    fn send(&mut self, r: ClientRef, msg: &NodeMessage) {
        let Some(c) = self.client_mut(r) else { return };
        queue(&mut c.outbox, msg);
        self.drain(r);
    }

    /// Forwards one packet of publisher `r` to the subscribers of its track.
    fn forward(&mut self, now: Instant, r: ClientRef, p: RtpPacket) {
        self.stats.packets_in += 1;
        let Some(c) = self.client_mut(r) else { return };
        let (ti, li) = match c.ssrcs.get(&p.header.ssrc) {
            Some(&v) => v,
            None => {
                let mut api = c.rtc.direct_api();
                let Some(stream) = api.stream_rx(&p.header.ssrc) else {
                    return;
                };
                let (mid, rid) = (stream.mid(), stream.rid());
                let Some(ti) = c.tracks.iter().position(|t| t.mid == mid) else {
                    return;
                };
                let Some(li) = c.tracks[ti].layer_of(rid) else {
                    return;
                };
                c.ssrcs.insert(p.header.ssrc, (ti, li));
                (ti, li)
            }
        };
        let track = &mut c.tracks[ti];
        if track.blocked {
            self.stats.dropped_blocked += 1;
            return;
        }
        let layer = &mut track.layers[li];
        layer.handle_packet(p.timestamp, p.payload.len());
        let pt = p.header.payload_type;
        let codec = match layer.codec {
            Some((known, codec)) if known == pt => codec,
            _ => {
                let codec = c
                    .rtc
                    .codec_config()
                    .find(|x| x.pt() == pt)
                    .map(|x| x.spec().codec);
                layer.codec = Some((pt, codec));
                codec
            }
        };
        let is_video = track.kind == MediaKind::Video;
        let mut keyframe = false;
        let mut vp8 = None;
        if is_video {
            let f = frame::inspect(codec, &p.payload);
            keyframe = f.keyframe;
            if let Some(h) = f.height {
                layer.height = Some(h);
            }
            if codec == Some(Codec::Vp8) {
                vp8 = Vp8Descriptor::parse(&p.payload).ok();
            }
        } else {
            track.loudness.handle_level(
                p.timestamp,
                p.header.ext_vals.audio_level,
                p.header.ext_vals.voice_activity,
            );
            if !track.audible {
                self.stats.dropped_inaudible += 1;
                return;
            }
        }
        let ext = ExtensionValues {
            audio_level: p.header.ext_vals.audio_level,
            voice_activity: p.header.ext_vals.voice_activity,
            video_orientation: p.header.ext_vals.video_orientation,
            ..Default::default()
        };
        let n = c.tracks[ti].subscribers.len();
        for k in 0..n {
            let Some(&(sr, si)) = self
                .client(r)
                .and_then(|c| c.tracks.get(ti))
                .and_then(|t| t.subscribers.get(k))
            else {
                break;
            };
            self.forward_to(now, sr, si, li, keyframe, &p, vp8.as_ref(), &ext, codec);
        }
        // A subscriber waits for a keyframe of this layer: ask again once the
        // throttle allows (requests in between were merged into this one).
        let wanted = self
            .client(r)
            .and_then(|c| c.tracks.get(ti))
            .and_then(|t| t.layers.get(li))
            .is_some_and(|l| l.keyframe_wanted);
        if wanted {
            let track = TrackRef {
                publisher: r,
                index: ti,
            };
            self.request_keyframe(now, track, li);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn forward_to(
        &mut self,
        now: Instant,
        sr: ClientRef,
        si: usize,
        layer: usize,
        keyframe: bool,
        p: &RtpPacket,
        vp8: Option<&Vp8Descriptor>,
        ext: &ExtensionValues,
        codec: Option<Codec>,
    ) {
        let Some(sc) = self.client_mut(sr) else {
            return;
        };
        if !sc.connected || sc.ice_down_since.is_some() {
            return;
        }
        let Some(s) = sc.subs.get_mut(si) else { return };
        if s.pt.is_none() || s.codec != codec {
            let found = codec.and_then(|codec| {
                let media = sc.rtc.media(s.mid)?;
                let remote = media.remote_pts();
                sc.rtc
                    .codec_config()
                    .params()
                    .iter()
                    .find(|x| x.spec().codec == codec && remote.contains(&x.pt()))
                    .map(|x| x.pt())
            });
            s.pt = found;
            s.codec = codec;
        }
        let gate = s.gate(layer, keyframe);
        let waiting = s.target == Some(layer) && s.current != Some(layer);
        let Gate::Forward { switched } = gate else {
            if waiting
                && !keyframe
                && let Some(t) = s.track()
            {
                self.mark_keyframe_wanted(t, layer, now);
            }
            return;
        };
        let Some(pt) = s.pt else { return };
        let Some(out) = s.rewriter.rewrite(rewrite::In {
            seq: *p.seq_no,
            ts: p.header.timestamp,
            at: p.timestamp,
            picture_id: vp8.and_then(|d| d.picture_id()),
            tl0: vp8.and_then(|d| d.tl0_pic_idx()),
        }) else {
            return;
        };
        let mid = s.mid;
        let is_video = s.kind == MediaKind::Video;
        s.last_sent = Some(now);
        if std::mem::take(&mut s.announce) {
            // The slot's new track starts here: the browser binds it to its
            // tile now, never earlier (it would show the old holder's tail).
            let track = s.holder.as_ref().map(|h| h.name.clone());
            queue(
                &mut sc.outbox,
                &NodeMessage::Assign {
                    mid: mid.to_string(),
                    track,
                    from_rtp_time: Some(out.ts),
                },
            );
        }
        let unparked = s.unpark(&mut sc.rtc);
        let mut write = RtpWrite::new(
            pt,
            SeqNo::from(out.seq),
            out.ts,
            p.timestamp,
            p.payload.clone(),
        )
        .marker(p.header.marker)
        .ext_vals(ext.clone())
        .nackable(is_video);
        if let Some(d) = vp8 {
            let mut b = d.patch();
            if let Some(id) = out.picture_id {
                b = b.picture_id(id);
            }
            if let Some(t) = out.tl0 {
                b = b.tl0_pic_idx(t);
            }
            if let Ok(patch) = b.build() {
                write = write.vp8_patch(patch);
            }
        }
        let mut api = sc.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        tx.write_rtp(write);
        sc.packets_out += 1;
        if !std::mem::replace(&mut sc.written, true) {
            self.written.push(sr);
        }
        self.stats.packets_out += 1;
        self.stats.unparks += u64::from(unparked);
        if switched {
            self.stats.layer_switches += 1;
        }
    }

    /// Asks the publisher of `t` for a keyframe on `layer`, throttled.
    fn request_keyframe(&mut self, now: Instant, t: TrackRef, layer: usize) {
        let Some(pc) = self.client_mut(t.publisher) else {
            return;
        };
        let Some(track) = pc.tracks.get_mut(t.index) else {
            return;
        };
        let Some(l) = track.layers.get_mut(layer) else {
            return;
        };
        if !l.take_keyframe_slot(now) {
            return;
        }
        let (mid, rid) = (track.mid, l.rid);
        if let Some(rx) = pc.rtc.direct_api().stream_rx_by_mid(mid, rid) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
            self.stats.keyframe_requests += 1;
        }
        self.drain(t.publisher);
    }

    /// Notes that a subscriber still waits for a keyframe of `layer`; the
    /// next packet of that layer sends the request once the throttle allows,
    /// and a wait longer than [`track::KEYFRAME_RETRY`] re-asks.
    fn mark_keyframe_wanted(&mut self, t: TrackRef, layer: usize, now: Instant) {
        let Some(l) = self
            .client_mut(t.publisher)
            .and_then(|c| c.tracks.get_mut(t.index))
            .and_then(|tr| tr.layers.get_mut(layer))
        else {
            return;
        };
        let stale = l
            .last_keyframe_request
            .is_none_or(|at| now.saturating_duration_since(at) >= track::KEYFRAME_RETRY);
        if stale {
            l.keyframe_wanted = true;
        }
    }

    fn request_keyframes(&mut self, now: Instant, t: TrackRef) {
        let layers = self
            .client(t.publisher)
            .and_then(|c| c.tracks.get(t.index))
            .map_or(0, |tr| tr.layers.len());
        for l in 0..layers {
            self.request_keyframe(now, t, l);
        }
    }

    /// Chooses layers for a subscriber's video from its estimate and view,
    /// and gives each track it will receive a video slot.
    ///
    /// A track keeps its slot while it is wanted (and, paused, until
    /// another track needs the slot). A track newly wanted takes a free
    /// slot: one carrying nothing, else the one of the least important
    /// track not wanted now. When none is free the pool grows at the next
    /// negotiation, and the track waits for it.
    fn allocate(&mut self, now: Instant, r: ClientRef) {
        let Some(c) = self.client(r) else { return };
        let estimate = c.estimate.bitrate();
        let mut audio = 0u64;
        for s in &c.subs {
            if s.state != State::Active || s.kind != MediaKind::Audio {
                continue;
            }
            if let Some(t) = s.track()
                && let Some(track) = self
                    .client(t.publisher)
                    .and_then(|pc| pc.tracks.get(t.index))
            {
                audio += track.layers[0].bitrate;
            }
        }
        // The payload types the browser accepts in a slot (all slots are
        // offered alike); unknown before the first slot is negotiated.
        let accepted: Option<Vec<str0m::media::Pt>> = c
            .subs
            .iter()
            .find(|s| s.kind == MediaKind::Video && s.state == State::Active)
            .and_then(|s| c.rtc.media(s.mid))
            .map(|m| m.remote_pts().to_vec());
        let decodable = |codec: Codec| {
            accepted.as_ref().is_none_or(|pts| {
                c.rtc
                    .codec_config()
                    .params()
                    .iter()
                    .any(|x| x.spec().codec == codec && pts.contains(&x.pt()))
            })
        };
        // Which slot each track is in now.
        let held: HashMap<TrackRef, usize> = (0..c.subs.len())
            .filter(|&i| c.subs[i].kind == MediaKind::Video && c.subs[i].state != State::Ended)
            .filter_map(|i| Some((c.subs[i].track()?, i)))
            .collect();
        let mut wants = Vec::new();
        let mut candidates: Vec<Holder> = Vec::new();
        for (t, name) in &c.available {
            let Some(track) = self
                .client(t.publisher)
                .and_then(|pc| pc.tracks.get(t.index))
            else {
                continue;
            };
            let codec = track.layers.iter().find_map(|l| l.codec.and_then(|x| x.1));
            // Nothing of a muted track flows, and no transcoding happens.
            if track.blocked || codec.is_some_and(|x| !decodable(x)) {
                continue;
            }
            let height = c
                .view
                .get(&(name.participant.clone(), name.source))
                .copied()
                .unwrap_or(if c.view.is_empty() {
                    DEFAULT_TILE_HEIGHT
                } else {
                    0
                });
            // Among equals, a track already in a slot goes first: tiles of
            // one size on a short budget would otherwise trade slots (and
            // keyframes) at every pass.
            let holds = held.contains_key(t);
            let priority = match name.source {
                Source::Screen => 1_000_000,
                _ => height,
            };
            wants.push(layer::Want {
                layers: track.layer_infos(now),
                tile_height: height,
                priority: priority.saturating_mul(2).saturating_add(u32::from(holds)),
            });
            candidates.push(Holder {
                track: *t,
                name: name.clone(),
            });
        }
        let full = (estimate * BUDGET_SHARE / 100).saturating_sub(audio);
        // Overload cuts a share of what would be sent, not of the estimate:
        // a subscriber whose estimate is twice what its tiles need would
        // lose nothing to a cut to 60 %, and the node would stay behind.
        let budget = if self.overload.percent() < 100 {
            let sent = layer::rate(&wants, &layer::allocate(full, &wants));
            self.overload.scale(sent)
        } else {
            full
        };
        let chosen = layer::allocate(budget, &wants);
        let is_slot = |s: &Subscription| s.kind == MediaKind::Video && s.state != State::Ended;
        let mut slot_of: Vec<Option<usize>> = candidates
            .iter()
            .map(|h| held.get(&h.track).copied())
            .collect();
        // Upgrades wait; downgrades and pauses do not.
        let mut targets = chosen.clone();
        for (k, target) in targets.iter_mut().enumerate() {
            let Some(s) = slot_of[k].map(|i| &c.subs[i]) else {
                continue;
            };
            if *target > s.target
                && s.target.is_some()
                && s.last_upgrade
                    .is_some_and(|t| now.saturating_duration_since(t) < UPGRADE_HOLD)
            {
                *target = s.target;
            }
        }
        let wanted = |t: TrackRef| {
            candidates
                .iter()
                .zip(&targets)
                .any(|(h, x)| h.track == t && x.is_some())
        };
        let importance = |t: TrackRef| {
            candidates
                .iter()
                .position(|h| h.track == t)
                .map_or(0, |k| wants[k].priority.saturating_add(1))
        };
        let mut free: Vec<(bool, u32, usize)> = (0..c.subs.len())
            .filter(|&i| c.subs[i].kind == MediaKind::Video && c.subs[i].state == State::Active)
            .filter(|&i| c.subs[i].track().is_none_or(|t| !wanted(t)))
            .map(|i| {
                let t = c.subs[i].track();
                (t.is_some(), t.map_or(0, importance), i)
            })
            .collect();
        free.sort();
        let mut needs: Vec<usize> = (0..candidates.len())
            .filter(|&k| targets[k].is_some() && slot_of[k].is_none())
            .collect();
        needs.sort_by_key(|&k| Reverse(wants[k].priority));
        // The pool is sized for every tile on screen whose track flows, not
        // only the ones the budget affords now: a budget that grows (the
        // estimate ramping up, overload easing) then starts tiles at once
        // instead of after an offer each. Before the browser reported its
        // screen every track counts as shown, so only what the budget
        // affords counts then (the pool never shrinks).
        let shown = if c.view.is_empty() {
            targets.iter().filter(|t| t.is_some()).count()
        } else {
            wants.iter().filter(|w| layer::ideal(w).is_some()).count()
        };
        let slots = c.subs.iter().filter(|s| is_slot(s)).count();
        let moves: Vec<(usize, usize)> = needs
            .into_iter()
            .zip(free.into_iter().map(|(_, _, i)| i))
            .collect();
        for (k, i) in moves {
            self.reassign(r, i, Some(candidates[k].clone()));
            self.stats.slot_moves += 1;
            slot_of[k] = Some(i);
        }
        let ideal_sum: u64 = wants
            .iter()
            .filter_map(|w| layer::ideal(w).map(|l| w.layers[l].bitrate.max(150_000)))
            .sum();
        let mut keyframes = Vec::new();
        let Some(c) = self.clients.get_mut(r.key).filter(|c| c.id == r.id) else {
            return;
        };
        for (k, slot) in slot_of.iter().enumerate() {
            let Some(s) = slot.and_then(|i| c.subs.get_mut(i)) else {
                continue;
            };
            if s.set_target(targets[k], now)
                && let Some(l) = targets[k]
            {
                keyframes.push((candidates[k].track, l));
            }
        }
        // Slots whose track is no candidate any more (muted, undecodable)
        // pause until they are given to another.
        for s in c.subs.iter_mut().filter(|s| is_slot(s)) {
            if s.track()
                .is_some_and(|t| !candidates.iter().any(|h| h.track == t))
            {
                s.set_target(None, now);
            }
        }
        let shown = shown.min(MAX_SLOTS);
        if shown > slots {
            c.slots_wanted = c.slots_wanted.max(shown);
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(r);
            }
        }
        c.estimate
            .set_desired((ideal_sum + audio) * 100 / BUDGET_SHARE);
        self.drain(r);
        for (t, l) in keyframes {
            self.request_keyframe(now, t, l);
        }
    }

    /// Re-ranks speakers in rooms that are due and tells their clients.
    fn speakers(&mut self, now: Instant) {
        let due: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.speakers_due.is_none_or(|t| t <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(room) = self.rooms.get(&id) else {
                continue;
            };
            let mut mics = Vec::new();
            for &cr in &room.clients {
                let Some(c) = self.client(cr) else { continue };
                for t in &c.tracks {
                    if t.source == Source::Microphone && !t.blocked {
                        mics.push((c.participant.clone(), t.loudness.clone()));
                    }
                }
            }
            let forward_all = mics.len() <= speaker::FORWARD_ALL_UP_TO;
            let audible: Vec<ParticipantId> = mics
                .iter()
                .filter(|(_, l)| forward_all || l.voiced_within(now, speaker::VOICE_HOLD))
                .map(|(p, _)| p.clone())
                .collect();
            let ranked = speaker::rank(now, mics.into_iter());
            let clients = room.clients.clone();
            for cr in clients {
                let Some(c) = self.client_mut(cr) else {
                    continue;
                };
                let on = audible.contains(&c.participant) || ranked.contains(&c.participant);
                for t in c.tracks.iter_mut().filter(|t| t.kind == MediaKind::Audio) {
                    t.audible = on;
                }
            }
            let Some(room) = self.rooms.get_mut(&id) else {
                continue;
            };
            room.speakers_due = Some(now + speaker::INTERVAL);
            if ranked == room.speakers {
                continue;
            }
            room.speakers = ranked.clone();
            let clients = room.clients.clone();
            for cr in clients {
                self.send(
                    cr,
                    &NodeMessage::Speakers {
                        ids: ranked.clone(),
                    },
                );
            }
        }
    }

    /// Takes a client out: closes its connection, forgets its routes, and
    /// stops its tracks at every subscriber.
    fn remove(&mut self, r: ClientRef, reason: &'static str) {
        let Some(c) = self.client(r) else { return };
        let key = (c.room.clone(), c.participant.clone());
        let subs = c.subs.len();
        if self.by_participant.get(&key) == Some(&r) {
            self.by_participant.remove(&key);
        }
        for i in 0..subs {
            self.unlink_sub(r, i);
        }
        let mut c = self.clients.remove(r.key);
        for a in &c.addrs {
            if self.by_addr.get(a) == Some(&r) {
                self.by_addr.remove(a);
            }
        }
        if self.by_ufrag.get(&c.ufrag) == Some(&r) {
            self.by_ufrag.remove(&c.ufrag);
        }
        if let Some(room) = self.rooms.get_mut(&c.room) {
            room.clients.retain(|x| *x != r);
            // Everyone's list of tracks changes, also where none of this
            // client's tracks holds a section now.
            let others = room.clients.clone();
            for &o in &others {
                if let Some(oc) = self.clients.get_mut(o.key).filter(|x| x.id == o.id) {
                    oc.dirty = true;
                }
            }
            if others.is_empty() {
                self.rooms.remove(&c.room);
            }
            self.dirty.extend(others);
        }
        // Say goodbye (DTLS close) if it is still reachable.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            c.rtc.disconnect();
            while let Ok(str0m::Output::Transmit(t)) = c.rtc.poll_output() {
                self.out.push_back(Output::Transmit(t));
            }
        }));
        self.out.push_back(Output::Gone {
            room: c.room,
            participant: c.participant,
            reason,
        });
    }
}

/// Queues a message for a client's data channel, in frames of at most
/// [`channel::CHUNK_BYTES`]; the next drain writes them.
fn queue(outbox: &mut VecDeque<String>, msg: &NodeMessage) {
    let json = serde_json::to_string(msg).unwrap_or_default();
    outbox.extend(channel::split(&json));
}

/// Writes a client's queued data-channel frames while its send buffer takes
/// them; the rest wait for the next poll. A frame the channel refuses for
/// good (closed) is dropped.
fn flush(c: &mut Client) {
    let Some(id) = c.channel else { return };
    while let Some(frame) = c.outbox.front() {
        let Some(mut ch) = c.rtc.channel(id) else {
            return;
        };
        match ch.write(false, frame.as_bytes()) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::debug!(error = %e, "data channel write failed"),
        }
        c.outbox.pop_front();
    }
}
