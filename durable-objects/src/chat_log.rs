//! Write-behind for new chat messages: a message goes to the room at once and
//! into SQLite within [`FLUSH_AFTER`], many to one transaction.
//!
//! Why: workerd holds every frame a turn sends until that turn's writes
//! commit (the output gate). One insert per message meant one commit per
//! message, and under a busy room the held broadcasts queued behind the
//! commits: the fan-out benchmark reached 0.59 of a bare broadcast object
//! with the insert in the turn, and passed its whole offered range without.
//! The cost is a window of [`FLUSH_AFTER`] in which a crash of the object
//! loses messages the others already saw (the numbers are then reused).
//! Edits, deletions and every read flush first, so the table is never
//! behind what a query asks for.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use protocol::room::ChatMessage;
use worker::{SqlStorage, SqlStorageValue};

use crate::room::StoreError;

/// How long a new message may wait for its insert: long enough that a busy
/// room's messages share a commit, short against a crash.
pub const FLUSH_AFTER: Duration = Duration::from_millis(10);

/// Attempts before a batch that will not insert is given up (and logged):
/// a full or broken database must not grow the pending list without end.
const ATTEMPTS: u32 = 3;

/// Messages accepted but not yet inserted, oldest first.
#[derive(Default)]
pub struct ChatLog {
    pending: RefCell<Vec<ChatMessage>>,
    /// A flush is already waiting on its timer.
    scheduled: Cell<bool>,
    /// Failed flushes of the current pending list in a row.
    failures: Cell<u32>,
}

/// The `messages` table's columns, in the order rows are written and read.
pub const COLUMNS: &str = "seq, from_id, from_name, to_id, text, at_ms, edited_ms, deleted, rev";

/// `INSERT` or `REPLACE`s one message row.
pub fn write(sql: &SqlStorage, verb: &str, m: &ChatMessage) -> Result<(), StoreError> {
    let args: Vec<SqlStorageValue> = vec![
        (m.seq as i64).into(),
        m.from.as_str().into(),
        m.from_name.as_str().into(),
        m.to.as_ref()
            .map_or(SqlStorageValue::Null, |p| p.as_str().into()),
        m.text.as_str().into(),
        m.at_ms.into(),
        m.edited_ms
            .map_or(SqlStorageValue::Null, SqlStorageValue::from),
        i64::from(m.deleted).into(),
        (m.rev as i64).into(),
    ];
    sql.exec(
        &format!("{verb} INTO messages ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        args,
    )
    .map(|_| ())
    .map_err(|e| StoreError(e.to_string()))
}

impl ChatLog {
    /// Takes a new message; [`ChatLog::schedule`] writes it.
    pub fn push(&self, m: &ChatMessage) {
        self.pending.borrow_mut().push(m.clone());
    }

    /// Inserts every pending message now, in order. On failure the rest stay
    /// pending for the next flush, until [`ATTEMPTS`] failures drop them.
    pub fn flush(&self, sql: &SqlStorage) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        for (i, m) in pending.iter().enumerate() {
            if let Err(e) = write(sql, "INSERT", m) {
                let failures = self.failures.get() + 1;
                if failures >= ATTEMPTS {
                    self.failures.set(0);
                    worker::console_error!(
                        "chat: dropping {} unstored messages after {failures} failures: {}",
                        pending.len() - i,
                        e.0
                    );
                } else {
                    self.failures.set(failures);
                    // Nothing is pushed during a flush: the rest go back as they were.
                    *self.pending.borrow_mut() = pending[i..].to_vec();
                }
                return Err(e);
            }
        }
        self.failures.set(0);
        Ok(())
    }

    /// Arms the flush timer if messages wait and none is armed. The timer
    /// keeps the object awake, so nothing pending is lost to hibernation.
    pub fn schedule(self: &Rc<Self>, sql: &SqlStorage) {
        if self.scheduled.get() || self.pending.borrow().is_empty() {
            return;
        }
        self.scheduled.set(true);
        let log = Rc::clone(self);
        let sql = sql.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            worker::Delay::from(FLUSH_AFTER).await;
            log.scheduled.set(false);
            if log.flush(&sql).is_err() {
                log.schedule(&sql);
            }
        });
    }
}
