//! The whiteboard on the wire: boards, strokes, the operations a browser
//! asks for ([`BoardOp`]) and the changes the room announces
//! ([`BoardChange`]), which every browser applies in the room's order.
//!
//! Coordinates are board units, independent of any screen: a browser maps
//! them to its canvas with its own pan and zoom, so every viewport shows the
//! same drawing. The default view spans [`VIEW_WIDTH`] x [`VIEW_HEIGHT`].

use serde::{Deserialize, Serialize};

use crate::ParticipantId;

/// Boards per room.
pub const MAX_BOARDS: usize = 20;
/// Points in one stroke.
pub const MAX_STROKE_POINTS: usize = 5_000;
/// Points in one message (a browser sends a frame's worth at a time).
pub const MAX_MESSAGE_POINTS: usize = 500;
/// Strokes on one board.
pub const MAX_BOARD_STROKES: usize = 5_000;
/// Points on one board, all strokes together.
pub const MAX_BOARD_POINTS: usize = 250_000;
/// Characters of a board's name.
pub const MAX_NAME_CHARS: usize = 60;
/// Characters of a text stroke.
pub const MAX_TEXT_CHARS: usize = 500;
/// Largest stroke width, in board units.
pub const MAX_WIDTH: u16 = 200;
/// Coordinates lie within plus or minus this.
pub const MAX_COORD: i32 = 1_000_000;
/// Board operations per second a participant may send, sustained.
pub const OPS_PER_SECOND: u32 = 60;
/// Board operations a participant may send in a burst.
pub const OPS_BURST: u32 = 120;
/// Width of the default view, in board units.
pub const VIEW_WIDTH: i32 = 1600;
/// Height of the default view, in board units.
pub const VIEW_HEIGHT: i32 = 900;

/// A board, unique within its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BoardId(pub u32);

/// A point in board units, `[x, y]` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point(pub i32, pub i32);

/// An RGB colour, `0xRRGGBB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Color(pub u32);

impl Color {
    /// `#rrggbb`, for a canvas.
    pub fn css(self) -> String {
        format!("#{:06x}", self.0 & 0xff_ffff)
    }
}

/// What a stroke is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Freehand, through every point.
    Pen,
    /// Freehand, wide and translucent.
    Highlighter,
    /// From the first point to the last.
    Line,
    /// The rectangle spanned by the first and last points.
    Rect,
    /// The ellipse inscribed in that rectangle.
    Ellipse,
    /// A line with a head at the last point.
    Arrow,
    /// Text at the first point; `width` is the font size.
    Text,
}

/// A stroke, named by its author and the author's own counter, so a
/// browser can stream points into it before the room has echoed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StrokeId {
    /// Who drew it.
    pub by: ParticipantId,
    /// The author's counter; each stroke of an author has its own.
    pub n: u32,
}

/// One stroke on a board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stroke {
    /// Its name.
    pub id: StrokeId,
    /// What it is.
    pub shape: Shape,
    /// Its colour.
    pub color: Color,
    /// Line width (font size for text), board units.
    pub width: u16,
    /// Its points, in drawing order.
    pub points: Vec<Point>,
    /// The words of a text stroke; shown as text, never markup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The author finished it.
    #[serde(default)]
    pub done: bool,
    /// Drawing position, set by the room: higher is drawn on top. A stroke
    /// brought back by undo returns to its old position.
    #[serde(default)]
    pub z: u64,
}

/// A board's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardInfo {
    /// Which board.
    pub id: BoardId,
    /// Its name.
    pub name: String,
}

/// Who may draw.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "who", rename_all = "snake_case")]
pub enum DrawPolicy {
    /// Everyone whose role allows drawing.
    #[default]
    Everyone,
    /// Hosts only.
    Hosts,
    /// Hosts and these participants.
    Chosen {
        /// The participants.
        ids: Vec<ParticipantId>,
    },
}

impl DrawPolicy {
    /// Whether `who` may draw, given whether their role may draw and may
    /// manage boards (hosts always may). The room decides with this; a
    /// browser uses it only to offer or hide the tools.
    pub fn allows(&self, who: &ParticipantId, draw: bool, manage: bool) -> bool {
        manage
            || draw
                && match self {
                    DrawPolicy::Everyone => true,
                    DrawPolicy::Hosts => false,
                    DrawPolicy::Chosen { ids } => ids.contains(who),
                }
    }
}

/// The boards of a room as a newcomer learns them: their names, which one a
/// host presents, who may draw, and the position in the room's order of
/// board changes the state reflects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BoardsState {
    /// Every board, in creation order.
    pub boards: Vec<BoardInfo>,
    /// The board a host brought everyone to, if any.
    pub presented: Option<BoardId>,
    /// Who may draw.
    pub policy: DrawPolicy,
    /// The last change applied.
    pub seq: u64,
}

/// What a browser asks of the room's boards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum BoardOp {
    /// Add a board.
    Create {
        /// Its name.
        name: String,
    },
    /// Rename a board.
    Rename {
        /// Which.
        board: BoardId,
        /// The new name.
        name: String,
    },
    /// Delete a board and everything on it (hosts).
    Delete {
        /// Which.
        board: BoardId,
    },
    /// Ask for a board's strokes; answered with `board_state`.
    Open {
        /// Which.
        board: BoardId,
    },
    /// Start a stroke.
    Begin {
        /// On which board.
        board: BoardId,
        /// The author's counter for it.
        n: u32,
        /// What it is.
        shape: Shape,
        /// Its colour.
        color: Color,
        /// Its width.
        width: u16,
        /// Its first points.
        points: Vec<Point>,
        /// Words, for text.
        #[serde(default)]
        text: Option<String>,
    },
    /// More points of one's own unfinished stroke.
    Extend {
        /// On which board.
        board: BoardId,
        /// The author's counter.
        n: u32,
        /// The points.
        points: Vec<Point>,
    },
    /// One's own stroke is finished.
    End {
        /// On which board.
        board: BoardId,
        /// The author's counter.
        n: u32,
    },
    /// Remove whole strokes (anyone's).
    Erase {
        /// On which board.
        board: BoardId,
        /// Which strokes.
        strokes: Vec<StrokeId>,
    },
    /// Move strokes by an offset.
    Move {
        /// On which board.
        board: BoardId,
        /// Which strokes.
        strokes: Vec<StrokeId>,
        /// Offset, board units.
        dx: i32,
        /// Offset, board units.
        dy: i32,
    },
    /// Undo one's own last action on a board.
    Undo {
        /// Which board.
        board: BoardId,
    },
    /// Redo one's own last undone action on a board.
    Redo {
        /// Which board.
        board: BoardId,
    },
    /// Remove everything from a board (hosts).
    Clear {
        /// Which.
        board: BoardId,
    },
    /// Bring everyone to a board, or stop (hosts).
    Present {
        /// The board; `None` lets everyone look where they like.
        board: Option<BoardId>,
    },
    /// Set who may draw (hosts).
    Policy {
        /// The policy.
        policy: DrawPolicy,
    },
}

/// A change the room applied, in its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum BoardChange {
    /// A board was added.
    Created {
        /// It.
        info: BoardInfo,
    },
    /// A board was renamed.
    Renamed {
        /// Its new name.
        info: BoardInfo,
    },
    /// A board was deleted.
    Deleted {
        /// Which.
        board: BoardId,
    },
    /// Strokes appeared: new, or back by undo or redo.
    Added {
        /// On which board.
        board: BoardId,
        /// The strokes, whole.
        strokes: Vec<Stroke>,
    },
    /// Points were added to an unfinished stroke.
    Extended {
        /// On which board.
        board: BoardId,
        /// Which stroke.
        id: StrokeId,
        /// The new points.
        points: Vec<Point>,
    },
    /// A stroke was finished.
    Ended {
        /// On which board.
        board: BoardId,
        /// Which stroke.
        id: StrokeId,
    },
    /// Strokes were removed (erase, clear, undo).
    Removed {
        /// On which board.
        board: BoardId,
        /// Which.
        ids: Vec<StrokeId>,
    },
    /// Strokes moved.
    Moved {
        /// On which board.
        board: BoardId,
        /// Which.
        ids: Vec<StrokeId>,
        /// Offset.
        dx: i32,
        /// Offset.
        dy: i32,
    },
    /// A host brought everyone to a board (or stopped).
    Presented {
        /// The board.
        board: Option<BoardId>,
    },
    /// Who may draw changed.
    Policy {
        /// The policy.
        policy: DrawPolicy,
    },
}

impl BoardChange {
    /// The board a change is about, if one.
    pub fn board(&self) -> Option<BoardId> {
        match self {
            BoardChange::Created { info } | BoardChange::Renamed { info } => Some(info.id),
            BoardChange::Deleted { board }
            | BoardChange::Added { board, .. }
            | BoardChange::Extended { board, .. }
            | BoardChange::Ended { board, .. }
            | BoardChange::Removed { board, .. }
            | BoardChange::Moved { board, .. } => Some(*board),
            BoardChange::Presented { board } => *board,
            BoardChange::Policy { .. } => None,
        }
    }
}

/// A board as a browser holds it: the strokes it was given by
/// `board_state`, with every later change applied in order. Pure, so the
/// client and the tests share it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    /// The last change applied.
    pub seq: u64,
    /// Strokes by drawing position.
    pub strokes: Vec<Stroke>,
}

impl Replica {
    /// A board as of change `seq`.
    pub fn new(seq: u64, mut strokes: Vec<Stroke>) -> Self {
        strokes.sort_by_key(|s| s.z);
        Replica { seq, strokes }
    }

    /// Applies change `seq` to this board; earlier or repeated changes, and
    /// changes of other boards, are ignored. Returns whether it changed.
    pub fn apply(&mut self, seq: u64, change: &BoardChange) -> bool {
        if seq <= self.seq {
            return false;
        }
        self.seq = seq;
        match change {
            BoardChange::Added { strokes, .. } => {
                for s in strokes {
                    self.strokes.retain(|x| x.id != s.id);
                    let at = self.strokes.partition_point(|x| x.z < s.z);
                    self.strokes.insert(at, s.clone());
                }
            }
            BoardChange::Extended { id, points, .. } => {
                if let Some(s) = self.strokes.iter_mut().find(|s| &s.id == id) {
                    s.points.extend_from_slice(points);
                }
            }
            BoardChange::Ended { id, .. } => {
                if let Some(s) = self.strokes.iter_mut().find(|s| &s.id == id) {
                    s.done = true;
                }
            }
            BoardChange::Removed { ids, .. } => self.strokes.retain(|s| !ids.contains(&s.id)),
            BoardChange::Moved { ids, dx, dy, .. } => {
                for s in self.strokes.iter_mut().filter(|s| ids.contains(&s.id)) {
                    for p in &mut s.points {
                        *p = Point(p.0.saturating_add(*dx), p.1.saturating_add(*dy));
                    }
                }
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes() {
        let op: BoardOp = serde_json::from_str(
            r#"{"op":"begin","board":2,"n":7,"shape":"pen","color":16711680,"width":4,"points":[[10,20],[11,22]]}"#,
        )
        .unwrap();
        assert_eq!(
            op,
            BoardOp::Begin {
                board: BoardId(2),
                n: 7,
                shape: Shape::Pen,
                color: Color(0xff0000),
                width: 4,
                points: vec![Point(10, 20), Point(11, 22)],
                text: None,
            }
        );
        assert!(serde_json::from_str::<BoardOp>(r#"{"op":"clear","board":1,"x":1}"#).is_err());
        let p: DrawPolicy = serde_json::from_str(r#"{"who":"chosen","ids":["u-a"]}"#).unwrap();
        assert!(matches!(p, DrawPolicy::Chosen { ids } if ids.len() == 1));
        assert_eq!(Color(0x00ff08).css(), "#00ff08");
    }

    #[test]
    fn a_board_op_is_a_room_message_of_type_board() {
        use crate::room::ClientMessage;
        let m = ClientMessage::decode(r#"{"type":"board","op":"undo","board":3}"#).unwrap();
        assert_eq!(m, ClientMessage::Board(BoardOp::Undo { board: BoardId(3) }));
        assert_eq!(m.encode(), r#"{"type":"board","op":"undo","board":3}"#);
        assert!(
            ClientMessage::decode(r#"{"type":"board","op":"undo","board":3,"extra":1}"#).is_err()
        );
    }
}
