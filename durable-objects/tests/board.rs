//! The whiteboard state machine, driven directly: ordering and convergence
//! of replicas, undo and redo with several people, permissions, limits and
//! storage failures. No sockets, no clock.
#![allow(clippy::unwrap_used)] // a test harness: a failed unwrap is a failed test

mod memory;

use durable_objects::board::{Boards, Effect, Rights};
use memory::MemoryBoards;
use protocol::ParticipantId;
use protocol::board::{
    BoardChange, BoardId, BoardOp, Color, DrawPolicy, MAX_BOARDS, MAX_MESSAGE_POINTS,
    MAX_STROKE_POINTS, Point, Replica, Shape, StrokeId,
};
use protocol::room::ErrorCode;

const DRAWER: Rights = Rights {
    draw: true,
    manage: false,
};
const HOST: Rights = Rights {
    draw: true,
    manage: true,
};
const WATCHER: Rights = Rights {
    draw: false,
    manage: false,
};

fn pid(s: &str) -> ParticipantId {
    ParticipantId::parse(s).unwrap()
}

/// The boards, their store, and every change announced so far.
struct Room {
    boards: Boards,
    store: MemoryBoards,
    log: Vec<(u64, BoardChange)>,
}

impl Room {
    fn new() -> Self {
        let store = MemoryBoards::default();
        Room {
            boards: Boards::load(&store),
            store,
            log: vec![],
        }
    }

    fn op(&mut self, who: &str, rights: Rights, op: BoardOp) -> Result<Vec<Effect>, ErrorCode> {
        let effects = self
            .boards
            .apply(&pid(who), rights, op, &mut self.store)
            .map_err(|r| r.0)?;
        for e in &effects {
            if let Effect::Change { seq, change } = e {
                self.log.push((*seq, change.clone()));
            }
        }
        Ok(effects)
    }

    fn board(&mut self, name: &str) -> BoardId {
        let e = self
            .op("u-host", HOST, BoardOp::Create { name: name.into() })
            .unwrap();
        match &e[0] {
            Effect::Change {
                change: BoardChange::Created { info },
                ..
            } => info.id,
            other => panic!("{other:?}"),
        }
    }

    /// The board as the room answers `open` now.
    fn state(&mut self, board: BoardId) -> Replica {
        let e = self.op("u-host", HOST, BoardOp::Open { board }).unwrap();
        let seq = self.log.last().map_or(0, |(s, _)| *s);
        match e.into_iter().next() {
            Some(Effect::State { strokes, .. }) => Replica::new(seq, strokes),
            other => panic!("{other:?}"),
        }
    }

    /// A replica that saw every change from the start.
    fn replay(&self, board: BoardId) -> Replica {
        let mut r = Replica::default();
        for (seq, c) in &self.log {
            if c.board() == Some(board) {
                r.apply(*seq, c);
            } else {
                r.seq = *seq;
            }
        }
        r
    }
}

fn begin(board: BoardId, n: u32, color: u32, points: Vec<Point>) -> BoardOp {
    BoardOp::Begin {
        board,
        n,
        shape: Shape::Pen,
        color: Color(color),
        width: 4,
        points,
        text: None,
    }
}

fn extend(board: BoardId, n: u32, points: Vec<Point>) -> BoardOp {
    BoardOp::Extend { board, n, points }
}

fn id(by: &str, n: u32) -> StrokeId {
    StrokeId { by: pid(by), n }
}

fn ids(r: &Replica) -> Vec<(String, u32)> {
    r.strokes
        .iter()
        .map(|s| (s.id.by.to_string(), s.id.n))
        .collect()
}

#[test]
fn changes_are_numbered_without_gaps_and_replicas_converge() {
    let mut room = Room::new();
    let b = room.board("one");
    // Two people draw at once, their messages interleaved.
    room.op("u-a", DRAWER, begin(b, 1, 0xff0000, vec![Point(0, 0)]))
        .unwrap();
    room.op("u-b", DRAWER, begin(b, 1, 0x0000ff, vec![Point(5, 5)]))
        .unwrap();
    for i in 1..20 {
        room.op("u-a", DRAWER, extend(b, 1, vec![Point(i, i)]))
            .unwrap();
        room.op("u-b", DRAWER, extend(b, 1, vec![Point(5 + i, 5)]))
            .unwrap();
    }
    // A late joiner opens the board mid-stroke, then follows the stream.
    let mut late = room.state(b);
    let seen = room.log.len();
    room.op("u-a", DRAWER, BoardOp::End { board: b, n: 1 })
        .unwrap();
    room.op(
        "u-b",
        DRAWER,
        BoardOp::Move {
            board: b,
            strokes: vec![id("u-a", 1)],
            dx: 100,
            dy: 0,
        },
    )
    .unwrap();
    room.op(
        "u-a",
        DRAWER,
        BoardOp::Erase {
            board: b,
            strokes: vec![id("u-b", 1)],
        },
    )
    .unwrap();
    room.op("u-a", DRAWER, BoardOp::Undo { board: b }).unwrap();
    for (seq, c) in &room.log[seen..] {
        late.apply(*seq, c);
    }
    let seqs: Vec<u64> = room.log.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let now = room.state(b);
    assert_eq!(late, now, "the late joiner converged");
    assert_eq!(room.replay(b), now, "the early joiner converged");
    assert_eq!(now.strokes[0].points.len(), 20);
    assert_eq!(now.strokes[0].points[0], Point(100, 0), "moved");
    assert!(now.strokes[0].done);
    // Applying a change twice changes nothing.
    let (seq, c) = room.log.last().cloned().unwrap();
    assert!(!late.apply(seq, &c));
}

#[test]
fn undo_and_redo_touch_only_ones_own_actions() {
    let mut room = Room::new();
    let b = room.board("one");
    room.op("u-a", DRAWER, begin(b, 1, 1, vec![Point(0, 0)]))
        .unwrap();
    room.op("u-b", DRAWER, begin(b, 1, 2, vec![Point(1, 1)]))
        .unwrap();
    room.op("u-a", DRAWER, begin(b, 2, 3, vec![Point(2, 2)]))
        .unwrap();

    // A undoes twice: both of A's strokes go, B's stays.
    room.op("u-a", DRAWER, BoardOp::Undo { board: b }).unwrap();
    room.op("u-a", DRAWER, BoardOp::Undo { board: b }).unwrap();
    assert_eq!(ids(&room.state(b)), [("u-b".into(), 1)]);
    assert_eq!(
        room.op("u-a", DRAWER, BoardOp::Undo { board: b })
            .unwrap_err(),
        ErrorCode::NotFound,
        "nothing more of A's to undo"
    );
    // Redo brings A's first stroke back beneath B's (its old position).
    room.op("u-a", DRAWER, BoardOp::Redo { board: b }).unwrap();
    assert_eq!(ids(&room.state(b)), [("u-a".into(), 1), ("u-b".into(), 1)]);
    // B erases A's stroke; B's undo restores it, A's history is A's.
    room.op(
        "u-b",
        DRAWER,
        BoardOp::Erase {
            board: b,
            strokes: vec![id("u-a", 1)],
        },
    )
    .unwrap();
    assert_eq!(ids(&room.state(b)), [("u-b".into(), 1)]);
    room.op("u-b", DRAWER, BoardOp::Undo { board: b }).unwrap();
    assert_eq!(ids(&room.state(b)), [("u-a".into(), 1), ("u-b".into(), 1)]);
    // A new action clears A's redo list.
    room.op("u-a", DRAWER, begin(b, 3, 4, vec![Point(3, 3)]))
        .unwrap();
    assert_eq!(
        room.op("u-a", DRAWER, BoardOp::Redo { board: b })
            .unwrap_err(),
        ErrorCode::NotFound
    );
    // Undoing a move moves back.
    room.op(
        "u-a",
        DRAWER,
        BoardOp::Move {
            board: b,
            strokes: vec![id("u-b", 1)],
            dx: 10,
            dy: -10,
        },
    )
    .unwrap();
    room.op("u-a", DRAWER, BoardOp::Undo { board: b }).unwrap();
    let s = room.state(b);
    let bs = s.strokes.iter().find(|s| s.id == id("u-b", 1)).unwrap();
    assert_eq!(bs.points, [Point(1, 1)]);
    // A host's clear is undoable by that host.
    room.op("u-host", HOST, BoardOp::Clear { board: b })
        .unwrap();
    assert!(room.state(b).strokes.is_empty());
    room.op("u-host", HOST, BoardOp::Undo { board: b }).unwrap();
    assert_eq!(room.state(b).strokes.len(), 3);
    assert_eq!(room.replay(b), room.state(b));
}

#[test]
fn who_may_draw_and_manage() {
    let mut room = Room::new();
    let b = room.board("one");
    let forbidden = Err(ErrorCode::Forbidden);
    let draw = |n| begin(b, n, 0, vec![Point(0, 0)]);
    assert_eq!(room.op("u-w", WATCHER, draw(1)).map(|_| ()), forbidden);
    for op in [
        BoardOp::Clear { board: b },
        BoardOp::Delete { board: b },
        BoardOp::Present { board: Some(b) },
        BoardOp::Policy {
            policy: DrawPolicy::Hosts,
        },
    ] {
        assert_eq!(room.op("u-a", DRAWER, op).map(|_| ()), forbidden);
    }
    // Anyone may look.
    assert!(room.op("u-w", WATCHER, BoardOp::Open { board: b }).is_ok());

    room.op(
        "u-host",
        HOST,
        BoardOp::Policy {
            policy: DrawPolicy::Hosts,
        },
    )
    .unwrap();
    assert_eq!(room.op("u-a", DRAWER, draw(1)).map(|_| ()), forbidden);
    assert!(room.op("u-host", HOST, draw(1)).is_ok());

    room.op(
        "u-host",
        HOST,
        BoardOp::Policy {
            policy: DrawPolicy::Chosen {
                ids: vec![pid("u-b")],
            },
        },
    )
    .unwrap();
    assert_eq!(room.op("u-a", DRAWER, draw(1)).map(|_| ()), forbidden);
    assert!(room.op("u-b", DRAWER, draw(1)).is_ok());
    // Chosen still needs a role that may draw.
    assert_eq!(room.op("u-b", WATCHER, draw(2)).map(|_| ()), forbidden);
    // Nobody extends or ends someone else's stroke.
    assert_eq!(
        room.op("u-host", HOST, extend(b, 1, vec![Point(1, 1)]))
            .map(|_| ()),
        Ok(()),
        "the host's own stroke 1"
    );
    room.op(
        "u-host",
        HOST,
        BoardOp::Policy {
            policy: DrawPolicy::Everyone,
        },
    )
    .unwrap();
    let before = room.state(b);
    assert_eq!(
        room.op("u-a", DRAWER, extend(b, 1, vec![Point(9, 9)]))
            .unwrap_err(),
        ErrorCode::NotFound,
        "u-a has no stroke 1"
    );
    assert_eq!(room.state(b).strokes, before.strokes);
}

#[test]
fn limits_refuse_the_operation_and_nothing_else_changes() {
    let mut room = Room::new();
    let b = room.board("one");
    room.op("u-a", DRAWER, begin(b, 1, 0, vec![Point(0, 0)]))
        .unwrap();
    let before = room.state(b);
    let bad = [
        begin(b, 2, 0, vec![]),
        begin(b, 2, 0, vec![Point(0, 0); MAX_MESSAGE_POINTS + 1]),
        begin(b, 2, 0, vec![Point(2_000_000, 0)]),
        begin(b, 2, 0x1_000_000, vec![Point(0, 0)]),
        BoardOp::Begin {
            board: b,
            n: 2,
            shape: Shape::Pen,
            color: Color(0),
            width: 0,
            points: vec![Point(0, 0)],
            text: None,
        },
        BoardOp::Begin {
            board: b,
            n: 2,
            shape: Shape::Text,
            color: Color(0),
            width: 20,
            points: vec![Point(0, 0)],
            text: None,
        },
        BoardOp::Begin {
            board: b,
            n: 2,
            shape: Shape::Pen,
            color: Color(0),
            width: 4,
            points: vec![Point(0, 0)],
            text: Some("<b>hi</b>".into()),
        },
        // Stroke numbers never go back.
        begin(b, 1, 0, vec![Point(0, 0)]),
        begin(BoardId(99), 2, 0, vec![Point(0, 0)]),
        BoardOp::Move {
            board: b,
            strokes: vec![id("u-a", 1)],
            dx: 1_000_001,
            dy: 0,
        },
        BoardOp::Erase {
            board: b,
            strokes: vec![],
        },
        BoardOp::Rename {
            board: b,
            name: " ".into(),
        },
        BoardOp::Rename {
            board: b,
            name: "x".repeat(61),
        },
    ];
    for op in bad {
        let shown = format!("{op:?}");
        assert!(room.op("u-a", DRAWER, op).is_err(), "{shown:.120}");
    }
    // A stroke stops at its point limit.
    let mut sent = 1;
    let refused = loop {
        match room.op(
            "u-a",
            DRAWER,
            extend(b, 1, vec![Point(1, 1); MAX_MESSAGE_POINTS]),
        ) {
            Ok(_) => sent += MAX_MESSAGE_POINTS,
            Err(code) => break code,
        }
    };
    assert_eq!(refused, ErrorCode::Conflict);
    assert!(sent <= MAX_STROKE_POINTS);
    assert_eq!(room.state(b).strokes.len(), before.strokes.len());
    // Boards per room.
    for i in 1..MAX_BOARDS {
        room.board(&format!("b{i}"));
    }
    assert_eq!(
        room.op(
            "u-host",
            HOST,
            BoardOp::Create {
                name: "one too many".into()
            }
        )
        .unwrap_err(),
        ErrorCode::Conflict
    );
}

#[test]
fn a_storage_failure_refuses_and_changes_nothing() {
    let mut room = Room::new();
    let b = room.board("one");
    room.op("u-a", DRAWER, begin(b, 1, 0, vec![Point(0, 0)]))
        .unwrap();
    let before = room.state(b);
    let log = room.log.len();
    room.store.broken = true;
    for op in [
        begin(b, 2, 0, vec![Point(0, 0)]),
        extend(b, 1, vec![Point(1, 1)]),
        BoardOp::Erase {
            board: b,
            strokes: vec![id("u-a", 1)],
        },
        BoardOp::Undo { board: b },
    ] {
        assert_eq!(room.op("u-a", DRAWER, op).unwrap_err(), ErrorCode::Conflict);
    }
    room.store.broken = false;
    assert_eq!(room.state(b).strokes, before.strokes);
    assert_eq!(room.log.len(), log, "nothing was announced");
    // The undo history survived the failed undo.
    room.op("u-a", DRAWER, BoardOp::Undo { board: b }).unwrap();
    assert!(room.state(b).strokes.is_empty());
}

#[test]
fn boards_come_back_from_storage() {
    let mut room = Room::new();
    let one = room.board("one");
    let two = room.board("two");
    room.op("u-a", DRAWER, begin(two, 1, 0xff0000, vec![Point(3, 4)]))
        .unwrap();
    room.op("u-a", DRAWER, extend(two, 1, vec![Point(5, 6)]))
        .unwrap();
    room.op(
        "u-host",
        HOST,
        BoardOp::Rename {
            board: one,
            name: "first".into(),
        },
    )
    .unwrap();
    room.op("u-host", HOST, BoardOp::Present { board: Some(two) })
        .unwrap();
    let state = room.boards.state();
    let strokes = room.state(two);

    // The room is evicted: everything is read back from storage.
    let mut again = Room {
        boards: Boards::load(&room.store),
        store: room.store.clone(),
        log: vec![],
    };
    assert_eq!(again.boards.state(), state);
    assert_eq!(again.state(two).strokes, strokes.strokes);
    assert!(again.state(one).strokes.is_empty());
    // Numbering continues; a new board gets a new id.
    let three = again.board("three");
    assert!(three.0 > two.0);
    assert!(again.log[0].0 > state.seq);
    // And the author's stroke numbers still only go up.
    assert_eq!(
        again
            .op("u-a", DRAWER, begin(two, 1, 0, vec![Point(0, 0)]))
            .unwrap_err(),
        ErrorCode::Conflict
    );
}
