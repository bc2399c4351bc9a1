//! The room's whiteboards: a pure state machine the room feeds with
//! [`BoardOp`]s in arrival order. Every accepted operation is written to
//! the [`BoardStore`] first, then applied in memory, then announced as a
//! [`BoardChange`] with the next sequence number, so all browsers apply the
//! same changes in the same order and converge. A refused operation changes
//! nothing.
//!
//! Undo and redo are per participant and per board, of one's own actions
//! (drawing, erasing, moving, clearing); they apply to the board as it is
//! now, so undoing a stroke someone else already erased does nothing.
//! Histories live in memory only: after the room is evicted the drawing is
//! intact but older actions can no longer be undone.

use std::collections::{BTreeMap, HashMap};

use protocol::ParticipantId;
use protocol::board::{
    BoardChange, BoardId, BoardInfo, BoardOp, BoardsState, Color, DrawPolicy, MAX_BOARD_POINTS,
    MAX_BOARD_STROKES, MAX_BOARDS, MAX_COORD, MAX_MESSAGE_POINTS, MAX_NAME_CHARS,
    MAX_STROKE_POINTS, MAX_TEXT_CHARS, MAX_WIDTH, Point, Shape, Stroke, StrokeId,
};
use protocol::room::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::room::StoreError;

/// Strokes one erase or move may name.
const MAX_IDS: usize = 1_000;
/// Actions one participant can undo on one board.
const MAX_HISTORY: usize = 200;

/// Where boards are kept: the Durable Object's SQLite, a map in tests.
pub trait BoardStore {
    /// Adds or renames a board.
    fn board_put(&mut self, info: &BoardInfo) -> Result<(), StoreError>;
    /// Deletes a board and its strokes.
    fn board_delete(&mut self, board: BoardId) -> Result<(), StoreError>;
    /// Writes a whole stroke (its drawing position is `stroke.z`).
    fn stroke_put(&mut self, board: BoardId, stroke: &Stroke) -> Result<(), StoreError>;
    /// Appends points to a stored stroke (and marks it done, if so).
    fn stroke_extend(
        &mut self,
        board: BoardId,
        id: &StrokeId,
        points: &[Point],
        done: bool,
    ) -> Result<(), StoreError>;
    /// Deletes strokes.
    fn strokes_delete(&mut self, board: BoardId, ids: &[StrokeId]) -> Result<(), StoreError>;
    /// Saves the counters, the presented board and the policy.
    fn boards_meta_put(&mut self, meta: &BoardsMeta) -> Result<(), StoreError>;
    /// The saved counters, and every board with its strokes.
    fn boards_load(&self) -> (BoardsMeta, StoredBoards);
}

/// Boards as stored: each with its strokes, in any order.
pub type StoredBoards = Vec<(BoardInfo, Vec<Stroke>)>;

/// Who is asking, as far as boards care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    /// Their role lets them draw.
    pub draw: bool,
    /// Their role lets them manage boards (a host).
    pub manage: bool,
}

/// What an accepted operation produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Announce to everyone.
    Change {
        /// Its position in the room's order of changes.
        seq: u64,
        /// What changed.
        change: BoardChange,
    },
    /// Answer the asker with a board's strokes as of now.
    State {
        /// Which board.
        board: BoardId,
        /// Its strokes in drawing order.
        strokes: Vec<Stroke>,
    },
}

/// A refused operation: what the asker is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub ErrorCode, pub String);

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refused {
    Refused(code, message.into())
}

fn stored(e: StoreError) -> Refused {
    refuse(ErrorCode::Conflict, format!("not stored: {}", e.0))
}

/// The boards' own counters and settings, stored beside the strokes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BoardsMeta {
    /// The id the next board gets.
    pub next_board: u32,
    /// The board presented by a host.
    pub presented: Option<BoardId>,
    /// Who may draw.
    pub policy: DrawPolicy,
    /// The last change's sequence number.
    pub seq: u64,
}

/// Something one did, as undo and redo see it.
#[derive(Debug, Clone)]
enum Action {
    /// These strokes appeared (with their drawing positions).
    Added(Vec<(u64, Stroke)>),
    /// These strokes went away.
    Removed(Vec<(u64, Stroke)>),
    /// These strokes moved.
    Moved(Vec<StrokeId>, i32, i32),
}

#[derive(Debug, Default)]
struct History {
    undo: Vec<Action>,
    redo: Vec<Action>,
}

#[derive(Debug)]
struct Board {
    info: BoardInfo,
    /// Strokes by drawing position (later ones are drawn on top).
    strokes: BTreeMap<u64, Stroke>,
    /// Each stroke's drawing position.
    order: HashMap<StrokeId, u64>,
    /// Points on the board.
    points: usize,
    /// The highest counter each author used, so ids are never reused.
    last_n: HashMap<ParticipantId, u32>,
    history: HashMap<ParticipantId, History>,
}

impl Board {
    fn new(info: BoardInfo) -> Self {
        Board {
            info,
            strokes: BTreeMap::new(),
            order: HashMap::new(),
            points: 0,
            last_n: HashMap::new(),
            history: HashMap::new(),
        }
    }

    fn insert(&mut self, order: u64, stroke: Stroke) {
        self.points += stroke.points.len();
        let n = self.last_n.entry(stroke.id.by.clone()).or_default();
        *n = (*n).max(stroke.id.n);
        self.order.insert(stroke.id.clone(), order);
        self.strokes.insert(order, stroke);
    }

    fn remove(&mut self, id: &StrokeId) -> Option<(u64, Stroke)> {
        let order = self.order.remove(id)?;
        let stroke = self.strokes.remove(&order)?;
        self.points -= stroke.points.len();
        Some((order, stroke))
    }

    fn get_mut(&mut self, id: &StrokeId) -> Option<&mut Stroke> {
        let order = self.order.get(id)?;
        self.strokes.get_mut(order)
    }

    /// The named strokes that are on the board; refuses a list that is
    /// empty, too long, or names none of them.
    fn existing(&self, ids: Vec<StrokeId>) -> Result<Vec<StrokeId>, Refused> {
        check_ids(&ids)?;
        let ids: Vec<StrokeId> = ids
            .into_iter()
            .filter(|id| self.order.contains_key(id))
            .collect();
        if ids.is_empty() {
            return Err(refuse(ErrorCode::NotFound, "no such strokes"));
        }
        Ok(ids)
    }

    fn record(&mut self, who: &ParticipantId, action: Action) {
        let h = self.history.entry(who.clone()).or_default();
        h.redo.clear();
        h.undo.push(action);
        if h.undo.len() > MAX_HISTORY {
            h.undo.remove(0);
        }
    }
}

/// Every board of a room.
#[derive(Debug, Default)]
pub struct Boards {
    boards: BTreeMap<BoardId, Board>,
    meta: BoardsMeta,
    /// The drawing position the next stroke gets.
    next_order: u64,
}

fn check_name(name: &str) -> Result<String, Refused> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(refuse(
            ErrorCode::Malformed,
            format!("a board name has 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn check_points(points: &[Point]) -> Result<(), Refused> {
    if points.is_empty() || points.len() > MAX_MESSAGE_POINTS {
        return Err(refuse(
            ErrorCode::Malformed,
            format!("1 to {MAX_MESSAGE_POINTS} points per message"),
        ));
    }
    if points
        .iter()
        .any(|p| p.0.abs() > MAX_COORD || p.1.abs() > MAX_COORD)
    {
        return Err(refuse(
            ErrorCode::Malformed,
            format!("coordinates lie within ±{MAX_COORD}"),
        ));
    }
    Ok(())
}

fn check_ids(ids: &[StrokeId]) -> Result<(), Refused> {
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(refuse(
            ErrorCode::Malformed,
            format!("1 to {MAX_IDS} strokes at once"),
        ));
    }
    Ok(())
}

impl Boards {
    /// The boards as stored.
    pub fn load(store: &impl BoardStore) -> Self {
        let (meta, stored) = store.boards_load();
        let mut boards = Boards {
            meta,
            ..Boards::default()
        };
        for (info, strokes) in stored {
            let mut board = Board::new(info.clone());
            for stroke in strokes {
                boards.next_order = boards.next_order.max(stroke.z + 1);
                board.insert(stroke.z, stroke);
            }
            boards.meta.next_board = boards.meta.next_board.max(info.id.0 + 1);
            boards.boards.insert(info.id, board);
        }
        boards
    }

    /// What a newcomer is told.
    pub fn state(&self) -> BoardsState {
        BoardsState {
            boards: self.boards.values().map(|b| b.info.clone()).collect(),
            presented: self.meta.presented,
            policy: self.meta.policy.clone(),
            seq: self.meta.seq,
        }
    }

    /// Whether `who` may draw now.
    pub fn may_draw(&self, who: &ParticipantId, rights: Rights) -> bool {
        self.meta.policy.allows(who, rights.draw, rights.manage)
    }

    /// The last change's sequence number.
    pub fn seq(&self) -> u64 {
        self.meta.seq
    }

    fn board(&mut self, id: BoardId) -> Result<&mut Board, Refused> {
        self.boards
            .get_mut(&id)
            .ok_or_else(|| refuse(ErrorCode::NotFound, "no such board"))
    }

    /// Applies `op` from `who`, storing it first; numbers the changes.
    pub fn apply(
        &mut self,
        who: &ParticipantId,
        rights: Rights,
        op: BoardOp,
        store: &mut impl BoardStore,
    ) -> Result<Vec<Effect>, Refused> {
        let changes = self.change(who, rights, op, store)?;
        let mut effects = Vec::with_capacity(changes.len());
        for c in changes {
            match c {
                Ok(change) => {
                    self.meta.seq += 1;
                    effects.push(Effect::Change {
                        seq: self.meta.seq,
                        change,
                    });
                }
                Err(state) => effects.push(state),
            }
        }
        if effects.iter().any(|e| matches!(e, Effect::Change { .. })) {
            // The strokes are stored already; a failure here costs only the
            // counters' continuity after a restart.
            let _ = store.boards_meta_put(&self.meta);
        }
        Ok(effects)
    }

    /// The changes `op` makes (`Err` carries a reply that is not a change).
    fn change(
        &mut self,
        who: &ParticipantId,
        rights: Rights,
        op: BoardOp,
        store: &mut impl BoardStore,
    ) -> Result<Vec<Result<BoardChange, Effect>>, Refused> {
        let drawing = matches!(
            op,
            BoardOp::Create { .. }
                | BoardOp::Rename { .. }
                | BoardOp::Begin { .. }
                | BoardOp::Extend { .. }
                | BoardOp::End { .. }
                | BoardOp::Erase { .. }
                | BoardOp::Move { .. }
                | BoardOp::Undo { .. }
                | BoardOp::Redo { .. }
        );
        let managing = matches!(
            op,
            BoardOp::Delete { .. }
                | BoardOp::Clear { .. }
                | BoardOp::Present { .. }
                | BoardOp::Policy { .. }
        );
        if drawing && !self.may_draw(who, rights) {
            return Err(refuse(ErrorCode::Forbidden, "you may not draw here"));
        }
        if managing && !rights.manage {
            return Err(refuse(ErrorCode::Forbidden, "only hosts may do that"));
        }
        let change = match op {
            BoardOp::Open { board } => {
                let b = self.board(board)?;
                return Ok(vec![Err(Effect::State {
                    board,
                    strokes: b.strokes.values().cloned().collect(),
                })]);
            }
            BoardOp::Create { name } => {
                if self.boards.len() >= MAX_BOARDS {
                    return Err(refuse(
                        ErrorCode::Conflict,
                        format!("a room has at most {MAX_BOARDS} boards"),
                    ));
                }
                let info = BoardInfo {
                    id: BoardId(self.meta.next_board),
                    name: check_name(&name)?,
                };
                store.board_put(&info).map_err(stored)?;
                self.meta.next_board += 1;
                self.boards.insert(info.id, Board::new(info.clone()));
                BoardChange::Created { info }
            }
            BoardOp::Rename { board, name } => {
                let name = check_name(&name)?;
                let b = self.board(board)?;
                let info = BoardInfo { id: board, name };
                store.board_put(&info).map_err(stored)?;
                b.info = info.clone();
                BoardChange::Renamed { info }
            }
            BoardOp::Delete { board } => {
                self.board(board)?;
                store.board_delete(board).map_err(stored)?;
                self.boards.remove(&board);
                let mut changes = vec![Ok(BoardChange::Deleted { board })];
                if self.meta.presented == Some(board) {
                    self.meta.presented = None;
                    changes.push(Ok(BoardChange::Presented { board: None }));
                }
                return Ok(changes);
            }
            BoardOp::Begin {
                board,
                n,
                shape,
                color,
                width,
                points,
                text,
            } => {
                check_points(&points)?;
                if color.0 > 0xff_ffff || width == 0 || width > MAX_WIDTH {
                    return Err(refuse(
                        ErrorCode::Malformed,
                        format!("a colour is 0xRRGGBB and a width 1 to {MAX_WIDTH}"),
                    ));
                }
                let text = match (shape, text) {
                    (Shape::Text, Some(t)) => {
                        let chars = t.chars().count();
                        if chars == 0 || chars > MAX_TEXT_CHARS {
                            return Err(refuse(
                                ErrorCode::Malformed,
                                format!("text has 1 to {MAX_TEXT_CHARS} characters"),
                            ));
                        }
                        Some(t)
                    }
                    (Shape::Text, None) => {
                        return Err(refuse(ErrorCode::Malformed, "a text stroke needs text"));
                    }
                    (_, Some(_)) => {
                        return Err(refuse(ErrorCode::Malformed, "only text strokes have text"));
                    }
                    (_, None) => None,
                };
                let order = self.next_order;
                let b = self.board(board)?;
                if b.last_n.get(who).is_some_and(|&last| n <= last) {
                    return Err(refuse(ErrorCode::Conflict, "stroke numbers only go up"));
                }
                if b.strokes.len() >= MAX_BOARD_STROKES
                    || b.points + points.len() > MAX_BOARD_POINTS
                {
                    return Err(refuse(ErrorCode::Conflict, "the board is full"));
                }
                let stroke = Stroke {
                    id: StrokeId { by: who.clone(), n },
                    shape,
                    color: Color(color.0),
                    width,
                    points,
                    text,
                    done: false,
                    z: order,
                };
                store.stroke_put(board, &stroke).map_err(stored)?;
                b.insert(order, stroke.clone());
                b.record(who, Action::Added(vec![(order, stroke.clone())]));
                self.next_order += 1;
                BoardChange::Added {
                    board,
                    strokes: vec![stroke],
                }
            }
            BoardOp::Extend { board, n, points } => {
                check_points(&points)?;
                let b = self.board(board)?;
                let id = StrokeId { by: who.clone(), n };
                let room_left = MAX_BOARD_POINTS.saturating_sub(b.points);
                let s = b
                    .get_mut(&id)
                    .ok_or_else(|| refuse(ErrorCode::NotFound, "no such stroke of yours"))?;
                if s.done {
                    return Err(refuse(ErrorCode::Conflict, "the stroke is finished"));
                }
                if s.points.len() + points.len() > MAX_STROKE_POINTS || points.len() > room_left {
                    return Err(refuse(
                        ErrorCode::Conflict,
                        format!("a stroke has at most {MAX_STROKE_POINTS} points"),
                    ));
                }
                store
                    .stroke_extend(board, &id, &points, false)
                    .map_err(stored)?;
                s.points.extend_from_slice(&points);
                b.points += points.len();
                BoardChange::Extended { board, id, points }
            }
            BoardOp::End { board, n } => {
                let b = self.board(board)?;
                let id = StrokeId { by: who.clone(), n };
                let s = b
                    .get_mut(&id)
                    .ok_or_else(|| refuse(ErrorCode::NotFound, "no such stroke of yours"))?;
                if s.done {
                    return Err(refuse(ErrorCode::Conflict, "the stroke is finished"));
                }
                store.stroke_extend(board, &id, &[], true).map_err(stored)?;
                s.done = true;
                BoardChange::Ended { board, id }
            }
            BoardOp::Erase { board, strokes } => {
                let b = self.board(board)?;
                let ids = b.existing(strokes)?;
                erase(b, board, who, ids, store)?
            }
            BoardOp::Clear { board } => {
                let b = self.board(board)?;
                let ids: Vec<StrokeId> = b.strokes.values().map(|s| s.id.clone()).collect();
                if ids.is_empty() {
                    return Ok(vec![]);
                }
                erase(b, board, who, ids, store)?
            }
            BoardOp::Move {
                board,
                strokes,
                dx,
                dy,
            } => {
                let b = self.board(board)?;
                let ids = b.existing(strokes)?;
                move_strokes(b, board, &ids, dx, dy, store)?;
                b.record(who, Action::Moved(ids.clone(), dx, dy));
                BoardChange::Moved { board, ids, dx, dy }
            }
            BoardOp::Undo { board } => return self.undo_redo(who, board, true, store),
            BoardOp::Redo { board } => return self.undo_redo(who, board, false, store),
            BoardOp::Present { board } => {
                if let Some(id) = board {
                    self.board(id)?;
                }
                self.meta.presented = board;
                BoardChange::Presented { board }
            }
            BoardOp::Policy { policy } => {
                if let DrawPolicy::Chosen { ids } = &policy
                    && ids.len() > MAX_IDS
                {
                    return Err(refuse(ErrorCode::Malformed, "too many participants"));
                }
                self.meta.policy = policy.clone();
                BoardChange::Policy { policy }
            }
        };
        Ok(vec![Ok(change)])
    }

    /// Undoes (or redoes) `who`'s last action on `board`.
    fn undo_redo(
        &mut self,
        who: &ParticipantId,
        board: BoardId,
        undo: bool,
        store: &mut impl BoardStore,
    ) -> Result<Vec<Result<BoardChange, Effect>>, Refused> {
        let b = self.board(board)?;
        let h = b.history.entry(who.clone()).or_default();
        let Some(action) = (if undo { h.undo.pop() } else { h.redo.pop() }) else {
            return Err(refuse(
                ErrorCode::NotFound,
                if undo {
                    "nothing to undo"
                } else {
                    "nothing to redo"
                },
            ));
        };
        // Undo applies the inverse; redo the action itself.
        let apply = match (&action, undo) {
            (Action::Added(s), true) | (Action::Removed(s), false) => Action::Removed(s.clone()),
            (Action::Removed(s), true) | (Action::Added(s), false) => Action::Added(s.clone()),
            (Action::Moved(ids, dx, dy), true) => Action::Moved(ids.clone(), -dx, -dy),
            (Action::Moved(ids, dx, dy), false) => Action::Moved(ids.clone(), *dx, *dy),
        };
        let (done, change) = match perform(b, board, apply, store) {
            Ok(x) => x,
            Err(e) => {
                // Nothing happened: the action stays where it was.
                let h = b.history.entry(who.clone()).or_default();
                if undo {
                    h.undo.push(action);
                } else {
                    h.redo.push(action);
                }
                return Err(e);
            }
        };
        // File what was done so the opposite step can reverse it.
        let h = b.history.entry(who.clone()).or_default();
        let filed = match (done, undo) {
            (Action::Removed(s), true) => Action::Added(s),
            (Action::Added(s), true) => Action::Removed(s),
            (Action::Moved(ids, dx, dy), true) => Action::Moved(ids, -dx, -dy),
            (a, false) => a,
        };
        if undo {
            h.redo.push(filed);
        } else {
            h.undo.push(filed);
        }
        let empty = match &change {
            BoardChange::Removed { ids, .. } | BoardChange::Moved { ids, .. } => ids.is_empty(),
            BoardChange::Added { strokes, .. } => strokes.is_empty(),
            _ => false,
        };
        Ok(if empty { vec![] } else { vec![Ok(change)] })
    }
}

/// Carries out one undo or redo step on `b`; returns what it did, as an
/// action, and the change to announce.
fn perform(
    b: &mut Board,
    board: BoardId,
    apply: Action,
    store: &mut impl BoardStore,
) -> Result<(Action, BoardChange), Refused> {
    Ok(match apply {
        Action::Removed(list) => {
            let ids: Vec<StrokeId> = list
                .iter()
                .map(|(_, s)| s.id.clone())
                .filter(|id| b.order.contains_key(id))
                .collect();
            if !ids.is_empty() {
                store.strokes_delete(board, &ids).map_err(stored)?;
            }
            // Keep the strokes as they are now (others may have moved
            // or extended them), for the way back.
            let removed: Vec<(u64, Stroke)> = ids.iter().filter_map(|id| b.remove(id)).collect();
            (
                Action::Removed(removed),
                BoardChange::Removed { board, ids },
            )
        }
        Action::Added(list) => {
            let back: Vec<(u64, Stroke)> = list
                .into_iter()
                .filter(|(_, s)| !b.order.contains_key(&s.id))
                .collect();
            let room = back.iter().map(|(_, s)| s.points.len()).sum::<usize>();
            if b.strokes.len() + back.len() > MAX_BOARD_STROKES
                || b.points + room > MAX_BOARD_POINTS
            {
                return Err(refuse(ErrorCode::Conflict, "the board is full"));
            }
            for (_, s) in &back {
                store.stroke_put(board, s).map_err(stored)?;
            }
            for (order, s) in back.iter().cloned() {
                b.insert(order, s);
            }
            let strokes = back.iter().map(|(_, s)| s.clone()).collect();
            (Action::Added(back), BoardChange::Added { board, strokes })
        }
        Action::Moved(ids, dx, dy) => {
            let ids: Vec<StrokeId> = ids
                .into_iter()
                .filter(|id| b.order.contains_key(id))
                .collect();
            if !ids.is_empty() {
                move_strokes(b, board, &ids, dx, dy, store)?;
            }
            (
                Action::Moved(ids.clone(), dx, dy),
                BoardChange::Moved { board, ids, dx, dy },
            )
        }
    })
}

/// Removes strokes as `who`'s undoable action.
fn erase(
    b: &mut Board,
    board: BoardId,
    who: &ParticipantId,
    ids: Vec<StrokeId>,
    store: &mut impl BoardStore,
) -> Result<BoardChange, Refused> {
    store.strokes_delete(board, &ids).map_err(stored)?;
    let removed: Vec<(u64, Stroke)> = ids.iter().filter_map(|id| b.remove(id)).collect();
    b.record(who, Action::Removed(removed));
    Ok(BoardChange::Removed { board, ids })
}

/// Moves strokes by (dx, dy), refusing a move off the board.
fn move_strokes(
    b: &mut Board,
    board: BoardId,
    ids: &[StrokeId],
    dx: i32,
    dy: i32,
    store: &mut impl BoardStore,
) -> Result<(), Refused> {
    let mut moved = Vec::new();
    for id in ids {
        let Some(&order) = b.order.get(id) else {
            continue;
        };
        let Some(s) = b.strokes.get(&order) else {
            continue;
        };
        let mut s = s.clone();
        for p in &mut s.points {
            let (x, y) = (p.0.saturating_add(dx), p.1.saturating_add(dy));
            if x.abs() > MAX_COORD || y.abs() > MAX_COORD {
                return Err(refuse(
                    ErrorCode::Malformed,
                    "that moves strokes off the board",
                ));
            }
            *p = Point(x, y);
        }
        moved.push((order, s));
    }
    for (_, s) in &moved {
        store.stroke_put(board, s).map_err(stored)?;
    }
    for (order, s) in moved {
        b.strokes.insert(order, s);
    }
    Ok(())
}
