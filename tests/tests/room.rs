//! The live room over real WebSockets in workerd: who gets in, delivery to
//! 100 clients, direct-message privacy, host controls and their refusals,
//! removal, bad input, and a restart of `wrangler dev`.

mod common;

use std::collections::BTreeSet;

use e2e::api::Agent;
use e2e::room_client::RoomClient;
use e2e::worker::{Worker, WorkerOptions};
use protocol::ParticipantId;
use protocol::board::{BoardChange, BoardId, BoardOp, Color, Point, Shape};
use protocol::room::{
    ChatMessage, ClientMessage, ErrorCode, MAX_FRAME_BYTES, ServerMessage, Track, close_code,
};
use serde_json::json;

/// A room with a host and an invite link that guests may use.
struct Meeting {
    id: String,
    host: Agent,
    token: String,
}

async fn meeting(worker: &Worker, options: serde_json::Value) -> Meeting {
    let mut host = Agent::new(worker.url());
    let email = format!(
        "host-{}@example.org",
        e2e::random_secret().unwrap()[..8].to_owned()
    );
    assert_eq!(host.signup(&email, "Host").await.status, 201);
    let mut body = json!({ "name": "Meeting", "allow_guests": true, "max_participants": 1000 });
    body.as_object_mut()
        .unwrap()
        .extend(options.as_object().unwrap().clone());
    let room = host.post("/api/rooms", body).await;
    let id = room.body["id"].as_str().unwrap().to_owned();
    let invite = host
        .post(
            &format!("/api/rooms/{id}/invites"),
            json!({ "role": "participant", "expires_in": 3600 }),
        )
        .await;
    let token = invite.body["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    Meeting { id, host, token }
}

async fn guest(worker: &Worker, m: &Meeting, name: &str) -> Agent {
    let mut g = Agent::new(worker.url());
    let r = g
        .post(
            &format!("/api/invites/{}/accept", m.token),
            json!({ "guest_name": name }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    g
}

/// Connects and reads up to the welcome; returns the socket and my id.
async fn enter(agent: &Agent, room: &str) -> (RoomClient, ParticipantId) {
    let mut c = agent.room(room, None).await.expect("admitted");
    let me = c
        .until(|m| match m {
            ServerMessage::Welcome { you, .. } => Some(you.id.clone()),
            _ => None,
        })
        .await;
    (c, me)
}

fn say(text: &str) -> ClientMessage {
    ClientMessage::Say {
        text: text.into(),
        to: None,
    }
}

fn chat(m: &ServerMessage) -> Option<(u64, String)> {
    match m {
        ServerMessage::Chat { message } => Some((message.seq, message.text.clone())),
        _ => None,
    }
}

fn error(m: &ServerMessage) -> Option<ErrorCode> {
    match m {
        ServerMessage::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_and_invited_guests_get_in() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let m = meeting(&worker, json!({})).await;
    let other = meeting(&worker, json!({})).await;

    assert_eq!(
        Agent::new(worker.url())
            .room(&m.id, None)
            .await
            .err()
            .map(|r| r.0),
        Some(401)
    );
    let mut outsider = Agent::new(worker.url());
    outsider.signup("outsider@example.org", "Out").await;
    assert_eq!(
        outsider.room(&m.id, None).await.err().map(|r| r.0),
        Some(404),
        "a member of no room"
    );
    assert_eq!(
        other.host.room(&m.id, None).await.err().map(|r| r.0),
        Some(404),
        "a host of another room"
    );
    let g = guest(&worker, &m, "Gus").await;
    assert_eq!(
        g.room(&other.id, None).await.err().map(|r| r.0),
        Some(404),
        "a guest of another room"
    );
    let mut cross_site = m.host.clone();
    cross_site
        .headers
        .push(("Origin".into(), "https://evil.example".into()));
    assert_eq!(
        cross_site.room(&m.id, None).await.err().map(|r| r.0),
        Some(403),
        "a cross-site socket"
    );
    let mut forged = Agent::new(worker.url());
    forged.cookie = Some(format!("ot_session={}", "f".repeat(64)));
    assert_eq!(forged.room(&m.id, None).await.err().map(|r| r.0), Some(401));

    let (_host, host_id) = enter(&m.host, &m.id).await;
    let (_guest, guest_id) = enter(&g, &m.id).await;
    assert!(host_id.as_str().starts_with("u-") && guest_id.as_str().starts_with("g-"));
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_clients_receive_every_message_exactly_once_in_order() {
    const CLIENTS: usize = 100;
    const SENDERS: usize = 10;
    const EACH: usize = 5;
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let m = meeting(&worker, json!({})).await;
    let mut sockets = Vec::new();
    for i in 0..CLIENTS {
        let g = guest(&worker, &m, &format!("Guest {i}")).await;
        sockets.push(enter(&g, &m.id).await.0);
    }
    for (i, socket) in sockets.iter_mut().take(SENDERS).enumerate() {
        for k in 0..EACH {
            socket.send(&say(&format!("from {i} #{k}"))).await;
        }
    }
    let total = SENDERS * EACH;
    let mut readers = tokio::task::JoinSet::new();
    for (i, mut socket) in sockets.into_iter().enumerate() {
        readers.spawn(async move {
            let mut seqs = Vec::new();
            let mut texts = BTreeSet::new();
            while seqs.len() < total {
                if let Some((seq, text)) = chat(&socket.message().await) {
                    seqs.push(seq);
                    texts.insert(text);
                }
            }
            (i, seqs, texts)
        });
    }
    let expected: Vec<u64> = (1..=total as u64).collect();
    while let Some(result) = readers.join_next().await {
        let (i, seqs, texts) = result.unwrap();
        assert_eq!(seqs, expected, "client {i}: every message once, in order");
        assert_eq!(texts.len(), total, "client {i}");
    }
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_never_reaches_a_third_client() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let m = meeting(&worker, json!({})).await;
    let (mut host, _) = enter(&m.host, &m.id).await;
    let a = guest(&worker, &m, "A").await;
    let b = guest(&worker, &m, "B").await;
    let (mut a_ws, _) = enter(&a, &m.id).await;
    let (mut b_ws, b_id) = enter(&b, &m.id).await;

    a_ws.send(&ClientMessage::Say {
        text: "just for B".into(),
        to: Some(b_id.clone()),
    })
    .await;
    assert_eq!(b_ws.until(chat).await, (1, "just for B".into()));
    assert_eq!(a_ws.until(chat).await, (1, "just for B".into()));
    host.send(&say("for everyone")).await;
    assert_eq!(
        host.until(chat).await,
        (2, "for everyone".into()),
        "the host never saw seq 1"
    );
    assert_eq!(b_ws.until(chat).await.0, 2);

    // History keeps the same privacy.
    let (mut b2, _) = enter(&b, &m.id).await;
    b2.send(&ClientMessage::History { before: 100 }).await;
    let seen = b2.until(|m| match m {
        ServerMessage::History { messages, .. } => {
            Some(messages.iter().map(|m| m.seq).collect::<Vec<_>>())
        }
        _ => None,
    });
    assert_eq!(seen.await, vec![1, 2]);
    let (mut host2, _) = enter(&m.host, &m.id).await;
    host2.send(&ClientMessage::History { before: 100 }).await;
    let seen = host2.until(|m| match m {
        ServerMessage::History { messages, .. } => {
            Some(messages.iter().map(|m| m.seq).collect::<Vec<_>>())
        }
        _ => None,
    });
    assert_eq!(seen.await, vec![2]);
    // A third party cannot even edit or delete it.
    host2.send(&ClientMessage::Delete { seq: 1 }).await;
    assert_eq!(host2.until(error).await, ErrorCode::NotFound);
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participants_host_actions_are_refused_and_a_hosts_take_effect() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let m = meeting(&worker, json!({})).await;
    let (mut host, host_id) = enter(&m.host, &m.id).await;
    let p = guest(&worker, &m, "P").await;
    let (mut p_ws, p_id) = enter(&p, &m.id).await;
    let attempts = vec![
        ClientMessage::Mute {
            who: host_id.clone(),
            track: Track::Microphone,
        },
        ClientMessage::Remove {
            who: host_id.clone(),
        },
        ClientMessage::SetRole {
            who: p_id.clone(),
            role: protocol::access::RoomRole::Host,
        },
        ClientMessage::Lock { locked: true },
        ClientMessage::Admit {
            who: host_id.clone(),
        },
        ClientMessage::Deny {
            who: host_id.clone(),
        },
        ClientMessage::LowerHand {
            who: Some(host_id.clone()),
        },
        ClientMessage::Allow {
            who: host_id.clone(),
        },
        ClientMessage::End,
    ];
    for attempt in &attempts {
        p_ws.send(attempt).await;
        assert_eq!(p_ws.until(error).await, ErrorCode::Forbidden, "{attempt:?}");
    }
    // The host's mute takes effect and everyone sees it.
    host.send(&ClientMessage::Mute {
        who: p_id.clone(),
        track: Track::Microphone,
    })
    .await;
    let muted = p_ws.until(|m| match m {
        ServerMessage::Updated { participant } if participant.id == p_id => {
            Some(participant.mic_muted)
        }
        _ => None,
    });
    assert!(muted.await);
    // And it is in the audit log (this host is the deployment's first
    // account, so also its admin).
    let audit = m.host.clone().get("/api/admin/audit?limit=1000").await;
    let muted = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "participant_mic_muted")
        .cloned();
    assert_eq!(
        muted.map(|e| e["target"].clone()),
        Some(json!(p_id.to_string()))
    );
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_participant_cannot_rejoin_until_allowed() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut admin = Agent::new(worker.url());
    admin.signup("admin@example.org", "Admin").await;
    let m = meeting(&worker, json!({})).await;
    let (mut host, _) = enter(&m.host, &m.id).await;
    let p = guest(&worker, &m, "P").await;
    let (mut p_ws, p_id) = enter(&p, &m.id).await;

    host.send(&ClientMessage::Remove { who: p_id.clone() })
        .await;
    assert_eq!(p_ws.closed().await, Some(close_code::REMOVED));
    let mut again = p
        .room(&m.id, None)
        .await
        .expect("the upgrade itself succeeds");
    assert_eq!(again.closed().await, Some(close_code::REMOVED));
    // Following the invite link again from the same browser changes nothing.
    let mut p = p;
    let again = p
        .post(
            &format!("/api/invites/{}/accept", m.token),
            json!({ "guest_name": "P again" }),
        )
        .await;
    assert_eq!(again.status, 200);
    let mut again = p.room(&m.id, None).await.unwrap();
    assert_eq!(again.closed().await, Some(close_code::REMOVED));
    host.send(&ClientMessage::Allow { who: p_id.clone() }).await;
    host.until(|m| {
        matches!(m, ServerMessage::HostView { removed, .. } if removed.is_empty()).then_some(())
    })
    .await;
    let (_back, _) = enter(&p, &m.id).await;

    let audit = admin.get("/api/admin/audit?limit=1000").await;
    let actions: Vec<&str> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"participant_removed") && actions.contains(&"participant_allowed"),
        "{actions:?}"
    );
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_and_oversized_messages_are_refused_and_the_room_goes_on() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let m = meeting(&worker, json!({})).await;
    let (mut ws, _) = enter(&m.host, &m.id).await;
    for frame in ["{not json", r#"{"type":"launch"}"#, r#"{"type":"say"}"#] {
        ws.send_raw(frame.into()).await;
        assert_eq!(ws.until(error).await, ErrorCode::Malformed, "{frame}");
    }
    ws.send(&say("   ")).await;
    assert_eq!(ws.until(error).await, ErrorCode::Empty);
    ws.send(&say("still here")).await;
    assert_eq!(ws.until(chat).await, (1, "still here".into()));
    ws.send_raw("x".repeat(MAX_FRAME_BYTES + 1)).await;
    assert_eq!(ws.closed().await, Some(close_code::MESSAGE_TOO_BIG));
    let mut again = m.host.room(&m.id, None).await.unwrap();
    let history = again.until(|m| match m {
        ServerMessage::Welcome { history, .. } => {
            Some(history.iter().map(|h| h.text.clone()).collect::<Vec<_>>())
        }
        _ => None,
    });
    assert_eq!(history.await, vec!["still here"]);
    worker.stop();
}

/// Stops `worker` and starts it again with `opts` on the same state.
async fn restart(worker: Worker, setup: &common::Setup, opts: &WorkerOptions) -> Worker {
    worker.stop();
    let opts = WorkerOptions {
        log: Some(setup.log("wrangler-2.log")),
        ..opts.clone()
    };
    Worker::start(&setup.paths, &opts).await.unwrap()
}

/// Connects (`after` a revision, if given) and returns the welcome's history.
async fn history(agent: &Agent, room: &str, after: Option<u64>) -> Vec<ChatMessage> {
    let mut c = agent.room(room, after).await.expect("admitted");
    c.until(|m| match m {
        ServerMessage::Welcome { history, .. } => Some(history.clone()),
        _ => None,
    })
    .await
}

/// New chat messages are written behind the broadcast. A room that stops
/// inside that window loses what it had not written (here the window is
/// widened to ten minutes so the stop surely falls in it), but never
/// misleads: the revisions after it start past every one a client saw, so a
/// client catching up from the lost message's revision still gets what came
/// later; and every read writes the pending messages first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_message_lost_in_the_write_behind_window_hides_nothing_after_it() {
    let setup = common::Setup::new();
    let opts = setup.worker_options("wrangler-1.log");
    let mut widened = opts.clone();
    widened.vars.push(("CHAT_FLUSH_MS".into(), "600000".into()));
    let worker = Worker::start(&setup.paths, &widened).await.unwrap();
    let m = meeting(&worker, json!({})).await;
    let p = guest(&worker, &m, "P").await;
    let lost_rev;
    {
        let (mut host, _) = enter(&m.host, &m.id).await;
        host.send(&say("kept")).await;
        assert_eq!(host.until(chat).await, (1, "kept".into()));
        // A read (this welcome's history) writes the pending message first.
        let seen: Vec<String> = history(&p, &m.id, None)
            .await
            .into_iter()
            .map(|h| h.text)
            .collect();
        assert_eq!(seen, ["kept"]);
        host.send(&say("lost")).await;
        lost_rev = host
            .until(|m| match m {
                ServerMessage::Chat { message } if message.text == "lost" => Some(message.rev),
                _ => None,
            })
            .await;
    }
    let worker = restart(worker, &setup, &opts).await;
    let texts = |h: Vec<ChatMessage>| h.into_iter().map(|h| h.text).collect::<Vec<_>>();
    assert_eq!(
        texts(history(&m.host, &m.id, None).await),
        ["kept"],
        "the stop fell inside the widened window"
    );
    let (mut host, _) = enter(&m.host, &m.id).await;
    host.send(&say("after")).await;
    let after = host
        .until(|m| match m {
            ServerMessage::Chat { message } => Some(message.clone()),
            _ => None,
        })
        .await;
    assert!(after.rev > lost_rev, "{} after {lost_rev}", after.rev);
    assert_eq!(
        texts(history(&p, &m.id, Some(lost_rev)).await),
        ["after"],
        "a client that saw the lost message still catches up"
    );
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_state_chat_and_whiteboards_survive_a_restart_of_wrangler_dev() {
    let setup = common::Setup::new();
    let opts = setup.worker_options("wrangler-1.log");
    let worker = Worker::start(&setup.paths, &opts).await.unwrap();
    let m = meeting(&worker, json!({})).await;
    let p = guest(&worker, &m, "P").await;
    let gone = guest(&worker, &m, "Gone").await;
    let host_user = m.host.clone().get("/api/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let host_pid = ParticipantId::parse(&format!("u-{host_user}")).unwrap();
    {
        let (mut host, _) = enter(&m.host, &m.id).await;
        let (mut p_ws, _) = enter(&p, &m.id).await;
        let (_gone_ws, gone_id) = enter(&gone, &m.id).await;
        // One step at a time, each seen done, so the order is certain.
        p_ws.send(&ClientMessage::RaiseHand).await;
        host.until(|m| {
            matches!(m, ServerMessage::Updated { participant } if participant.hand_raised)
                .then_some(())
        })
        .await;
        host.send(&say("first")).await;
        host.until(|m| {
            matches!(m, ServerMessage::Chat { message } if message.seq == 1).then_some(())
        })
        .await;
        p_ws.send(&ClientMessage::Say {
            text: "private".into(),
            to: Some(host_pid),
        })
        .await;
        host.until(|m| {
            matches!(m, ServerMessage::Chat { message } if message.seq == 2).then_some(())
        })
        .await;
        host.send(&ClientMessage::Remove { who: gone_id }).await;
        host.until(|m| {
            matches!(m, ServerMessage::HostView { removed, .. } if !removed.is_empty())
                .then_some(())
        })
        .await;
        host.send(&ClientMessage::Lock { locked: true }).await;
        host.until(|m| matches!(m, ServerMessage::Room { room } if room.locked).then_some(()))
            .await;
        // A board with a finished stroke, streamed in two parts.
        for op in [
            BoardOp::Create {
                name: "Plan".into(),
            },
            BoardOp::Begin {
                board: BoardId(0),
                n: 1,
                shape: Shape::Pen,
                color: Color(0xff0000),
                width: 5,
                points: vec![Point(1, 1)],
                text: None,
            },
            BoardOp::Extend {
                board: BoardId(0),
                n: 1,
                points: vec![Point(2, 2), Point(3, 3)],
            },
            BoardOp::End {
                board: BoardId(0),
                n: 1,
            },
        ] {
            host.send(&ClientMessage::Board(op)).await;
        }
        host.until(|m| {
            matches!(
                m,
                ServerMessage::Board {
                    change: BoardChange::Ended { .. },
                    ..
                }
            )
            .then_some(())
        })
        .await;
    }
    let worker = restart(worker, &setup, &opts).await;
    let mut p_ws = p.room(&m.id, None).await.unwrap();
    let (you, history) = p_ws
        .until(|m| match m {
            ServerMessage::Welcome { you, history, .. } => Some((you.clone(), history.clone())),
            _ => None,
        })
        .await;
    assert!(you.hand_raised, "presence state survived");
    p_ws.send(&ClientMessage::Board(BoardOp::Open { board: BoardId(0) }))
        .await;
    let (seq, strokes) = p_ws
        .until(|m| match m {
            ServerMessage::BoardState { seq, strokes, .. } => Some((*seq, strokes.clone())),
            _ => None,
        })
        .await;
    assert_eq!(seq, 4, "the board's numbering survived");
    assert_eq!(strokes.len(), 1);
    assert_eq!(strokes[0].points, [Point(1, 1), Point(2, 2), Point(3, 3)]);
    assert!(strokes[0].done, "the stroke survived, finished");
    assert_eq!(
        history
            .iter()
            .map(|h| (h.seq, h.text.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "first"), (2, "private")]
    );
    let mut gone_ws = gone.room(&m.id, None).await.unwrap();
    assert_eq!(
        gone_ws.closed().await,
        Some(close_code::REMOVED),
        "removal survived"
    );
    let late = guest(&worker, &m, "Late").await;
    let mut late_ws = late.room(&m.id, None).await.unwrap();
    assert_eq!(
        late_ws.closed().await,
        Some(close_code::LOCKED),
        "the lock survived"
    );
    p_ws.send(&say("third")).await;
    assert_eq!(
        p_ws.until(chat).await,
        (3, "third".into()),
        "numbering continues"
    );
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lobby_holds_guests_until_a_host_admits_them() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let m = meeting(&worker, json!({ "lobby": true })).await;
    let (mut host, _) = enter(&m.host, &m.id).await;
    let g = guest(&worker, &m, "Waiting Walt").await;
    let mut g_ws = g.room(&m.id, None).await.unwrap();
    assert_eq!(g_ws.message().await, ServerMessage::Waiting);
    let walt = host
        .until(|m| match m {
            ServerMessage::HostView { waiting, .. } => waiting.first().map(|w| w.id.clone()),
            _ => None,
        })
        .await;
    host.send(&ClientMessage::Admit { who: walt }).await;
    g_ws.until(|m| matches!(m, ServerMessage::Welcome { .. }).then_some(()))
        .await;
    let d = guest(&worker, &m, "Denied Dan").await;
    let mut d_ws = d.room(&m.id, None).await.unwrap();
    assert_eq!(d_ws.message().await, ServerMessage::Waiting);
    let dan = host
        .until(|m| match m {
            ServerMessage::HostView { waiting, .. } => waiting
                .iter()
                .find(|w| w.name == "Denied Dan")
                .map(|w| w.id.clone()),
            _ => None,
        })
        .await;
    host.send(&ClientMessage::Deny { who: dan }).await;
    assert_eq!(d_ws.closed().await, Some(close_code::DENIED));
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_the_http_api_reach_the_live_room() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut m = meeting(&worker, json!({})).await;
    let (mut host_ws, _) = enter(&m.host, &m.id).await;
    let g = guest(&worker, &m, "G").await;
    let (mut g_ws, _) = enter(&g, &m.id).await;

    let r = m
        .host
        .patch(&format!("/api/rooms/{}", m.id), json!({ "locked": true }))
        .await;
    assert_eq!(r.status, 200);
    g_ws.until(|msg| matches!(msg, ServerMessage::Room { room } if room.locked).then_some(()))
        .await;
    let late = guest(&worker, &m, "Late").await;
    let mut late_ws = late.room(&m.id, None).await.unwrap();
    assert_eq!(late_ws.closed().await, Some(close_code::LOCKED));

    assert_eq!(
        m.host
            .post(&format!("/api/rooms/{}/end", m.id), json!({}))
            .await
            .status,
        200
    );
    assert_eq!(g_ws.closed().await, Some(close_code::ENDED));
    assert_eq!(host_ws.closed().await, Some(close_code::ENDED));
    assert_eq!(
        g.room(&m.id, None).await.err().map(|r| r.0),
        Some(409),
        "an ended meeting takes nobody"
    );
    worker.stop();
}
