//! The workerd adapter for [`crate::room::Room`]: hibernating WebSockets and
//! SQLite storage. Decode, feed the core, persist, send; no room logic here.

use std::cell::RefCell;

use protocol::room::{HISTORY_ON_JOIN, Said, close_code};
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, durable_object,
};

use crate::room::{self, ConnId, Frame, Output};

/// What each socket carries through hibernation.
#[derive(Serialize, Deserialize)]
struct Attachment {
    conn: u64,
}

/// A stored message row.
#[derive(Deserialize)]
struct MessageRow {
    seq: i64,
    text: String,
    at_ms: i64,
}

#[derive(Deserialize)]
struct LastSeq {
    last: i64,
}

/// The Room Durable Object class exported to workerd.
#[durable_object]
pub struct Room {
    state: State,
    /// The room's logic, rebuilt from storage whenever the object wakes;
    /// `None` if storage failed then, so the room refuses work rather than
    /// numbering messages wrongly.
    core: Option<RefCell<room::Room>>,
    /// Next connection id; starts above every id still attached to a live
    /// socket, so ids stay unique across hibernation.
    next_conn: RefCell<u64>,
}

fn conn_tag(conn: ConnId) -> String {
    format!("c{}", conn.0)
}

fn conn_of(ws: &WebSocket) -> Option<ConnId> {
    ws.deserialize_attachment::<Attachment>()
        .ok()
        .flatten()
        .map(|a| ConnId(a.conn))
}

impl Room {
    fn core(&self) -> Result<&RefCell<room::Room>> {
        self.core
            .as_ref()
            .ok_or_else(|| worker::Error::RustError("room storage is unavailable".into()))
    }

    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn history(&self) -> Result<Vec<Said>> {
        let rows: Vec<MessageRow> = self
            .sql()
            .exec(
                "SELECT seq, text, at_ms FROM (SELECT * FROM messages ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                vec![SqlStorageValue::from(HISTORY_ON_JOIN as i64)],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| Said {
                seq: r.seq as u64,
                text: r.text,
                at_ms: r.at_ms,
            })
            .collect())
    }

    /// Carries out every pending output of the core, in order.
    fn drain(&self) -> Result<()> {
        loop {
            let next = self.core()?.borrow_mut().poll_output();
            let Some(output) = next else { return Ok(()) };
            match output {
                Output::Store(said) => {
                    self.sql().exec(
                        "INSERT INTO messages (seq, text, at_ms) VALUES (?, ?, ?)",
                        vec![
                            (said.seq as i64).into(),
                            said.text.into(),
                            said.at_ms.into(),
                        ],
                    )?;
                }
                Output::Send(conn, msg) => {
                    for ws in self.state.get_websockets_with_tag(&conn_tag(conn)) {
                        // A socket that closed meanwhile is not the room's failure.
                        let _ = ws.send_with_str(msg.encode());
                    }
                }
                Output::Broadcast(msg) => {
                    let frame = msg.encode();
                    for ws in self.state.get_websockets() {
                        let _ = ws.send_with_str(&frame);
                    }
                }
                Output::Close { conn, code, reason } => {
                    for ws in self.state.get_websockets_with_tag(&conn_tag(conn)) {
                        let _ = ws.close(Some(code), Some(reason));
                    }
                }
            }
        }
    }
}

impl DurableObject for Room {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // Schema of the room's own SQLite; idempotent, runs on every wake.
        let created = sql.exec(
            "CREATE TABLE IF NOT EXISTS messages (
                seq INTEGER PRIMARY KEY,
                text TEXT NOT NULL,
                at_ms INTEGER NOT NULL
            )",
            None,
        );
        let last_seq = created
            .and_then(|_| sql.exec("SELECT COALESCE(MAX(seq), 0) AS last FROM messages", None))
            .and_then(|c| c.one::<LastSeq>())
            .map(|r| r.last as u64);
        let core = match last_seq {
            Ok(n) => Some(RefCell::new(room::Room::new(n))),
            Err(e) => {
                worker::console_error!("room storage failed: {e}");
                None
            }
        };
        let next_conn = state
            .get_websockets()
            .iter()
            .filter_map(conn_of)
            .map(|c| c.0 + 1)
            .max();
        Self {
            state,
            core,
            next_conn: RefCell::new(next_conn.unwrap_or(1)),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let upgrade = req.headers().get("Upgrade")?.unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Response::error("expected a WebSocket upgrade", 426);
        }
        let core = self.core()?;
        let history = self.history()?;
        let pair = WebSocketPair::new()?;
        let conn = {
            let mut next = self.next_conn.borrow_mut();
            let conn = ConnId(*next);
            *next += 1;
            conn
        };
        let tag = conn_tag(conn);
        self.state.accept_websocket_with_tags(&pair.server, &[&tag]);
        pair.server
            .serialize_attachment(Attachment { conn: conn.0 })?;
        core.borrow_mut().handle_join(conn, history);
        self.drain()?;
        Response::from_websocket(pair.client)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(conn) = conn_of(&ws) else {
            let _ = ws.close(Some(close_code::INTERNAL_ERROR), Some("unknown connection"));
            return Ok(());
        };
        let now_ms = worker::Date::now().as_millis() as i64;
        {
            let mut core = match self.core() {
                Ok(core) => core.borrow_mut(),
                Err(e) => {
                    let _ = ws.close(Some(close_code::INTERNAL_ERROR), Some("room unavailable"));
                    return Err(e);
                }
            };
            match &message {
                WebSocketIncomingMessage::String(text) => {
                    core.handle_frame(conn, Frame::Text(text), now_ms)
                }
                WebSocketIncomingMessage::Binary(bytes) => {
                    core.handle_frame(conn, Frame::Binary(bytes.len()), now_ms)
                }
            }
        }
        self.drain()
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        // Complete the closing handshake; the runtime forgets the socket.
        let _ = ws.close(Some(close_code::NORMAL), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> Result<()> {
        Ok(())
    }
}
