//! The boards in the Durable Object's SQLite (wasm32 only): the shell's
//! store as the core's [`BoardStore`].
//!
//! Tables: `boards` (id, name); `strokes` (one row per stroke: board, author,
//! counter, drawing position, done, and the stroke without its points as
//! JSON); `stroke_points` (the points in appended chunks, read back in
//! insertion order, so streaming a stroke appends rows instead of
//! rewriting it); `meta` key `boards` holds the counters.

use std::collections::HashMap;

use protocol::board::{BoardId, BoardInfo, Point, Stroke, StrokeId};
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use crate::board::{BoardStore, BoardsMeta, StoredBoards};
use crate::room::StoreError;

/// Creates the tables if this room has none yet.
pub(crate) fn create_tables(sql: &SqlStorage) -> worker::Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS boards (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        None,
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS strokes (
            board INTEGER NOT NULL,
            by_id TEXT NOT NULL,
            n INTEGER NOT NULL,
            z INTEGER NOT NULL,
            done INTEGER NOT NULL DEFAULT 0,
            data TEXT NOT NULL,
            PRIMARY KEY (board, by_id, n)
        )",
        None,
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS stroke_points (
            board INTEGER NOT NULL,
            by_id TEXT NOT NULL,
            n INTEGER NOT NULL,
            points TEXT NOT NULL
        )",
        None,
    )?;
    sql.exec(
        "CREATE INDEX IF NOT EXISTS stroke_points_by_stroke ON stroke_points (board, by_id, n)",
        None,
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct BoardRow {
    id: i64,
    name: String,
}

#[derive(Deserialize)]
struct StrokeRow {
    board: i64,
    by_id: String,
    n: i64,
    z: i64,
    done: i64,
    data: String,
}

#[derive(Deserialize)]
struct PointsRow {
    board: i64,
    by_id: String,
    n: i64,
    points: String,
}

#[derive(Deserialize)]
struct Value {
    value: String,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// The stroke's key columns as arguments.
fn key(board: BoardId, id: &StrokeId) -> Vec<SqlStorageValue> {
    vec![
        i64::from(board.0).into(),
        id.by.as_str().into(),
        i64::from(id.n).into(),
    ]
}

/// Board storage over one room's SQLite.
pub(crate) struct SqlBoards(pub SqlStorage);

impl SqlBoards {
    fn run(&self, sql: &str, args: Vec<SqlStorageValue>) -> Result<(), StoreError> {
        self.0.exec(sql, args).map(|_| ()).map_err(err)
    }

    fn add_points(
        &self,
        board: BoardId,
        id: &StrokeId,
        points: &[Point],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(points).map_err(err)?;
        let mut args = key(board, id);
        args.push(json.into());
        self.run(
            "INSERT INTO stroke_points (board, by_id, n, points) VALUES (?, ?, ?, ?)",
            args,
        )
    }
}

impl BoardStore for SqlBoards {
    fn board_put(&mut self, info: &BoardInfo) -> Result<(), StoreError> {
        self.run(
            "REPLACE INTO boards (id, name) VALUES (?, ?)",
            vec![i64::from(info.id.0).into(), info.name.as_str().into()],
        )
    }

    fn board_delete(&mut self, board: BoardId) -> Result<(), StoreError> {
        let id: SqlStorageValue = i64::from(board.0).into();
        self.run(
            "DELETE FROM stroke_points WHERE board = ?",
            vec![id.clone()],
        )?;
        self.run("DELETE FROM strokes WHERE board = ?", vec![id.clone()])?;
        self.run("DELETE FROM boards WHERE id = ?", vec![id])
    }

    fn stroke_put(&mut self, board: BoardId, stroke: &Stroke) -> Result<(), StoreError> {
        let bare = Stroke {
            points: vec![],
            ..stroke.clone()
        };
        let data = serde_json::to_string(&bare).map_err(err)?;
        let mut args = key(board, &stroke.id);
        args.push((stroke.z.min(i64::MAX as u64) as i64).into());
        args.push(i64::from(stroke.done).into());
        args.push(data.into());
        self.run(
            "REPLACE INTO strokes (board, by_id, n, z, done, data) VALUES (?, ?, ?, ?, ?, ?)",
            args,
        )?;
        self.run(
            "DELETE FROM stroke_points WHERE board = ? AND by_id = ? AND n = ?",
            key(board, &stroke.id),
        )?;
        self.add_points(board, &stroke.id, &stroke.points)
    }

    fn stroke_extend(
        &mut self,
        board: BoardId,
        id: &StrokeId,
        points: &[Point],
        done: bool,
    ) -> Result<(), StoreError> {
        if !points.is_empty() {
            self.add_points(board, id, points)?;
        }
        if done {
            self.run(
                "UPDATE strokes SET done = 1 WHERE board = ? AND by_id = ? AND n = ?",
                key(board, id),
            )?;
        }
        Ok(())
    }

    fn strokes_delete(&mut self, board: BoardId, ids: &[StrokeId]) -> Result<(), StoreError> {
        for id in ids {
            self.run(
                "DELETE FROM stroke_points WHERE board = ? AND by_id = ? AND n = ?",
                key(board, id),
            )?;
            self.run(
                "DELETE FROM strokes WHERE board = ? AND by_id = ? AND n = ?",
                key(board, id),
            )?;
        }
        Ok(())
    }

    fn boards_meta_put(&mut self, meta: &BoardsMeta) -> Result<(), StoreError> {
        let json = serde_json::to_string(meta).map_err(err)?;
        self.run(
            "REPLACE INTO meta (key, value) VALUES ('boards', ?)",
            vec![json.into()],
        )
    }

    fn boards_load(&self) -> (BoardsMeta, StoredBoards) {
        let meta = self
            .0
            .exec("SELECT value FROM meta WHERE key = 'boards'", None)
            .and_then(|c| c.to_array::<Value>())
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .and_then(|v| serde_json::from_str(&v.value).ok())
            .unwrap_or_default();
        let boards: Vec<BoardRow> = self
            .0
            .exec("SELECT id, name FROM boards ORDER BY id", None)
            .and_then(|c| c.to_array())
            .unwrap_or_default();
        let strokes: Vec<StrokeRow> = self
            .0
            .exec("SELECT board, by_id, n, z, done, data FROM strokes", None)
            .and_then(|c| c.to_array())
            .unwrap_or_default();
        let chunks: Vec<PointsRow> = self
            .0
            .exec(
                "SELECT board, by_id, n, points FROM stroke_points ORDER BY rowid",
                None,
            )
            .and_then(|c| c.to_array())
            .unwrap_or_default();
        let mut points: HashMap<(i64, String, i64), Vec<Point>> = HashMap::new();
        for c in chunks {
            let list: Vec<Point> = serde_json::from_str(&c.points).unwrap_or_default();
            points
                .entry((c.board, c.by_id, c.n))
                .or_default()
                .extend(list);
        }
        let mut by_board: HashMap<i64, Vec<Stroke>> = HashMap::new();
        for row in strokes {
            let Ok(mut s) = serde_json::from_str::<Stroke>(&row.data) else {
                continue;
            };
            s.points = points
                .remove(&(row.board, row.by_id, row.n))
                .unwrap_or_default();
            s.done = row.done != 0;
            s.z = u64::try_from(row.z).unwrap_or(0);
            by_board.entry(row.board).or_default().push(s);
        }
        let boards = boards
            .into_iter()
            .filter_map(|b| {
                let id = BoardId(u32::try_from(b.id).ok()?);
                let strokes = by_board.remove(&b.id).unwrap_or_default();
                Some((BoardInfo { id, name: b.name }, strokes))
            })
            .collect();
        (meta, boards)
    }
}
