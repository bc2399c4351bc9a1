//! The workerd adapter for [`crate::room::Room`]: hibernating WebSockets, the
//! object's SQLite (messages and a state snapshot), alarms for the presence
//! grace period, and D1 for what the accounts database must know (audit log,
//! roles, lock, end). Decode, feed the core, persist, send; no room logic.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use protocol::room::{ChatMessage, IDENTITY_HEADER, Identity, RoomSync, SYNC_HEADER, close_code};
use protocol::{ParticipantId, RoomId};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{
    DurableObject, Env, Request, Response, Result, ScheduledTime, SqlStorage, SqlStorageValue,
    State, WebSocket, WebSocketIncomingMessage, WebSocketPair, durable_object, js_sys,
};

use crate::board_sql::SqlBoards;
use crate::chat_log::{self, COLUMNS, ChatLog};
use crate::room::{self, ConnId, Frame, Output, Snapshot, StoreError};

/// What each socket carries through hibernation.
#[derive(Serialize, Deserialize)]
struct Attachment {
    conn: u64,
    who: ParticipantId,
}

#[derive(Deserialize)]
struct MessageRow {
    seq: i64,
    from_id: String,
    from_name: String,
    to_id: Option<String>,
    text: String,
    at_ms: i64,
    edited_ms: Option<i64>,
    deleted: i64,
    rev: i64,
}

impl MessageRow {
    fn into_message(self) -> Option<ChatMessage> {
        Some(ChatMessage {
            seq: u64::try_from(self.seq).ok()?,
            from: ParticipantId::parse(&self.from_id).ok()?,
            from_name: self.from_name,
            to: match self.to_id {
                Some(t) => Some(ParticipantId::parse(&t).ok()?),
                None => None,
            },
            text: self.text,
            at_ms: self.at_ms,
            edited_ms: self.edited_ms,
            deleted: self.deleted != 0,
            rev: u64::try_from(self.rev).ok()?,
        })
    }
}

#[derive(Deserialize)]
struct Value {
    value: String,
}

#[derive(Deserialize)]
struct LastRow {
    seq: i64,
    rev: i64,
}

/// The room's SQLite as the core's [`room::Store`] (the whiteboards' tables
/// through [`SqlBoards`], new chat messages through the [`ChatLog`]).
struct SqlStore {
    sql: SqlStorage,
    boards: SqlBoards,
    log: Rc<ChatLog>,
}

const VISIBLE: &str = "(to_id IS NULL OR from_id = ?1 OR to_id = ?1)";

impl SqlStore {
    /// Message rows for a query; pending messages are inserted first, so a
    /// read never misses one.
    fn rows(&self, sql: &str, args: Vec<SqlStorageValue>) -> Vec<ChatMessage> {
        let _ = self.log.flush(&self.sql);
        let rows: Vec<MessageRow> = self
            .sql
            .exec(sql, args)
            .and_then(|c| c.to_array())
            .unwrap_or_default();
        rows.into_iter()
            .filter_map(MessageRow::into_message)
            .collect()
    }
}

impl room::Store for SqlStore {
    type Boards = SqlBoards;
    fn boards(&mut self) -> &mut SqlBoards {
        &mut self.boards
    }
    fn boards_ref(&self) -> &SqlBoards {
        &self.boards
    }
    fn append(&mut self, m: &ChatMessage) -> std::result::Result<(), StoreError> {
        self.log.push(&self.sql, m)
    }

    fn replace(&mut self, m: &ChatMessage) -> std::result::Result<(), StoreError> {
        self.log.flush(&self.sql)?;
        chat_log::write(&self.sql, "REPLACE", m)
    }

    fn get(&self, seq: u64) -> Option<ChatMessage> {
        self.rows(
            &format!("SELECT {COLUMNS} FROM messages WHERE seq = ?"),
            vec![(seq as i64).into()],
        )
        .pop()
    }

    fn after(&self, viewer: &ParticipantId, after: u64, limit: usize) -> Vec<ChatMessage> {
        let mut rows = self.rows(
            &format!("SELECT {COLUMNS} FROM messages WHERE {VISIBLE} AND rev > ?2 ORDER BY seq DESC LIMIT ?3"),
            vec![viewer.as_str().into(), (after.min(i64::MAX as u64) as i64).into(), (limit as i64).into()],
        );
        rows.reverse();
        rows
    }

    fn before(&self, viewer: &ParticipantId, before: u64, limit: usize) -> Vec<ChatMessage> {
        let mut rows = self.rows(
            &format!("SELECT {COLUMNS} FROM messages WHERE {VISIBLE} AND seq < ?2 ORDER BY seq DESC LIMIT ?3"),
            vec![viewer.as_str().into(), (before.min(i64::MAX as u64) as i64).into(), (limit as i64).into()],
        );
        rows.reverse();
        rows
    }

    fn save(&mut self, snapshot: &Snapshot) -> std::result::Result<(), StoreError> {
        let json = serde_json::to_string(snapshot).map_err(|e| StoreError(e.to_string()))?;
        self.sql
            .exec(
                "REPLACE INTO meta (key, value) VALUES ('state', ?)",
                vec![json.into()],
            )
            .map(|_| ())
            .map_err(|e| StoreError(e.to_string()))
    }
}

/// The Room Durable Object class exported to workerd.
#[durable_object]
pub struct Room {
    state: State,
    env: Env,
    /// The room's logic, rebuilt from storage whenever the object wakes;
    /// `None` if storage failed then, so the room refuses work rather than
    /// lose or misnumber anything.
    core: Option<RefCell<room::Room>>,
    /// Next connection id; above every id still attached to a live socket.
    next_conn: RefCell<u64>,
    /// This room's id in the accounts database, learnt from the first
    /// identity and kept in `meta`.
    room_id: RefCell<Option<String>>,
    /// Open sockets by connection id, rebuilt from the runtime's list on
    /// every wake: a broadcast to a thousand then costs a thousand sends,
    /// not a thousand tag lookups.
    sockets: RefCell<HashMap<u64, WebSocket>>,
    /// The alarm last asked of storage, so a step that leaves the next due
    /// time unchanged (most chat messages) writes no alarm.
    alarm_at: RefCell<Option<i64>>,
    /// New chat messages on their way to SQLite (see [`ChatLog`]).
    chat_log: Rc<ChatLog>,
}

#[wasm_bindgen]
extern "C" {
    /// A WebSocket as JavaScript sees it, for sending a string that is
    /// already a JavaScript string: the SDK's `send_with_str` copies and
    /// decodes the frame from UTF-8 once per recipient, which was most of a
    /// broadcast's cost in the room beyond what a bare JS object pays.
    type JsSocket;
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_js(this: &JsSocket, data: &JsValue) -> std::result::Result<(), JsValue>;
}

/// Sends `frame` (made once per broadcast) on `ws`. A socket that closed
/// meanwhile is not the room's failure, so errors are dropped.
fn send_frame(ws: &WebSocket, frame: &JsValue) {
    let raw: &worker::web_sys::WebSocket = ws.as_ref();
    let _ = raw.unchecked_ref::<JsSocket>().send_js(frame);
}

fn conn_tag(conn: ConnId) -> String {
    format!("c{}", conn.0)
}

fn attachment(ws: &WebSocket) -> Option<Attachment> {
    ws.deserialize_attachment::<Attachment>().ok().flatten()
}

/// The chat write-behind's wait: `CHAT_FLUSH_MS` if set and a number.
fn flush_after(env: &Env) -> std::time::Duration {
    env.var("CHAT_FLUSH_MS")
        .ok()
        .and_then(|v| v.to_string().parse().ok())
        .map_or(chat_log::FLUSH_AFTER, std::time::Duration::from_millis)
}

/// The time, without making a `Date` object (`Date::now()`): read once per
/// event, a thousand times a second in a busy room.
fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

pub(crate) fn meta(sql: &SqlStorage, key: &str) -> Option<String> {
    let rows: Vec<Value> = sql
        .exec("SELECT value FROM meta WHERE key = ?", vec![key.into()])
        .and_then(|c| c.to_array())
        .ok()?;
    rows.into_iter().next().map(|v| v.value)
}

fn open(state: &State) -> Result<(room::Room, Option<String>, u64)> {
    let sql = state.storage().sql();
    sql.exec(
        "CREATE TABLE IF NOT EXISTS messages (
            seq INTEGER PRIMARY KEY,
            from_id TEXT NOT NULL,
            from_name TEXT NOT NULL,
            to_id TEXT,
            text TEXT NOT NULL,
            at_ms INTEGER NOT NULL,
            edited_ms INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0,
            rev INTEGER NOT NULL DEFAULT 0
        )",
        None,
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        None,
    )?;
    crate::board_sql::create_tables(&sql)?;
    // Rooms created before revisions existed get the column; the error for a
    // column that is already there is the expected case.
    let _ = sql.exec(
        "ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0",
        None,
    );
    let last = sql
        .exec(
            "SELECT COALESCE(MAX(seq), 0) AS seq, COALESCE(MAX(rev), 0) AS rev FROM messages",
            None,
        )?
        .one::<LastRow>()?;
    let last = room::Last {
        seq: u64::try_from(last.seq).unwrap_or(0),
        // Old rows have revision 0; new ones must still come after every seq,
        // and after every revision reserved for messages that may have been
        // seen but not stored.
        rev: u64::try_from(last.rev.max(last.seq))
            .unwrap_or(0)
            .max(chat_log::reserved_rev(&sql)),
    };
    let snapshot = match meta(&sql, "state") {
        Some(json) => {
            serde_json::from_str(&json).map_err(|e| worker::Error::RustError(e.to_string()))?
        }
        None => Snapshot {
            max_participants: 100,
            ..Snapshot::default()
        },
    };
    let attached: Vec<Attachment> = state
        .get_websockets()
        .iter()
        .filter_map(attachment)
        .collect();
    let next_conn = attached.iter().map(|a| a.conn + 1).max().unwrap_or(1);
    let conns: Vec<(ConnId, ParticipantId)> = attached
        .into_iter()
        .map(|a| (ConnId(a.conn), a.who))
        .collect();
    let core = room::Room::restore(snapshot, last, &conns, now_ms());
    Ok((core, meta(&sql, "room_id"), next_conn))
}

impl Room {
    fn core(&self) -> Result<&RefCell<room::Room>> {
        self.core
            .as_ref()
            .ok_or_else(|| worker::Error::RustError("room storage is unavailable".into()))
    }

    fn store(&self) -> SqlStore {
        let sql = self.state.storage().sql();
        SqlStore {
            sql: sql.clone(),
            boards: SqlBoards(sql),
            log: Rc::clone(&self.chat_log),
        }
    }

    /// Runs `f` on the core with storage, then carries out every output.
    async fn step(&self, f: impl FnOnce(&mut room::Room, &mut SqlStore)) -> Result<()> {
        {
            let mut core = self.core()?.borrow_mut();
            let mut store = self.store();
            f(&mut core, &mut store);
            self.chat_log.schedule(&store.sql);
        }
        self.drain().await?;
        let due = self.core()?.borrow().poll_timeout();
        if let Some(at) = due
            && *self.alarm_at.borrow() != Some(at)
        {
            let date = js_sys::Date::new(&JsValue::from_f64(at as f64));
            self.state
                .storage()
                .set_alarm(ScheduledTime::new(date))
                .await?;
            *self.alarm_at.borrow_mut() = Some(at);
        }
        Ok(())
    }

    async fn drain(&self) -> Result<()> {
        loop {
            let next = self.core()?.borrow_mut().poll_output();
            let Some(output) = next else { return Ok(()) };
            match output {
                Output::Send(to, msg) => {
                    let frame = JsValue::from_str(&msg.encode());
                    let sockets = self.sockets.borrow();
                    for conn in to {
                        match sockets.get(&conn.0) {
                            Some(ws) => send_frame(ws, &frame),
                            None => {
                                for ws in self.state.get_websockets_with_tag(&conn_tag(conn)) {
                                    send_frame(&ws, &frame);
                                }
                            }
                        }
                    }
                }
                Output::Close { conn, code, reason } => {
                    let cached = self.sockets.borrow_mut().remove(&conn.0);
                    for ws in cached
                        .into_iter()
                        .chain(self.state.get_websockets_with_tag(&conn_tag(conn)))
                    {
                        let _ = ws.close(Some(code), Some(&reason));
                    }
                }
                Output::Audit {
                    actor,
                    action,
                    target,
                } => {
                    let room = self.room_id.borrow().clone().unwrap_or_default();
                    let detail = serde_json::json!({ "room": room }).to_string();
                    let target: JsValue = if target.is_empty() {
                        room.as_str().into()
                    } else {
                        target.into()
                    };
                    self.d1(
                        "INSERT INTO audit_log (at_ms, actor, action, target, ip, detail) VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
                        vec![JsValue::from_f64(now_ms() as f64), actor.into(), action.into(), target, detail.into()],
                    )
                    .await;
                }
                Output::PersistRole { user, role } => {
                    let role = role.as_str();
                    self.d1_room(
                        "INSERT INTO room_roles (room_id, user_id, role) VALUES (?1, ?2, ?3)
                         ON CONFLICT (room_id, user_id) DO UPDATE SET role = ?3",
                        vec![user.into(), role.into()],
                    )
                    .await;
                }
                Output::PersistLock(locked) => {
                    self.d1_room(
                        "UPDATE rooms SET locked = ?2 WHERE id = ?1",
                        vec![JsValue::from_f64(f64::from(u8::from(locked)))],
                    )
                    .await;
                }
                Output::MediaJoin {
                    conn,
                    claims,
                    sdp,
                    sources,
                    near,
                } => {
                    let room = claims.room.clone();
                    let sql = self.state.storage().sql();
                    let result = crate::media_link::join(
                        &self.env,
                        &sql,
                        &room,
                        claims,
                        sdp,
                        sources,
                        near.as_deref(),
                        now_ms(),
                    )
                    .await;
                    self.core()?.borrow_mut().handle_media_answer(conn, result);
                }
                Output::MediaRestart {
                    conn,
                    participant,
                    sdp,
                } => {
                    let Some(room) = self.room() else { continue };
                    let sql = self.state.storage().sql();
                    let result =
                        crate::media_link::restart(&self.env, &sql, &room, &participant, sdp).await;
                    self.core()?.borrow_mut().handle_media_answer(conn, result);
                }
                Output::MediaGrants {
                    participant,
                    grants,
                } => {
                    let Some(room) = self.room() else { continue };
                    let sql = self.state.storage().sql();
                    crate::media_link::grants(&self.env, &sql, &room, &participant, &grants).await;
                }
                Output::MediaRemove(participant) => {
                    let Some(room) = self.room() else { continue };
                    let sql = self.state.storage().sql();
                    crate::media_link::remove(&self.env, &sql, &room, &participant).await;
                }
                Output::MediaClose => {
                    let Some(room) = self.room() else { continue };
                    let sql = self.state.storage().sql();
                    crate::media_link::close(&self.env, &sql, &room).await;
                }
                Output::PersistEnded => {
                    self.d1_room(
                        "UPDATE rooms SET ended_ms = ?2 WHERE id = ?1 AND ended_ms IS NULL",
                        vec![JsValue::from_f64(now_ms() as f64)],
                    )
                    .await;
                }
            }
        }
    }

    /// Runs a D1 statement. A failure is logged, never returned: the room's
    /// own state and the delivery of what follows in the output queue must
    /// not depend on the accounts database being reachable.
    async fn d1(&self, sql: &str, args: Vec<JsValue>) {
        let result = async { self.env.d1("DB")?.prepare(sql).bind(&args)?.run().await }.await;
        if let Err(e) = result {
            worker::console_error!("room: D1 write failed ({sql}): {e}");
        }
    }

    /// This room's id, once known.
    fn room(&self) -> Option<RoomId> {
        self.room_id
            .borrow()
            .as_deref()
            .and_then(|r| RoomId::parse(r).ok())
    }

    /// A D1 statement whose `?1` is this room's id.
    async fn d1_room(&self, sql: &str, mut args: Vec<JsValue>) {
        let Some(room) = self.room_id.borrow().clone() else {
            return;
        };
        args.insert(0, room.into());
        self.d1(sql, args).await
    }
}

impl DurableObject for Room {
    fn new(state: State, env: Env) -> Self {
        let chat_log = Rc::new(ChatLog::new(flush_after(&env)));
        let (core, room_id, next_conn) = match open(&state) {
            Ok((core, room_id, next)) => (Some(RefCell::new(core)), room_id, next),
            Err(e) => {
                worker::console_error!("room storage failed: {e}");
                (None, None, 1)
            }
        };
        let sockets = state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| attachment(&ws).map(|a| (a.conn, ws)))
            .collect();
        Self {
            state,
            env,
            core,
            next_conn: RefCell::new(next_conn),
            room_id: RefCell::new(room_id),
            sockets: RefCell::new(sockets),
            alarm_at: RefCell::new(None),
            chat_log,
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        // The worker's word that the accounts database changed.
        if let Some(sync) = req.headers().get(SYNC_HEADER)? {
            let Ok(sync) = serde_json::from_str::<RoomSync>(&sync) else {
                return Response::error("malformed sync", 400);
            };
            let now = now_ms();
            self.step(|core, store| core.handle_sync(sync, now, store))
                .await?;
            return Ok(Response::empty()?.with_status(204));
        }
        // Only the worker reaches this object, and it sets the identity
        // header from a verified session; a request without it is refused.
        let identity: Option<Identity> = req
            .headers()
            .get(IDENTITY_HEADER)?
            .and_then(|h| serde_json::from_str(&h).ok());
        let Some(identity) = identity else {
            return Response::error("missing identity", 400);
        };
        let upgrade = req.headers().get("Upgrade")?.unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Response::error("expected a WebSocket upgrade", 426);
        }
        self.core()?;
        let after: Option<u64> = req
            .url()?
            .query_pairs()
            .find(|(k, _)| k == "after")
            .and_then(|(_, v)| v.parse().ok());
        if self.room_id.borrow().is_none() {
            let room: &RoomId = &identity.room;
            self.state.storage().sql().exec(
                "REPLACE INTO meta (key, value) VALUES ('room_id', ?)",
                vec![room.as_str().into()],
            )?;
            *self.room_id.borrow_mut() = Some(room.to_string());
        }
        let pair = WebSocketPair::new()?;
        let conn = {
            let mut next = self.next_conn.borrow_mut();
            let conn = ConnId(*next);
            *next += 1;
            conn
        };
        self.state
            .accept_websocket_with_tags(&pair.server, &[&conn_tag(conn)]);
        pair.server.serialize_attachment(Attachment {
            conn: conn.0,
            who: identity.id.clone(),
        })?;
        self.sockets
            .borrow_mut()
            .insert(conn.0, pair.server.clone());
        let now = now_ms();
        self.step(|core, store| core.handle_connect(conn, identity, after, now, store))
            .await?;
        Response::from_websocket(pair.client)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(a) = attachment(&ws) else {
            let _ = ws.close(Some(close_code::INTERNAL_ERROR), Some("unknown connection"));
            return Ok(());
        };
        if self.core.is_none() {
            let _ = ws.close(Some(close_code::INTERNAL_ERROR), Some("room unavailable"));
            return Ok(());
        }
        let conn = ConnId(a.conn);
        let now = now_ms();
        self.step(|core, store| match &message {
            WebSocketIncomingMessage::String(text) => {
                core.handle_frame(conn, Frame::Text(text), now, store)
            }
            WebSocketIncomingMessage::Binary(bytes) => {
                core.handle_frame(conn, Frame::Binary(bytes.len()), now, store)
            }
        })
        .await
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        if let Some(a) = attachment(&ws) {
            self.sockets.borrow_mut().remove(&a.conn);
            let now = now_ms();
            self.step(|core, store| core.handle_disconnect(ConnId(a.conn), now, store))
                .await?;
        }
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        if let Some(a) = attachment(&ws) {
            self.sockets.borrow_mut().remove(&a.conn);
            let now = now_ms();
            self.step(|core, store| core.handle_disconnect(ConnId(a.conn), now, store))
                .await?;
        }
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        // The alarm fired, so storage holds none now: the next is set anew.
        *self.alarm_at.borrow_mut() = None;
        let now = now_ms();
        self.step(|core, store| core.handle_tick(now, store))
            .await?;
        Response::ok("ok")
    }
}
