//! The whiteboards as this client knows them: the room's boards, the one on
//! screen and its strokes (a [`Replica`] fed by the room's ordered
//! changes). Pure: the UI feeds it messages, sends the [`BoardOp`]s it asks
//! for, and draws [`Whiteboards::strokes`].

use protocol::board::{BoardChange, BoardId, BoardOp, BoardsState, Replica, Stroke};
use protocol::room::ServerMessage;

/// The client's model of the room's boards.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Whiteboards {
    /// Names, the presented board, who may draw, the last change seen.
    pub state: BoardsState,
    /// The board on screen.
    pub viewing: Option<BoardId>,
    /// The strokes of the board on screen, once the room sent them.
    pub replica: Option<Replica>,
    /// Changes to the board on screen that came before its strokes did.
    pending: Vec<(u64, BoardChange)>,
    /// Its strokes were asked for and not received yet.
    requested: bool,
    /// Counts changes to what is on screen, so the canvas knows to redraw.
    pub revision: u64,
}

impl Whiteboards {
    /// Takes what concerns the boards from a room message; returns whether
    /// the message was only about boards (a welcome also concerns the rest
    /// of the room).
    pub fn handle(&mut self, msg: &ServerMessage) -> bool {
        match msg {
            ServerMessage::Welcome { boards, .. } => {
                self.welcome(boards.clone());
                false
            }
            ServerMessage::Board { seq, change, .. } => {
                self.handle_change(*seq, change.clone());
                true
            }
            ServerMessage::BoardState {
                board,
                seq,
                strokes,
            } => {
                self.handle_state(*board, *seq, strokes.clone());
                true
            }
            _ => false,
        }
    }

    /// The room's boards on (re)joining: everything on screen is reloaded.
    pub fn welcome(&mut self, state: BoardsState) {
        let keep = self
            .viewing
            .filter(|v| state.boards.iter().any(|b| b.id == *v));
        self.viewing = state
            .presented
            .or(keep)
            .or(state.boards.first().map(|b| b.id));
        self.state = state;
        self.reset();
    }

    fn reset(&mut self) {
        self.replica = None;
        self.pending.clear();
        self.requested = false;
        self.revision += 1;
    }

    /// Puts `board` on screen.
    pub fn view(&mut self, board: BoardId) {
        if self.viewing != Some(board) {
            self.viewing = Some(board);
            self.reset();
        }
    }

    /// The request to send for the strokes of the board on screen, once.
    pub fn wanted(&mut self) -> Option<BoardOp> {
        let board = self.viewing?;
        if self.replica.is_some() || self.requested {
            return None;
        }
        self.requested = true;
        Some(BoardOp::Open { board })
    }

    /// A board's strokes as of change `seq`.
    pub fn handle_state(&mut self, board: BoardId, seq: u64, strokes: Vec<Stroke>) {
        if self.viewing != Some(board) {
            return;
        }
        let mut replica = Replica::new(seq, strokes);
        for (s, c) in self.pending.drain(..) {
            replica.apply(s, &c);
        }
        self.replica = Some(replica);
        self.requested = false;
        self.revision += 1;
    }

    /// One change, in the room's order.
    pub fn handle_change(&mut self, seq: u64, change: BoardChange) {
        if seq <= self.state.seq {
            return;
        }
        self.state.seq = seq;
        match &change {
            BoardChange::Created { info } => {
                self.state.boards.push(info.clone());
                if self.viewing.is_none() {
                    self.view(info.id);
                }
            }
            BoardChange::Renamed { info } => {
                if let Some(b) = self.state.boards.iter_mut().find(|b| b.id == info.id) {
                    b.name = info.name.clone();
                }
            }
            BoardChange::Deleted { board } => {
                self.state.boards.retain(|b| b.id != *board);
                if self.viewing == Some(*board) {
                    self.viewing = None;
                    if let Some(first) = self.state.boards.first().map(|b| b.id) {
                        self.view(first);
                    } else {
                        self.reset();
                    }
                }
            }
            BoardChange::Presented { board } => {
                self.state.presented = *board;
                // A host brings everyone to the board.
                if let Some(b) = board {
                    self.view(*b);
                }
            }
            BoardChange::Policy { policy } => self.state.policy = policy.clone(),
            _ => {
                if change.board() != self.viewing {
                    return;
                }
                match &mut self.replica {
                    Some(r) => {
                        r.apply(seq, &change);
                        self.revision += 1;
                    }
                    None => self.pending.push((seq, change)),
                }
            }
        }
    }

    /// The strokes on screen, bottom first.
    pub fn strokes(&self) -> &[Stroke] {
        self.replica.as_ref().map_or(&[], |r| &r.strokes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ParticipantId;
    use protocol::board::{BoardInfo, Color, Point, Shape, StrokeId};

    fn info(id: u32) -> BoardInfo {
        BoardInfo {
            id: BoardId(id),
            name: format!("b{id}"),
        }
    }

    fn stroke(n: u32, z: u64) -> Stroke {
        Stroke {
            id: StrokeId {
                by: ParticipantId::parse("u-a").unwrap(),
                n,
            },
            shape: Shape::Pen,
            color: Color(0xff0000),
            width: 3,
            points: vec![Point(0, 0)],
            text: None,
            done: false,
            z,
        }
    }

    #[test]
    fn strokes_are_requested_once_and_early_changes_wait_for_them() {
        let mut w = Whiteboards::default();
        w.welcome(BoardsState {
            boards: vec![info(0), info(1)],
            seq: 10,
            ..Default::default()
        });
        assert_eq!(w.viewing, Some(BoardId(0)));
        assert_eq!(w.wanted(), Some(BoardOp::Open { board: BoardId(0) }));
        assert_eq!(w.wanted(), None);
        // A change arrives before the strokes, and one the state already has.
        w.handle_change(
            11,
            BoardChange::Added {
                board: BoardId(0),
                strokes: vec![stroke(2, 5)],
            },
        );
        w.handle_state(BoardId(0), 10, vec![stroke(1, 1)]);
        assert_eq!(w.strokes().len(), 2);
        w.handle_change(
            12,
            BoardChange::Extended {
                board: BoardId(0),
                id: stroke(1, 1).id,
                points: vec![Point(9, 9)],
            },
        );
        assert_eq!(w.strokes()[0].points.len(), 2);
        // Another board's changes do not touch this one.
        w.handle_change(
            13,
            BoardChange::Removed {
                board: BoardId(1),
                ids: vec![stroke(1, 1).id],
            },
        );
        assert_eq!(w.strokes().len(), 2);
    }

    #[test]
    fn switching_presenting_and_deleting_boards() {
        let mut w = Whiteboards::default();
        w.welcome(BoardsState::default());
        assert_eq!(w.viewing, None);
        w.handle_change(1, BoardChange::Created { info: info(0) });
        assert_eq!(w.viewing, Some(BoardId(0)), "the first board shows");
        w.handle_change(2, BoardChange::Created { info: info(1) });
        w.handle_state(BoardId(0), 2, vec![stroke(1, 1)]);
        w.view(BoardId(1));
        assert!(
            w.strokes().is_empty(),
            "another board's strokes are asked for"
        );
        assert_eq!(w.wanted(), Some(BoardOp::Open { board: BoardId(1) }));
        w.handle_change(
            3,
            BoardChange::Presented {
                board: Some(BoardId(0)),
            },
        );
        assert_eq!(w.viewing, Some(BoardId(0)), "a host brings everyone");
        w.handle_change(4, BoardChange::Deleted { board: BoardId(0) });
        assert_eq!(w.viewing, Some(BoardId(1)));
        assert_eq!(w.state.boards, vec![info(1)]);
    }
}
