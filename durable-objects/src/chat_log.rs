//! Write-behind for new chat messages: a message goes to the room at once and
//! into SQLite within [`FLUSH_AFTER`], many to one transaction.
//!
//! Why: workerd holds every frame a turn sends until that turn's writes
//! commit (the output gate). One insert per message meant one commit per
//! message, and under a busy room the held broadcasts queued behind the
//! commits: the fan-out benchmark reached 0.59 of a bare broadcast object
//! with the insert in the turn, and passed its whole offered range without.
//! The cost is a window of [`FLUSH_AFTER`] in which a crash of the object
//! loses messages the others already saw. Their sequence numbers are then
//! reused; their revisions are not (see [`ChatLog::push`]).
//! Edits, deletions and every read flush first, so the table is never
//! behind what a query asks for.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use protocol::room::ChatMessage;
use worker::{SqlStorage, SqlStorageValue};

use crate::room::StoreError;

/// How long a new message may wait for its insert: long enough that a busy
/// room's messages share a commit, short against a crash. The deployment's
/// `CHAT_FLUSH_MS` setting overrides it (tests widen it to catch the window).
pub const FLUSH_AFTER: Duration = Duration::from_millis(10);

/// Timer flushes in a row that may fail before the pending messages are
/// given up (and logged): a full or broken database must not grow the list
/// without end.
const ATTEMPTS: u32 = 3;

/// Revisions reserved ahead in `meta` at a time (see [`ChatLog::push`]): one
/// synchronous write per this many messages.
pub const REV_BLOCK: u64 = 1024;

/// Messages accepted but not yet inserted, oldest first.
pub struct ChatLog {
    /// How long the timer waits ([`FLUSH_AFTER`] unless configured).
    flush_after: Duration,
    pending: RefCell<Vec<ChatMessage>>,
    /// A flush is already waiting on its timer.
    scheduled: Cell<bool>,
    /// Failed timer flushes in a row.
    failures: Cell<u32>,
    /// Revisions below this mark need no new reservation; read from `meta`
    /// on first use.
    reserved: Cell<Option<u64>>,
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
    /// An empty log whose timer waits `flush_after`.
    pub fn new(flush_after: Duration) -> Self {
        ChatLog {
            flush_after,
            pending: RefCell::default(),
            scheduled: Cell::default(),
            failures: Cell::default(),
            reserved: Cell::default(),
        }
    }

    /// Takes a new message; [`ChatLog::schedule`] writes it. First, if its
    /// revision reaches the reserved mark, a new mark [`REV_BLOCK`] ahead is
    /// written (in this turn, so behind the output gate): a room reopened
    /// after losing pending messages starts its revisions past every one a
    /// client may have seen, so a client catching up "after revision N"
    /// never skips stored messages. Refused if the mark cannot be written.
    pub fn push(&self, sql: &SqlStorage, m: &ChatMessage) -> Result<(), StoreError> {
        let mut reserved = self.reserved.get().unwrap_or_else(|| reserved_rev(sql));
        if m.rev >= reserved {
            let next = m.rev + REV_BLOCK;
            sql.exec(
                "REPLACE INTO meta (key, value) VALUES ('rev_reserved', ?)",
                vec![next.to_string().into()],
            )
            .map_err(|e| StoreError(e.to_string()))?;
            reserved = next;
        }
        self.reserved.set(Some(reserved));
        self.pending.borrow_mut().push(m.clone());
        Ok(())
    }

    /// Inserts every pending message now, in order. On failure the one that
    /// failed and those after it stay pending, as they were.
    pub fn flush(&self, sql: &SqlStorage) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        for (i, m) in pending.iter().enumerate() {
            if let Err(e) = write(sql, "INSERT", m) {
                if i > 0 {
                    self.failures.set(0);
                }
                // Nothing is pushed during a flush: the rest go back as they were.
                *self.pending.borrow_mut() = pending[i..].to_vec();
                return Err(e);
            }
        }
        self.failures.set(0);
        Ok(())
    }

    /// Arms the flush timer if messages wait and none is armed. The timer
    /// keeps the object awake, so nothing pending is lost to hibernation.
    /// Only the timer's flushes count towards [`ATTEMPTS`]: a burst of reads
    /// failing in one turn does not give messages up.
    pub fn schedule(self: &Rc<Self>, sql: &SqlStorage) {
        if self.scheduled.get() || self.pending.borrow().is_empty() {
            return;
        }
        self.scheduled.set(true);
        let log = Rc::clone(self);
        let sql = sql.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            worker::Delay::from(log.flush_after).await;
            log.scheduled.set(false);
            if let Err(e) = log.flush(&sql) {
                let failures = log.failures.get() + 1;
                if failures >= ATTEMPTS {
                    log.failures.set(0);
                    let lost = std::mem::take(&mut *log.pending.borrow_mut());
                    worker::console_error!(
                        "chat: dropping {} unstored messages after {failures} failed flushes: {}",
                        lost.len(),
                        e.0
                    );
                } else {
                    log.failures.set(failures);
                    log.schedule(&sql);
                }
            }
        });
    }
}

/// The reserved revision mark in `meta` (0 if none).
pub fn reserved_rev(sql: &SqlStorage) -> u64 {
    crate::shell::meta(sql, "rev_reserved")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
