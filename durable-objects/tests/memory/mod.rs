//! Board storage in memory, for tests: what the Durable Object's SQLite
//! tables hold, in maps, with a switch to make writes fail.
#![allow(dead_code)] // each test binary uses a subset

use std::collections::BTreeMap;

use durable_objects::board::{BoardStore, BoardsMeta, StoredBoards};
use durable_objects::room::StoreError;
use protocol::board::{BoardId, BoardInfo, Point, Stroke, StrokeId};

#[derive(Default, Clone)]
pub struct MemoryBoards {
    pub meta: BoardsMeta,
    pub boards: BTreeMap<BoardId, BoardInfo>,
    pub strokes: BTreeMap<(BoardId, StrokeId), Stroke>,
    /// Every write fails while set.
    pub broken: bool,
}

impl MemoryBoards {
    fn ok(&self) -> Result<(), StoreError> {
        if self.broken {
            Err(StoreError("disk full".into()))
        } else {
            Ok(())
        }
    }
}

impl BoardStore for MemoryBoards {
    fn board_put(&mut self, info: &BoardInfo) -> Result<(), StoreError> {
        self.ok()?;
        self.boards.insert(info.id, info.clone());
        Ok(())
    }
    fn board_delete(&mut self, board: BoardId) -> Result<(), StoreError> {
        self.ok()?;
        self.boards.remove(&board);
        self.strokes.retain(|(b, _), _| *b != board);
        Ok(())
    }
    fn stroke_put(&mut self, board: BoardId, stroke: &Stroke) -> Result<(), StoreError> {
        self.ok()?;
        self.strokes
            .insert((board, stroke.id.clone()), stroke.clone());
        Ok(())
    }
    fn stroke_extend(
        &mut self,
        board: BoardId,
        id: &StrokeId,
        points: &[Point],
        done: bool,
    ) -> Result<(), StoreError> {
        self.ok()?;
        let s = self
            .strokes
            .get_mut(&(board, id.clone()))
            .ok_or(StoreError("no such stroke".into()))?;
        s.points.extend_from_slice(points);
        s.done |= done;
        Ok(())
    }
    fn strokes_delete(&mut self, board: BoardId, ids: &[StrokeId]) -> Result<(), StoreError> {
        self.ok()?;
        for id in ids {
            self.strokes.remove(&(board, id.clone()));
        }
        Ok(())
    }
    fn boards_meta_put(&mut self, meta: &BoardsMeta) -> Result<(), StoreError> {
        self.ok()?;
        self.meta = meta.clone();
        Ok(())
    }
    fn boards_load(&self) -> (BoardsMeta, StoredBoards) {
        let boards = self
            .boards
            .values()
            .map(|info| {
                let mut strokes: Vec<Stroke> = self
                    .strokes
                    .iter()
                    .filter(|((b, _), _)| *b == info.id)
                    .map(|(_, v)| v.clone())
                    .collect();
                strokes.sort_by_key(|s| s.z);
                (info.clone(), strokes)
            })
            .collect();
        (self.meta.clone(), boards)
    }
}
