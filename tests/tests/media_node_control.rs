//! The real media node's control API and UDP port under bad input: missing,
//! wrong and forged credentials, expired and other-room tokens, malformed and
//! oversized offers, a flood of offers, random datagrams. Every refusal is a
//! clear status with a JSON reason, and the node keeps serving.

mod common;

use std::time::Duration;

use durable_objects::media_token;
use protocol::media::{
    JoinRequest, MediaAnswer, MediaClaims, NodeErrorBody, NodeStats, Source, TrackSource,
};
use protocol::node::{NodeInfo, NodeList};
use protocol::{ParticipantId, RoomId};
use str0m::media::{Direction, MediaKind};

fn claims(room: &str, who: &str) -> MediaClaims {
    MediaClaims {
        room: RoomId::parse(room).unwrap(),
        participant: ParticipantId::parse(who).unwrap(),
        publish: vec![Source::Camera, Source::Microphone],
        subscribe: true,
        muted: vec![],
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A real offer (audio + video + data channel) from a str0m peer.
fn offer() -> (String, Vec<TrackSource>) {
    str0m::crypto::from_feature_flags().install_process_default();
    let mut rtc = str0m::Rtc::new(std::time::Instant::now());
    let mut api = rtc.sdp_api();
    let a = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let v = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    api.add_channel("sfu".into());
    let (offer, _) = api.apply().unwrap();
    let sources = vec![
        TrackSource {
            mid: a.to_string(),
            source: Source::Microphone,
        },
        TrackSource {
            mid: v.to_string(),
            source: Source::Camera,
        },
    ];
    (offer.to_sdp_string(), sources)
}

async fn node_info(http: &reqwest::Client, url: &str, secret: &str) -> NodeInfo {
    e2e::eventually("the node to register", Duration::from_secs(20), || async {
        let r = http
            .get(format!("{url}/api/media-nodes"))
            .bearer_auth(secret)
            .send()
            .await
            .ok()?;
        r.json::<NodeList>().await.ok()?.nodes.into_iter().next()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_refuses_bad_input_clearly_and_keeps_serving() {
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let _node = setup.node(&worker, "node-c");
    let http = reqwest::Client::new();
    let info = node_info(&http, worker.url(), &setup.secret).await;
    let base = info.control_url.clone();
    let join_url = format!("{base}/rooms/r1/participants");
    let (sdp, sources) = offer();
    let good = |token: String, offer: &str| JoinRequest {
        token,
        offer: offer.to_owned(),
        sources: sources.clone(),
    };
    let token = media_token::mint(&setup.media_seed, claims("r1", "u-ada"), now_ms()).unwrap();

    // No secret, a wrong one.
    let r = http
        .post(&join_url)
        .json(&good(token.clone(), &sdp))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(&join_url)
        .bearer_auth("wrong")
        .json(&good(token.clone(), &sdp))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let post = |body: serde_json::Value| {
        let http = http.clone();
        let (url, secret) = (join_url.clone(), setup.secret.clone());
        async move {
            let r = http
                .post(url)
                .bearer_auth(secret)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let reason = |text: &str| serde_json::from_str::<NodeErrorBody>(text).unwrap().error;

    // Forged (another key), expired, and another room's tokens.
    let other_seed = e2e::random_secret().unwrap();
    let forged = media_token::mint(&other_seed, claims("r1", "u-ada"), now_ms()).unwrap();
    let expired = media_token::mint(
        &setup.media_seed,
        claims("r1", "u-ada"),
        now_ms() - 3_600_000,
    )
    .unwrap();
    let elsewhere = media_token::mint(&setup.media_seed, claims("r2", "u-ada"), now_ms()).unwrap();
    for bad in [forged, expired, elsewhere, "not-a-jwt".to_owned()] {
        let (status, text) = post(serde_json::to_value(good(bad, &sdp)).unwrap()).await;
        assert_eq!(
            (status, reason(&text).as_str()),
            (401, "bad_token"),
            "{text}"
        );
    }

    // Malformed SDP, unknown fields, oversized bodies.
    let (status, text) =
        post(serde_json::to_value(good(token.clone(), "v=0\r\ngarbage")).unwrap()).await;
    assert_eq!((status, reason(&text).as_str()), (400, "malformed_sdp"));
    let (status, _) =
        post(serde_json::json!({ "token": token, "offer": sdp, "sources": [], "extra": 1 })).await;
    assert!(status == 400 || status == 422, "{status}");
    let huge = "x".repeat(100 * 1024);
    let (status, _) = post(serde_json::to_value(good(token.clone(), &huge)).unwrap()).await;
    assert_eq!(status, 413);

    // Random datagrams at the media port.
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut x: u32 = 2_463_534_242;
    for n in 0..1000usize {
        let len = n % 200 + 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        udp.send_to(&bytes, &info.media_addr).await.unwrap();
        // Paced, so a busy machine's socket buffer does not drop them before
        // the node sees them (what is measured is the node, not the kernel).
        if n % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // A flood of offers, mostly malformed, concurrently.
    let mut flood = Vec::new();
    for i in 0..100 {
        let offer = if i % 10 == 0 {
            sdp.clone()
        } else {
            format!("v=0\r\n{i}")
        };
        flood.push(tokio::spawn(post(
            serde_json::to_value(good(token.clone(), &offer)).unwrap(),
        )));
    }
    for f in flood {
        let (status, _) = f.await.unwrap();
        assert!([200, 400, 503].contains(&status), "{status}");
    }

    // Still serving: a good offer gets an answer with the node's candidate.
    let (status, text) = post(serde_json::to_value(good(token, &sdp)).unwrap()).await;
    assert_eq!(status, 200, "{text}");
    let answer: MediaAnswer = serde_json::from_str(&text).unwrap();
    assert!(answer.answer.contains("a=candidate"), "{}", answer.answer);
    let port = info.media_addr.rsplit(':').next().unwrap();
    assert!(answer.answer.contains(port));

    // Stats need the secret, and count what was dropped.
    let r = http.get(format!("{base}/stats")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let stats: NodeStats = e2e::eventually(
        "the random datagrams to be counted",
        Duration::from_secs(10),
        || async {
            let s: NodeStats = http
                .get(format!("{base}/stats"))
                .bearer_auth(&setup.secret)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (s.dropped_unrouted >= 800).then_some(s)
        },
    )
    .await
    .unwrap();
    assert_eq!(stats.faulted, 0);
    // A second join of the same participant replaced the first.
    assert_eq!(stats.participants, 1, "{stats:?}");
}

/// The room relays a real offer to the node and returns its answer on the
/// socket; with no healthy node, the answer is a clear `unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_relays_offers_to_a_healthy_node_and_says_when_there_is_none() {
    use protocol::room::{ClientMessage, ErrorCode, ServerMessage};
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let mut ada = e2e::api::Agent::new(worker.url());
    ada.signup("ada@example.org", "Ada").await;
    let room = ada
        .post("/api/rooms", serde_json::json!({ "name": "Signal" }))
        .await;
    let room = room.body["id"].as_str().unwrap().to_owned();
    let mut ws = ada.room(&room, None).await.expect("admitted");
    ws.until(|m| matches!(m, ServerMessage::Welcome { .. }).then_some(()))
        .await;
    let (sdp, sources) = offer();
    let msg = ClientMessage::MediaOffer {
        sdp: sdp.clone(),
        sources: sources.clone(),
    };

    // No node registered yet.
    ws.send(&msg).await;
    let code = ws
        .until(|m| match m {
            ServerMessage::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::Unavailable);

    let _node = setup.node(&worker, "node-s");
    let http = reqwest::Client::new();
    let info = node_info(&http, worker.url(), &setup.secret).await;
    ws.send(&msg).await;
    let answer = ws
        .until(|m| match m {
            ServerMessage::MediaAnswer { sdp } => Some(Ok(sdp.clone())),
            ServerMessage::Error { code, message } => Some(Err(format!("{code:?}: {message}"))),
            _ => None,
        })
        .await
        .expect("an answer");
    let port = info.media_addr.rsplit(':').next().unwrap();
    assert!(answer.contains(port), "{answer}");

    // The node's heartbeats carry its load, which placement reads.
    e2e::eventually(
        "the registry to show the participant",
        Duration::from_secs(20),
        || async {
            let info = node_info(&http, worker.url(), &setup.secret).await;
            (info.load.participants == 1 && info.load.rooms == 1).then_some(())
        },
    )
    .await
    .unwrap();

    // Declaring a source the role may not publish is refused by the room.
    let bad = ClientMessage::MediaOffer {
        sdp,
        sources: vec![
            TrackSource {
                mid: "x".into(),
                source: Source::Screen
            };
            9
        ],
    };
    ws.send(&bad).await;
    let code = ws
        .until(|m| match m {
            ServerMessage::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::BadOffer);
}

/// Several participants' offers, back to back, each get an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_from_several_participants_are_all_answered() {
    use protocol::room::{ClientMessage, ServerMessage};
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let _node = setup.node(&worker, "node-m");
    let http = reqwest::Client::new();
    node_info(&http, worker.url(), &setup.secret).await;
    let mut host = e2e::api::Agent::new(worker.url());
    host.signup("host@example.org", "Host").await;
    let room = host
        .post("/api/rooms", serde_json::json!({ "name": "Many" }))
        .await;
    let room = room.body["id"].as_str().unwrap().to_owned();
    let mut sockets = Vec::new();
    for i in 0..4 {
        let mut a = e2e::api::Agent::new(worker.url());
        let id = a
            .signup(&format!("p{i}@example.org"), &format!("P{i}"))
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        host.post(
            &format!("/api/rooms/{room}/members"),
            serde_json::json!({ "user_id": id, "role": "participant" }),
        )
        .await;
        let mut ws = a.room(&room, None).await.expect("admitted");
        ws.until(|m| matches!(m, ServerMessage::Welcome { .. }).then_some(()))
            .await;
        sockets.push(ws);
    }
    let (sdp, sources) = offer();
    for round in 0..2 {
        for ws in &mut sockets {
            ws.send(&ClientMessage::MediaOffer {
                sdp: sdp.clone(),
                sources: sources.clone(),
            })
            .await;
        }
        for (i, ws) in sockets.iter_mut().enumerate() {
            let got = ws
                .until(|m| match m {
                    ServerMessage::MediaAnswer { .. } => Some(Ok(())),
                    ServerMessage::Error { code, message } => {
                        Some(Err(format!("{code:?}: {message}")))
                    }
                    _ => None,
                })
                .await;
            assert_eq!(got, Ok(()), "participant {i}, round {round}");
        }
    }

    // The node has each of them once (a second offer replaces the first).
    let stats = |http: reqwest::Client, base: String, secret: String| async move {
        http.get(format!("{base}/stats"))
            .bearer_auth(secret)
            .send()
            .await
            .ok()?
            .json::<NodeStats>()
            .await
            .ok()
    };
    let base = node_info(&http, worker.url(), &setup.secret)
        .await
        .control_url;
    let s = stats(http.clone(), base.clone(), setup.secret.clone())
        .await
        .unwrap();
    assert_eq!(s.participants, 4);

    // A host removes one from the room: the room tells the node at once.
    let mut host_ws = host.room(&room, None).await.expect("admitted");
    host_ws
        .until(|m| matches!(m, ServerMessage::Welcome { .. }).then_some(()))
        .await;
    let first = sockets.remove(0);
    let (first_id, _) = {
        let list = host.get(&format!("/api/rooms/{room}/members")).await;
        let m = list.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "P0")
            .unwrap()
            .clone();
        (format!("u-{}", m["user_id"].as_str().unwrap()), m)
    };
    host_ws
        .send(&ClientMessage::Remove {
            who: protocol::ParticipantId::parse(&first_id).unwrap(),
        })
        .await;
    drop(first);
    e2e::eventually(
        "the node to drop the removed participant",
        Duration::from_secs(10),
        || {
            let (http, base, secret) = (http.clone(), base.clone(), setup.secret.clone());
            let first_id = first_id.clone();
            async move {
                let s = stats(http, base, secret).await?;
                (s.participants == 3 && s.clients.iter().all(|c| c.participant != first_id))
                    .then_some(())
            }
        },
    )
    .await
    .unwrap();
}

/// An attendee (a role without publish grants) is refused when offering to
/// publish, by the room, before any node is asked; watching is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attendee_may_watch_but_not_publish() {
    use protocol::room::{ClientMessage, ErrorCode, ServerMessage};
    let setup = common::Setup::new();
    let worker = setup.worker().await;
    let _node = setup.node(&worker, "node-a");
    let http = reqwest::Client::new();
    node_info(&http, worker.url(), &setup.secret).await;
    let (room, mut people) = common::room_with(&worker, &["Host", "Watcher"]).await;
    let watcher_id = people[1].1.clone();
    let changed = people[0]
        .0
        .post(
            &format!("/api/rooms/{room}/members"),
            serde_json::json!({ "user_id": watcher_id, "role": "attendee" }),
        )
        .await;
    assert!(changed.status.is_success(), "{changed:?}");
    let watcher = &mut people[1].0;
    assert_eq!(
        watcher.get(&format!("/api/rooms/{room}")).await.body["my_role"],
        "attendee"
    );
    let mut ws = watcher.room(&room, None).await.expect("admitted");
    ws.until(|m| matches!(m, ServerMessage::Welcome { .. }).then_some(()))
        .await;

    let (sdp, sources) = offer();
    ws.send(&ClientMessage::MediaOffer { sdp, sources }).await;
    let refused = ws
        .until(|m| match m {
            ServerMessage::Error { code, .. } => Some(*code),
            ServerMessage::MediaAnswer { .. } => Some(ErrorCode::Conflict),
            _ => None,
        })
        .await;
    assert_eq!(refused, ErrorCode::Forbidden);

    // An offer that only receives (a data channel) is answered.
    let mut rtc = str0m::Rtc::new(std::time::Instant::now());
    let mut api = rtc.sdp_api();
    api.add_channel("sfu".into());
    let (watch, _) = api.apply().unwrap();
    ws.send(&ClientMessage::MediaOffer {
        sdp: watch.to_sdp_string(),
        sources: vec![],
    })
    .await;
    let answered = ws
        .until(|m| match m {
            ServerMessage::MediaAnswer { .. } => Some(Ok(())),
            ServerMessage::Error { code, message } => Some(Err(format!("{code:?}: {message}"))),
            _ => None,
        })
        .await;
    assert_eq!(answered, Ok(()));
}
