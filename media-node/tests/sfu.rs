//! The forwarding core on a simulated network (see `sim.rs`): routing,
//! room isolation, layer choice, mute and kick enforcement, bad input.

mod sim;

use std::time::Duration;

use media_node::sfu::Command;
use protocol::media::{GrantsUpdate, Source};
use protocol::{ParticipantId, RoomId};
use sim::Sim;

const AV: &[Source] = &[Source::Camera, Source::Microphone];

#[test]
fn three_participants_each_receive_the_two_others() {
    let mut s = Sim::new();
    // One at a time, each fully connected before the next arrives, so the
    // later ones reach the earlier ones by renegotiation.
    let a = s.join("ada", "r1", AV);
    s.run(Duration::from_secs(1));
    let b = s.join("bob", "r1", AV);
    s.run(Duration::from_secs(1));
    let c = s.join("cy", "r1", AV);
    s.run(Duration::from_secs(4));
    assert!(s.peers[a].offers >= 2, "Ada was offered Bob, then Cy");
    for (me, others) in [(a, [b, c]), (b, [a, c]), (c, [a, b])] {
        assert!(s.peers[me].connected, "{} connected", s.peers[me].name);
        for o in others {
            let v = s.got(me, o, Source::Camera);
            let m = s.got(me, o, Source::Microphone);
            assert!(
                v.packets > 30,
                "{} got {} video packets of {}",
                s.peers[me].name,
                v.packets,
                s.peers[o].name
            );
            assert!(
                m.packets > 50,
                "{} got {} audio packets of {}",
                s.peers[me].name,
                m.packets,
                s.peers[o].name
            );
            assert!(v.keyframes > 0, "a subscriber starts with a keyframe");
            assert_eq!(v.disorder, 0, "sequence numbers only rise");
        }
        // Nobody receives themselves.
        assert_eq!(s.got(me, me, Source::Camera).packets, 0);
    }
    assert_eq!(s.misdelivered, 0);
    assert_eq!(s.misattributed(), vec![]);
    let stats = s.sfu.stats();
    assert_eq!((stats.rooms, stats.participants, stats.tracks), (1, 3, 6));
}

#[test]
fn no_packet_crosses_rooms_even_with_the_same_participant_ids() {
    let mut s = Sim::new();
    let a1 = s.join("ada", "r1", AV);
    let b1 = s.join("bob", "r1", AV);
    let a2 = s.join("ada", "r2", AV);
    let b2 = s.join("bob", "r2", AV);
    s.run(Duration::from_secs(3));
    for (me, peer_room, other_room) in [(a1, b1, [a2, b2]), (a2, b2, [a1, b1])] {
        assert!(s.got(me, peer_room, Source::Camera).packets > 30);
        // Everything a peer received is from its own room's other member:
        // one participant, two sources.
        let got = s.snapshot(me);
        assert_eq!(got.len(), 2, "{got:?}");
        for o in other_room {
            assert_ne!(s.peers[o].room, s.peers[me].room);
        }
        assert_eq!(s.peers[me].remote.len(), 2);
    }
}

#[test]
fn tile_size_picks_the_layer_and_a_hidden_tile_gets_nothing() {
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    s.run(Duration::from_secs(3));
    s.view(b, &[(a, 100)]);
    s.run(Duration::from_secs(2));
    let before = s.got(b, a, Source::Camera).by_layer;
    s.run(Duration::from_secs(2));
    let small = s.got(b, a, Source::Camera).by_layer;
    assert!(
        small[0] > before[0] + 30,
        "a small tile gets the low layer: {before:?} -> {small:?}"
    );
    assert_eq!(small[1], before[1]);
    assert_eq!(small[2], before[2]);

    // A middle-sized tile switches up (on a keyframe) after the hold.
    s.view(b, &[(a, 360)]);
    s.run(Duration::from_secs(5));
    let mid = s.got(b, a, Source::Camera);
    assert!(
        mid.by_layer[1] > small[1] + 30,
        "{small:?} -> {:?}",
        mid.by_layer
    );
    assert_eq!(mid.disorder, 0, "switching keeps sequence numbers rising");
    assert!(s.sfu.stats().layer_switches >= 1);

    // Hidden: video stops, audio continues.
    s.view(b, &[(a, 0)]);
    s.run(Duration::from_secs(1));
    let v0 = s.got(b, a, Source::Camera).packets;
    let m0 = s.got(b, a, Source::Microphone).packets;
    s.run(Duration::from_secs(2));
    assert_eq!(
        s.got(b, a, Source::Camera).packets,
        v0,
        "a hidden tile receives no video"
    );
    assert!(s.got(b, a, Source::Microphone).packets > m0 + 50);
}

#[test]
fn an_idle_section_gives_its_stream_back_and_resumes_on_the_same_ssrc() {
    // A room of more than 8 forwards only the microphones of people
    // speaking: the listener's sections for the quiet ones idle.
    let mut s = Sim::new();
    let peers = s.microphones("r1", 2, 8);
    let (listener, quiet) = (peers[9], peers[2]);
    let parked = |s: &Sim| {
        let st = s.sfu.stats();
        let l = st.clients.iter().find(|c| c.participant == "u-quiet9");
        (st.parks, st.unparks, l.map_or(0, |c| c.parked))
    };
    s.run(Duration::from_secs(1));
    // Everybody's first packets go out (a level needs a moment to count as
    // silence), so every section has sent something before it idles.
    let seen = s.got(listener, quiet, Source::Microphone);
    assert!(
        seen.packets > 0 && seen.ssrcs.len() == 1,
        "{:?}",
        seen.ssrcs
    );
    s.run(Duration::from_secs(4));
    // The listener hears 2 speakers and 7 quiet others; every quiet one of
    // the 8 parks 7 sections, each speaker 8.
    assert_eq!(parked(&s), (8 * 7 + 2 * 8, 0, 7), "quiet sections park");
    let loud = s.got(listener, peers[0], Source::Microphone).packets;
    s.run(Duration::from_secs(1));
    assert!(
        s.got(listener, peers[0], Source::Microphone).packets > loud + 40,
        "a speaker's section stays declared and flowing"
    );

    // Someone joins: the node's offer to the listener must list the parked
    // sections' SSRCs, so they are declared for the offer and parked again
    // once idle (declaring them for an offer sends nothing and is not
    // counted as an unpark).
    let claims = Sim::claims("r1", "u-quiet10", &[Source::Microphone]);
    let offers = s.peers[listener].offers;
    s.peers[listener].hold_answers = true;
    s.join_with("quiet10", claims, true, false).unwrap();
    // Nothing parks while the offer waits for its answer: applying the
    // answer would give a section without a stream a new SSRC.
    s.run(Duration::from_secs(5));
    assert!(s.peers[listener].offers > offers);
    assert_eq!(
        parked(&s).2,
        0,
        "declared for the offer, kept while pending"
    );
    s.release_answer(listener);
    s.run(Duration::from_secs(4));
    // The 7 parked again, and the newcomer's quiet section.
    let (parks, unparks, now_parked) = parked(&s);
    assert_eq!((unparks, now_parked), (0, 8), "parks {parks}");

    // An ICE restart's answer lists them too: declared for it, parked again.
    s.ice_restart(listener);
    s.run(Duration::from_secs(4));
    assert_eq!(parked(&s).1, 0);
    assert_eq!(parked(&s).2, 8);

    // The quiet one speaks: its next packet declares the stream again, and
    // the listener hears it on the same section and SSRC, sequence numbers
    // still rising.
    s.peers[quiet].loud = true;
    s.run(Duration::from_secs(2));
    let after = s.got(listener, quiet, Source::Microphone);
    assert!(after.packets > seen.packets + 50, "heard again");
    assert_eq!(after.ssrcs, seen.ssrcs, "same SSRC after the park");
    assert_eq!(after.disorder, 0);
    let (_, unparks, now_parked) = parked(&s);
    assert_eq!((unparks >= 1, now_parked), (true, 7));
}

#[test]
fn a_hidden_video_tile_with_resends_keeps_its_stream() {
    // A declared-again stream would restart its RTX numbering, which the
    // browser's replay check refuses: video with RTX is never parked.
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    s.run(Duration::from_secs(3));
    s.view(b, &[(a, 0)]);
    s.run(Duration::from_secs(5));
    let st = s.sfu.stats();
    assert_eq!(st.parks, 0);
    s.view(b, &[(a, 100)]);
    let before = s.got(b, a, Source::Camera);
    s.run(Duration::from_secs(3));
    let after = s.got(b, a, Source::Camera);
    assert!(after.packets > before.packets + 30);
    assert_eq!(after.ssrcs.len(), 1);
}

#[test]
fn a_video_slot_moves_to_the_tile_shown_and_keeps_its_ssrc() {
    let mut s = Sim::new();
    // The viewer shows Ada and Bob only, before anyone arrives.
    let v = s.join("viewer", "r1", AV);
    s.run(Duration::from_secs(1));
    let id = |name: &str| ParticipantId::parse(&format!("u-{name}")).unwrap();
    s.view_ids(v, &[(id("ada"), 360), (id("bob"), 360)]);
    let [a, b, c, d] = ["ada", "bob", "cy", "dee"].map(|n| s.join(n, "r1", AV));
    s.run(Duration::from_secs(4));
    let names = |s: &Sim| -> Vec<String> {
        s.peers[v]
            .available
            .iter()
            .map(|t| t.participant.to_string())
            .collect()
    };
    assert_eq!(names(&s), ["u-ada", "u-bob", "u-cy", "u-dee"]);
    assert_eq!(
        s.peers[v].slots.len(),
        2,
        "one video section per tile shown"
    );
    let bob = s.got(v, b, Source::Camera);
    assert!(s.got(v, a, Source::Camera).packets > 30 && bob.packets > 30);
    assert_eq!(s.got(v, c, Source::Camera).packets, 0);
    assert!(s.got(v, c, Source::Microphone).packets > 50, "audio of all");
    let bob_mid = s.peers[v]
        .remote
        .iter()
        .find(|(_, (who, source))| *who == id("bob") && *source == Source::Camera)
        .map(|(mid, _)| mid.clone())
        .expect("Bob's slot");

    // Bob hidden, Cy shown: Bob's slot carries Cy, with no renegotiation.
    let offers = s.peers[v].offers;
    let assigns = s.peers[v].assigns.len();
    s.view_ids(v, &[(id("ada"), 360), (id("bob"), 0), (id("cy"), 360)]);
    s.run(Duration::from_secs(3));
    assert_eq!(s.peers[v].offers, offers, "the slot was reused");
    let moved = &s.peers[v].assigns[assigns..];
    let cy = s.peers[c].participant.clone();
    assert_eq!(
        moved
            .iter()
            .map(|(mid, t)| (mid.clone(), t.as_ref().map(|t| t.participant.clone())))
            .collect::<Vec<_>>(),
        [(bob_mid.clone(), None), (bob_mid.clone(), Some(cy))],
        "Bob leaves the slot before Cy's first packet: {:?}",
        s.peers[v].assigns
    );
    let got = s.got(v, c, Source::Camera);
    assert!(got.packets > 30, "{got:?}");
    assert_eq!(got.first_keyframe, Some(true), "Cy starts on a keyframe");
    assert_eq!(got.ssrcs, bob.ssrcs, "on Bob's old SSRC");
    let bob_now = s.got(v, b, Source::Camera).packets;
    s.run(Duration::from_secs(1));
    assert_eq!(s.got(v, b, Source::Camera).packets, bob_now, "Bob is off");

    // Ada leaves: her slot is free, and Dee shown takes it.
    let (room, who) = (s.peers[a].room.clone(), s.peers[a].participant.clone());
    s.command(Command::Remove(room, who)).unwrap();
    s.run(Duration::from_secs(1));
    assert_eq!(names(&s), ["u-bob", "u-cy", "u-dee"]);
    s.view_ids(v, &[(id("cy"), 360), (id("dee"), 360)]);
    s.run(Duration::from_secs(3));
    assert_eq!(s.peers[v].slots.len(), 2);
    assert!(s.got(v, d, Source::Camera).packets > 30);
    assert_eq!(s.got(v, d, Source::Camera).first_keyframe, Some(true));

    // Throughout: each section's sequence numbers only rose, nothing came
    // before the browser knew whose it was, nobody's packets showed as
    // someone else's, and every track a slot took started on a keyframe
    // at the RTP time its `Assign` named.
    let p = &s.peers[v];
    assert_eq!((p.section_disorder, p.unassigned), (0, 0));
    assert_eq!(p.slot_starts, vec![(true, true); 4], "Ada, Bob, Cy, Dee");
    assert_eq!(s.misattributed(), vec![]);
}

#[test]
fn everyone_hears_of_a_track_that_ends_at_once_even_without_a_section_for_it() {
    let mut s = Sim::new();
    let v = s.join("viewer", "r1", AV);
    s.run(Duration::from_secs(1));
    let ada = ParticipantId::parse("u-ada").unwrap();
    s.view_ids(v, &[(ada, 360)]);
    // A camera only, never shown to the viewer: nothing of it is sent there.
    let claims = Sim::claims("r1", "u-eve", &[Source::Camera]);
    let e = s.join_with("eve", claims, false, true).unwrap();
    s.join("ada", "r1", AV);
    s.run(Duration::from_secs(3));
    assert_eq!(s.peers[v].available.len(), 2);
    assert_eq!(s.got(v, e, Source::Camera).packets, 0);
    // Bo's arrival puts an offer in flight that the viewer does not answer
    // yet: the track list does not wait for it.
    s.peers[v].hold_answers = true;
    s.join("bo", "r1", AV);
    s.run(Duration::from_secs(1));
    assert!(s.peers[v].held_offer.is_some());
    let (room, who) = (s.peers[e].room.clone(), s.peers[e].participant.clone());
    s.command(Command::Remove(room, who)).unwrap();
    s.run(Duration::from_secs(1));
    let left: Vec<String> = s.peers[v]
        .available
        .iter()
        .map(|t| t.participant.to_string())
        .collect();
    assert_eq!(left, ["u-ada", "u-bo"], "Eve's tile goes");
    assert!(s.peers[v].held_offer.is_some(), "while the offer waits");
}

#[test]
fn a_short_budget_still_keeps_a_slot_for_every_tile_shown() {
    // Slots for tiles the budget cannot afford yet cost an idle section
    // each; without them, every rise of the estimate would wait for an
    // offer before a paused tile could start.
    let mut s = Sim::new();
    let v = s.join("viewer", "r1", AV);
    s.peers[v].downlink = Some(600_000);
    s.run(Duration::from_secs(1));
    let others: Vec<usize> = (0..5).map(|i| s.join(&format!("p{i}"), "r1", AV)).collect();
    let tiles: Vec<_> = others
        .iter()
        .map(|&o| (s.peers[o].participant.clone(), 180))
        .collect();
    s.view_ids(v, &tiles);
    s.run(Duration::from_secs(8));
    let before: Vec<u64> = others
        .iter()
        .map(|&o| s.got(v, o, Source::Camera).packets)
        .collect();
    s.run(Duration::from_secs(2));
    let flowing = others
        .iter()
        .zip(&before)
        .filter(|&(&o, &b)| s.got(v, o, Source::Camera).packets > b + 20)
        .count();
    assert!(flowing < 5, "the budget affords only some: {flowing}");
    assert_eq!(s.peers[v].slots.len(), 5, "a slot for every tile shown");
}

#[test]
fn a_view_needing_more_slots_grows_the_pool_by_renegotiation() {
    let mut s = Sim::new();
    let v = s.join("viewer", "r1", AV);
    s.run(Duration::from_secs(1));
    let others: Vec<usize> = (0..5).map(|i| s.join(&format!("p{i}"), "r1", AV)).collect();
    let id = |s: &Sim, i: usize| s.peers[i].participant.clone();
    let one = [(id(&s, others[0]), 180)];
    s.view_ids(v, &one);
    s.run(Duration::from_secs(4));
    let before = s.peers[v].slots.len();
    let all: Vec<_> = others.iter().map(|&o| (id(&s, o), 180)).collect();
    s.view_ids(v, &all);
    s.run(Duration::from_secs(6));
    assert_eq!(before, 1, "one slot for one tile");
    assert_eq!(s.peers[v].slots.len(), 5, "a slot per tile shown");
    for &o in &others {
        let got = s.got(v, o, Source::Camera);
        assert!(got.packets > 30, "{o}: {got:?}");
    }
    // A tile claiming the largest height there is changes nothing else.
    s.view_ids(v, &[(id(&s, others[0]), u32::MAX)]);
    s.run(Duration::from_secs(2));
    let before = s.got(v, others[0], Source::Camera).packets;
    s.run(Duration::from_secs(1));
    assert!(s.got(v, others[0], Source::Camera).packets > before + 30);
    let p = &s.peers[v];
    assert_eq!((p.section_disorder, p.unassigned), (0, 0));
    assert_eq!(s.misattributed(), vec![]);
}

#[test]
fn a_congested_subscriber_gets_lower_layers_then_loses_video_before_audio() {
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    s.run(Duration::from_secs(2));
    s.view(b, &[(a, 360)]);
    s.run(Duration::from_secs(6));
    let free = s.got(b, a, Source::Camera).by_layer;
    assert!(
        free[1] > 0,
        "unconstrained, the middle layer flows: {free:?}"
    );

    // 200 kbit/s: only the low layer (about 100 kbit/s) fits.
    s.peers[b].downlink = Some(200_000);
    s.run(Duration::from_secs(15));
    let before = s.got(b, a, Source::Camera).by_layer;
    s.run(Duration::from_secs(4));
    let after = s.got(b, a, Source::Camera).by_layer;
    assert!(
        after[0] > before[0] + 30,
        "low layer under congestion: {before:?} -> {after:?}"
    );
    assert!(
        after[1] - before[1] < 10,
        "middle layer stopped: {before:?} -> {after:?}"
    );

    // 60 kbit/s: video pauses, audio (about 30 kbit/s) keeps flowing.
    s.peers[b].downlink = Some(60_000);
    s.run(Duration::from_secs(15));
    let v0 = s.got(b, a, Source::Camera).packets;
    let m0 = s.got(b, a, Source::Microphone).packets;
    s.run(Duration::from_secs(4));
    assert!(
        s.got(b, a, Source::Camera).packets - v0 < 10,
        "video paused"
    );
    assert!(
        s.got(b, a, Source::Microphone).packets > m0 + 100,
        "audio kept"
    );

    // Capacity back: video returns.
    s.peers[b].downlink = None;
    s.run(Duration::from_secs(15));
    let v1 = s.got(b, a, Source::Camera).packets;
    s.run(Duration::from_secs(2));
    assert!(
        s.got(b, a, Source::Camera).packets > v1 + 30,
        "video recovered"
    );
}

#[test]
fn a_host_mute_stops_a_track_at_once_and_unmute_brings_it_back() {
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    s.run(Duration::from_secs(3));
    let room = RoomId::parse("r1").unwrap();
    let ada = ParticipantId::parse("u-ada").unwrap();
    s.command(Command::Grants(
        room.clone(),
        ada.clone(),
        GrantsUpdate {
            publish: vec![Source::Microphone],
            subscribe: true,
        },
    ))
    .unwrap();
    s.run(Duration::from_millis(100));
    let v0 = s.got(b, a, Source::Camera).packets;
    let m0 = s.got(b, a, Source::Microphone).packets;
    s.run(Duration::from_secs(2));
    assert_eq!(
        s.got(b, a, Source::Camera).packets,
        v0,
        "muted camera forwards nothing"
    );
    assert!(s.got(b, a, Source::Microphone).packets > m0 + 50);
    assert!(s.sfu.stats().dropped_blocked > 0);

    s.command(Command::Grants(
        room,
        ada,
        GrantsUpdate {
            publish: AV.to_vec(),
            subscribe: true,
        },
    ))
    .unwrap();
    s.run(Duration::from_secs(2));
    assert!(
        s.got(b, a, Source::Camera).packets > v0 + 30,
        "unmuted camera flows again"
    );
}

#[test]
fn a_removed_participant_is_cut_off_and_others_stop_receiving_them() {
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    let c = s.join("cy", "r1", AV);
    s.run(Duration::from_secs(3));
    s.command(Command::Remove(
        RoomId::parse("r1").unwrap(),
        ParticipantId::parse("u-bob").unwrap(),
    ))
    .unwrap();
    s.run(Duration::from_millis(200));
    let from_bob = s.got(c, b, Source::Camera).packets;
    let to_bob = s.got(b, a, Source::Camera).packets;
    s.run(Duration::from_secs(3));
    assert_eq!(s.got(c, b, Source::Camera).packets, from_bob);
    assert_eq!(s.got(b, a, Source::Camera).packets, to_bob);
    assert!(s.got(c, a, Source::Camera).packets > 0);
    // Cy was offered a renegotiation that drops Bob's tracks.
    assert!(
        s.peers[c]
            .remote
            .values()
            .all(|(p, _)| p.as_str() != "u-bob"),
        "{:?}",
        s.peers[c].remote
    );
    assert_eq!(s.sfu.stats().participants, 2);
    // Removing again, or someone unknown, is a clear "not found".
    assert!(
        s.command(Command::Remove(
            RoomId::parse("r1").unwrap(),
            ParticipantId::parse("u-bob").unwrap()
        ))
        .is_err()
    );
}

#[test]
fn a_participant_that_vanishes_gets_nothing_once_ice_is_down_and_is_removed_later() {
    let mut s = Sim::with_limits(media_node::sfu::Limits {
        reconnect_within: Duration::from_secs(30),
        ..Default::default()
    });
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    let c = s.join("cy", "r1", AV);
    s.run(Duration::from_secs(3));
    s.vanish(c);
    // Until ICE notices, media still goes out to Cy.
    s.run(Duration::from_millis(500));
    assert!(
        s.peers[c].sent_while_gone > 20,
        "{}",
        s.peers[c].sent_while_gone
    );
    // The node is ICE-lite: it notices when no connectivity check has come
    // for 15 s.
    s.run(Duration::from_secs(16));
    let to_cy = s.peers[c].sent_while_gone;
    let a_from_b = s.got(a, b, Source::Camera).packets;
    s.run(Duration::from_secs(3));
    // ICE is down: nothing but the odd connectivity check goes to Cy, and
    // the others carry on.
    assert!(
        s.peers[c].sent_while_gone - to_cy < 10,
        "{} datagrams to a vanished peer in 3 s",
        s.peers[c].sent_while_gone - to_cy
    );
    assert!(s.got(a, b, Source::Camera).packets > a_from_b + 50);
    assert_eq!(s.sfu.stats().participants, 3, "Cy may still come back");
    let down: Vec<(String, bool)> = s
        .sfu
        .stats()
        .clients
        .iter()
        .map(|c| (c.participant.clone(), c.ice_down))
        .collect();
    assert_eq!(
        down,
        vec![
            ("u-ada".into(), false),
            ("u-bob".into(), false),
            ("u-cy".into(), true)
        ],
        "/stats tells whose ICE is down"
    );
    s.run(Duration::from_secs(30));
    assert_eq!(
        s.sfu.stats().participants,
        2,
        "Cy did not reconnect in time"
    );
    assert!(
        s.peers[a]
            .remote
            .values()
            .all(|(p, _)| p.as_str() != "u-cy"),
        "Ada was offered a renegotiation without Cy's tracks"
    );
}

#[test]
fn the_loudest_participant_is_the_active_speaker() {
    let mut s = Sim::new();
    let _q = s.join("quiet", "r1", AV);
    let l = s.join("loud", "r1", AV);
    let o = s.join("other", "r1", AV);
    s.run(Duration::from_secs(4));
    assert_eq!(s.peers[o].speakers, vec![s.peers[l].participant.clone()]);
}

#[test]
fn random_bytes_and_forged_stun_change_nothing() {
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    s.run(Duration::from_secs(2));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 0..1000 {
        let len = (n % 300) + 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        // From strangers, and from the peers' own addresses.
        let from = if n % 2 == 0 {
            "10.9.9.9:1234".parse().unwrap()
        } else {
            s.peers[a].addr
        };
        s.inject(from, &bytes);
    }
    // A STUN binding request naming Ada's ufrag but without her password.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    s.inject("10.9.9.9:999".parse().unwrap(), &stun);
    let before = s.got(b, a, Source::Camera).packets;
    s.run(Duration::from_secs(2));
    assert!(
        s.got(b, a, Source::Camera).packets > before + 30,
        "service continues"
    );
    let stats = s.sfu.stats();
    assert!(stats.dropped_unrouted >= 500, "{stats:?}");
    assert_eq!(stats.participants, 2);
    assert_eq!(s.misdelivered, 0);
}

#[test]
fn bad_offers_and_grants_are_refused() {
    let mut s = Sim::new();
    let claims = Sim::claims("r1", "u-ada", AV);
    let e =
        media_node::sfu::client::accept(&s.endpoint, claims.clone(), &[], "v=0\r\nnonsense", s.now);
    assert!(matches!(
        e,
        Err(media_node::sfu::client::JoinError::MalformedSdp(_))
    ));
    let huge = "a".repeat(protocol::media::MAX_SDP_BYTES + 1);
    assert!(media_node::sfu::client::accept(&s.endpoint, claims, &[], &huge, s.now).is_err());
    // Publishing without the grant: the whole offer is refused.
    let no_publish = Sim::claims("r1", "u-eve", &[]);
    let refused = s.join_with("eve", no_publish, true, true);
    assert!(
        matches!(
            refused,
            Err(media_node::sfu::client::JoinError::Forbidden(_))
        ),
        "{:?}",
        refused.err()
    );
    // Watching without publishing is fine.
    let watcher = Sim::claims("r1", "u-wat", &[]);
    assert!(s.join_with("wat", watcher, false, false).is_ok());
    assert_eq!(s.sfu.stats().participants, 1);
}

#[test]
fn a_flood_of_offers_replaces_rather_than_piles_up_and_limits_hold() {
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    for _ in 0..50 {
        s.join("bob", "r1", AV);
    }
    // Each join of the same participant replaced the previous one.
    assert_eq!(s.sfu.stats().participants, 2);
    let b = s.peers.len() - 1;
    s.run(Duration::from_secs(3));
    assert!(
        s.got(b, a, Source::Camera).packets > 30,
        "the latest connection works"
    );
    assert!(s.got(a, b, Source::Camera).packets > 30);
}

#[test]
fn an_ice_restart_through_the_room_is_answered_and_media_continues() {
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    s.run(Duration::from_secs(3));
    s.ice_restart(b);
    let before = s.got(b, a, Source::Camera).packets;
    s.run(Duration::from_secs(3));
    assert!(
        s.got(b, a, Source::Camera).packets > before + 30,
        "media continues"
    );
    assert_eq!(s.sfu.stats().participants, 2);
    // A restart for someone not on the node is a clear "not found".
    let mut other = s.new_peer_rtc("127.0.0.1:45000".parse().unwrap());
    let (sdp, ..) = Sim::offer(&mut other, true, false);
    let offer = str0m::change::SdpOffer::from_sdp_string(&sdp).unwrap();
    assert!(
        s.command(Command::Restart(
            RoomId::parse("r1").unwrap(),
            ParticipantId::parse("u-nobody").unwrap(),
            Box::new(offer),
        ))
        .is_err()
    );
}

#[test]
fn a_storm_of_keyframe_requests_reaches_the_publisher_throttled() {
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    s.run(Duration::from_secs(3));
    let before = s.peers[a].keyframe_requests;
    // Bob asks for a keyframe of Ada's camera every 10 ms for 2 s.
    let mid = s.peers[b]
        .remote
        .iter()
        .find(|(_, (p, src))| p.as_str() == "u-ada" && *src == Source::Camera)
        .map(|(mid, _)| str0m::media::Mid::from(mid.as_str()))
        .unwrap();
    for _ in 0..200 {
        if let Some(rx) = s.peers[b].rtc.direct_api().stream_rx_by_mid(mid, None) {
            rx.request_keyframe(str0m::media::KeyframeRequestKind::Pli);
        }
        s.run(Duration::from_millis(10));
    }
    let asked = s.peers[a].keyframe_requests - before;
    // At most one per 500 ms per layer (the subscriber receives one layer),
    // however often subscribers ask.
    assert!(asked >= 1, "requests are forwarded");
    assert!(asked <= 6, "{asked} requests reached the publisher in 2 s");
}

#[test]
fn a_large_room_forwards_only_the_microphones_of_people_speaking() {
    let mut s = Sim::new();
    let peers = s.microphones("r1", 2, 8);
    s.run(Duration::from_secs(3));
    let listener = peers[9];
    let before: Vec<u64> = peers
        .iter()
        .map(|&p| s.got(listener, p, Source::Microphone).packets)
        .collect();
    s.run(Duration::from_secs(2));
    for (k, &p) in peers.iter().enumerate().take(9) {
        let gained = s.got(listener, p, Source::Microphone).packets - before[k];
        if k < 2 {
            assert!(gained > 80, "{} is heard: {gained}", s.peers[p].name);
        } else {
            assert_eq!(gained, 0, "{} is silent and not forwarded", s.peers[p].name);
        }
    }
    assert!(s.sfu.stats().dropped_inaudible > 0);
}

#[test]
fn each_codec_reaches_the_subscribers_that_accept_it() {
    use str0m::format::Codec::{Av1, H264, Vp8, Vp9};
    let mut s = Sim::new();
    let nine = s.join_codecs("nine", "r1", &[Vp9, Vp8]);
    let h = s.join_codecs("h", "r1", &[H264, Vp8, Vp9]);
    let av = s.join_codecs("av", "r1", &[Av1, Vp8, Vp9, H264]);
    let eight = s.join_codecs("eight", "r1", &[Vp8, Av1]);
    s.run(Duration::from_secs(4));

    // Every track arrives in its publisher's codec, keyframes recognised.
    for (to, of, codec) in [
        (h, nine, Vp9),
        (av, nine, Vp9),
        (av, h, H264),
        (nine, eight, Vp8),
        (eight, av, Av1),
    ] {
        let got = s.got(to, of, Source::Camera);
        assert!(got.packets > 50, "{to} from {of}: {got:?}");
        assert_eq!(got.codec, Some(codec), "{to} from {of}");
        assert!(got.keyframes >= 1, "{to} from {of}: {got:?}");
        assert_eq!(got.disorder, 0);
    }
    // No transcoding: a subscriber without the codec gets no video of it,
    // and still the audio.
    for (to, of) in [(eight, nine), (eight, h), (nine, h), (h, av)] {
        assert_eq!(s.got(to, of, Source::Camera).packets, 0, "{to} from {of}");
        assert!(s.got(to, of, Source::Microphone).packets > 100);
    }

    // Layer choice works on VP9's sizes (read from its scalability
    // structure) and H.264's keyframes: a 360-pixel tile gets the middle layer.
    s.view(av, &[(nine, 360), (h, 360)]);
    s.run(Duration::from_secs(5));
    let (v0, h0) = (
        s.got(av, nine, Source::Camera).by_layer,
        s.got(av, h, Source::Camera).by_layer,
    );
    s.run(Duration::from_secs(2));
    let (v1, h1) = (
        s.got(av, nine, Source::Camera).by_layer,
        s.got(av, h, Source::Camera).by_layer,
    );
    assert!(
        v1[1] > v0[1] + 30 && v1[2] == v0[2],
        "VP9: {v0:?} -> {v1:?}"
    );
    assert!(
        h1[1] > h0[1] + 30 || h1[0] > h0[0] + 30,
        "H.264: {h0:?} -> {h1:?}"
    );
    assert_eq!(
        h1[2], h0[2],
        "H.264 leaves the high layer: {h0:?} -> {h1:?}"
    );
}

#[test]
fn the_answer_asks_for_opus_dtx() {
    let mut s = Sim::new();
    s.join("ada", "r1", AV);
    let opus = s
        .last_answer
        .lines()
        .find(|l| l.starts_with("a=fmtp:111"))
        .unwrap_or_default()
        .to_owned();
    assert!(opus.contains("usedtx=1"), "{}", s.last_answer);
}

#[test]
fn a_room_of_64_publishers_negotiates_every_track_in_framed_offers() {
    let mut s = Sim::new();
    // Signaling only: the offers, not the media, are under test.
    s.media = false;
    let people: Vec<usize> = (0..64)
        .map(|i| s.join(&format!("p{i}"), "r1", AV))
        .collect();
    s.run(Duration::from_secs(2));
    for &p in &people {
        assert_eq!(
            s.peers[p].remote.len(),
            63,
            "peer {p} was offered every other microphone"
        );
        assert_eq!(
            s.peers[p].available.len(),
            63,
            "peer {p} was told of every other camera"
        );
        // No video flows here, so no tile needs a slot yet.
        assert!(s.peers[p].slots.is_empty());
    }
    // Far over one data-channel message (and over aiortc's 64 KiB limit):
    // it arrived in parts.
    let largest = s.peers.iter().map(|p| p.largest_offer).max().unwrap_or(0);
    assert!(
        largest > 4 * protocol::channel::CHUNK_BYTES,
        "largest offer {largest} bytes"
    );
}

/// Reports `busy` (and no queue reading) to the node every 250 ms of simulated time for `d`.
fn busy_for(s: &mut Sim, busy: f64, d: Duration) {
    let end = s.now + d;
    while s.now < end {
        let now = s.now;
        s.sfu.handle_pressure(
            now,
            media_node::sfu::overload::Pressure { busy, queue: None },
        );
        s.run(Duration::from_millis(250));
    }
}

#[test]
fn an_overloaded_node_drops_upper_layers_keeps_audio_and_restores_when_load_falls() {
    let mut s = Sim::new();
    let a = s.join("ada", "r1", AV);
    let b = s.join("bob", "r1", AV);
    let d = s.join("dan", "r1", AV);
    s.run(Duration::from_secs(2));
    s.view(d, &[(a, 720), (b, 180)]);
    busy_for(&mut s, 0.3, Duration::from_secs(20));
    let calm = s.got(d, a, Source::Camera).by_layer;
    busy_for(&mut s, 0.3, Duration::from_secs(3));
    let calm2 = s.got(d, a, Source::Camera).by_layer;
    assert_eq!(s.sfu.budget_percent(), 100);
    assert!(
        calm2[2] > calm[2] + 60,
        "with headroom the large tile gets the high layer: {calm:?} -> {calm2:?}"
    );

    // Overloaded: the budget share falls to its floor, the high layer stops,
    // audio goes on.
    busy_for(&mut s, 1.0, Duration::from_secs(8));
    assert_eq!(
        s.sfu.budget_percent(),
        media_node::sfu::overload::MIN_PERCENT
    );
    assert_eq!(
        s.sfu.stats().budget_percent,
        media_node::sfu::overload::MIN_PERCENT,
        "/stats tells the share"
    );
    let shed = s.got(d, a, Source::Camera).by_layer;
    let m0 = s.got(d, a, Source::Microphone).packets;
    busy_for(&mut s, 1.0, Duration::from_secs(3));
    let shed2 = s.got(d, a, Source::Camera).by_layer;
    assert!(
        shed2[2] - shed[2] < 10,
        "no high layer while overloaded: {shed:?} -> {shed2:?}"
    );
    assert!(
        s.got(d, a, Source::Microphone).packets > m0 + 100,
        "audio kept"
    );

    // Load falls: the share climbs back a step a second and the high layer
    // returns.
    busy_for(&mut s, 0.3, Duration::from_secs(15));
    assert_eq!(s.sfu.budget_percent(), 100);
    let back = s.got(d, a, Source::Camera).by_layer;
    busy_for(&mut s, 0.3, Duration::from_secs(3));
    let back2 = s.got(d, a, Source::Camera).by_layer;
    assert!(
        back2[2] > back[2] + 60,
        "the high layer is back: {back:?} -> {back2:?}"
    );
}

#[test]
fn clients_due_together_get_their_timeouts_one_call_each() {
    let mut s = Sim::new();
    let names = ["ada", "bob", "cy", "dee"];
    for name in names {
        s.join(name, "r1", AV);
    }
    // All four joined at this instant; str0m wants each of them now. One
    // call feeds one client, so the adapter can read its socket between
    // them (a room that joined together reports together).
    let now = s.now;
    let mut calls = 0;
    while s.sfu.poll_timeout().is_some_and(|t| t <= now) {
        s.sfu.handle_timeout(now);
        calls += 1;
        assert!(calls < 100, "handle_timeout must make progress");
    }
    assert!(
        calls >= names.len(),
        "{calls} calls for {} clients",
        names.len()
    );
    // And the room still works once time moves on.
    s.run(Duration::from_secs(3));
    for p in 0..names.len() {
        assert!(s.peers[p].connected, "{} connected", s.peers[p].name);
    }
}
