//! A room WebSocket client for the tests: connects with an agent's session
//! cookie, sends [`ClientMessage`]s, reads [`ServerMessage`]s.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::room::{ClientMessage, ServerMessage};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::api::Agent;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for one message.
pub const WAIT: Duration = Duration::from_secs(20);

/// One open room socket.
pub struct RoomClient {
    ws: Stream,
}

/// Why a connection attempt failed: the HTTP status of the refused upgrade.
#[derive(Debug)]
pub struct Refused(pub u16);

impl Agent {
    /// Opens `room`'s WebSocket with this agent's session; `after` resumes.
    pub async fn room(&self, room: &str, after: Option<u64>) -> Result<RoomClient, Refused> {
        let after = after.map(|a| format!("?after={a}")).unwrap_or_default();
        let url = format!(
            "{}/rooms/{room}/ws{after}",
            self.base.replacen("http://", "ws://", 1)
        );
        let mut req = url.into_client_request().map_err(|_| Refused(0))?;
        if let Some(cookie) = &self.cookie
            && let Ok(v) = HeaderValue::from_str(cookie)
        {
            req.headers_mut().insert("Cookie", v);
        }
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                req.headers_mut().insert(n, v);
            }
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(RoomClient { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                Err(Refused(resp.status().as_u16()))
            }
            Err(_) => Err(Refused(0)),
        }
    }
}

/// What reading a socket yielded.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A message (boxed: a welcome is large).
    Message(Box<ServerMessage>),
    /// The server closed the socket with this code.
    Closed(Option<u16>),
}

impl RoomClient {
    /// Sends a message.
    pub async fn send(&mut self, msg: &ClientMessage) {
        self.ws
            .send(Message::text(msg.encode()))
            .await
            .expect("socket open");
    }

    /// Sends a raw text frame.
    pub async fn send_raw(&mut self, text: String) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("socket open");
    }

    /// The next message or close, within [`WAIT`].
    pub async fn next(&mut self) -> Event {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("nothing arrived in time");
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return Event::Message(Box::new(
                        ServerMessage::decode(&t).expect("a server message"),
                    ));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Event::Closed(frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Event::Closed(None),
            }
        }
    }

    /// The next message; panics on a close.
    pub async fn message(&mut self) -> ServerMessage {
        match self.next().await {
            Event::Message(m) => *m,
            Event::Closed(code) => panic!("socket closed ({code:?}) while a message was expected"),
        }
    }

    /// Reads until a message satisfies `pick`, returning what it picked.
    pub async fn until<T>(&mut self, mut pick: impl FnMut(&ServerMessage) -> Option<T>) -> T {
        loop {
            let m = self.message().await;
            if let Some(t) = pick(&m) {
                return t;
            }
        }
    }

    /// Reads until the socket closes; returns its close code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            if let Event::Closed(code) = self.next().await {
                return code;
            }
        }
    }

    /// Closes the socket.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
