//! What every thread may read about tasks: their readyState, their group's slot count, and their
//! listeners. The loop thread owns the connections; this table is the small shared part, locked
//! only for short lookups and never while C code runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::callback::Listener;
use crate::error::{Code, Failure};
use crate::ffi::types::{WS_CLOSED, WS_CLOSING, WS_CONNECTING, WS_OPEN};

/// Task ids are unique for the life of the process, across runtimes, so a stale id is always
/// recognised as CLOSED.
static NEXT_TASK_ID: AtomicI64 = AtomicI64::new(1);
static NEXT_LISTENER: AtomicI64 = AtomicI64::new(1);

struct Entry {
    state: i32,
    group: u64,
    listeners: Vec<Arc<Listener>>,
}

#[derive(Default)]
struct Table {
    tasks: HashMap<i64, Entry>,
    group_counts: HashMap<u64, u32>,
    global: Vec<Arc<Listener>>,
    /// A task's own listeners while its close event is delivered: the task is CLOSED, but
    /// `ws_off_event` must still find them so a removed one is not called.
    closing: HashMap<i64, Vec<Arc<Listener>>>,
}

/// The shared table, plus the gate that lets `ws_off_event` wait out a running callback.
#[derive(Default)]
pub struct Registry {
    table: Mutex<Table>,
    /// Handle of the listener the loop thread is calling right now (0: none).
    calling: Mutex<i64>,
    call_done: Condvar,
}

/// Whether an id not in the table was issued once (and so is CLOSED) or never.
pub fn absent(task_id: i64) -> Failure {
    if task_id > 0 && task_id < NEXT_TASK_ID.load(Ordering::Acquire) {
        Failure::new(Code::Closed, format!("socketTaskId {} is closed", task_id))
    } else {
        Failure::new(Code::UnknownTask, format!("unknown socketTaskId {}", task_id))
    }
}

impl Registry {
    /// Takes a slot in `group` for a new CONNECTING task with its first listener, or fails when
    /// the group is full.
    pub fn add_task(&self, group: u64, limit: u32, first: Option<Listener>) -> Result<i64, Failure> {
        let mut t = self.table.lock();
        let count = t.group_counts.entry(group).or_insert(0);
        if *count >= limit {
            return Err(Failure::new(
                Code::TooManyConnections,
                format!("exceed max concurrent count ({})", limit),
            ));
        }
        *count += 1;
        let id = NEXT_TASK_ID.fetch_add(1, Ordering::AcqRel);
        let listeners = first
            .map(|mut l| {
                l.handle = NEXT_LISTENER.fetch_add(1, Ordering::Relaxed);
                l.task_id = id;
                vec![Arc::new(l)]
            })
            .unwrap_or_default();
        t.tasks.insert(id, Entry { state: WS_CONNECTING, group, listeners });
        Ok(id)
    }

    /// readyState of a task: CLOSED for a stale id, an error for one never issued.
    pub fn state(&self, task_id: i64) -> Result<i32, Failure> {
        match self.table.lock().tasks.get(&task_id) {
            Some(e) => Ok(e.state),
            None => match absent(task_id) {
                f if f.code == Code::Closed => Ok(WS_CLOSED),
                f => Err(f),
            },
        }
    }

    /// Like `state`, but a closed task is an error too.
    pub fn live_state(&self, task_id: i64) -> Result<i32, Failure> {
        match self.table.lock().tasks.get(&task_id) {
            Some(e) => Ok(e.state),
            None => Err(absent(task_id)),
        }
    }

    /// Moves a task's readyState forward (CONNECTING → OPEN → CLOSING); never back, so a state
    /// set early by a caller (`ws_close`) is not undone by the loop.
    pub fn set_state(&self, task_id: i64, state: i32) {
        if let Some(e) = self.table.lock().tasks.get_mut(&task_id) {
            e.state = e.state.max(state);
        }
    }

    /// `ws_close` on an OPEN task: CLOSING at once, as in browsers, so a send made after
    /// `ws_close` returns is refused right away. Returns the state the task had.
    pub fn begin_close(&self, task_id: i64) -> Result<i32, Failure> {
        match self.table.lock().tasks.get_mut(&task_id) {
            Some(e) => {
                let was = e.state;
                if was == WS_OPEN {
                    e.state = WS_CLOSING;
                }
                Ok(was)
            }
            None => Err(absent(task_id)),
        }
    }

    /// `ws_close_group`: every OPEN task of `group` is CLOSING at once, as `begin_close` makes one.
    pub fn begin_close_group(&self, group: u64) {
        let mut t = self.table.lock();
        for e in t.tasks.values_mut().filter(|e| e.group == group && e.state == WS_OPEN) {
            e.state = WS_CLOSING;
        }
    }

    /// Removes a task as it becomes CLOSED: frees its group slot and returns the listeners that
    /// get its close event (its own, then the global ones). Its own stay removable by
    /// `ws_off_event` until `closed` is called after the close event.
    pub fn remove_task(&self, task_id: i64) -> Vec<Arc<Listener>> {
        let mut t = self.table.lock();
        let Some(entry) = t.tasks.remove(&task_id) else { return Vec::new() };
        if let Some(count) = t.group_counts.get_mut(&entry.group) {
            *count -= 1;
            if *count == 0 {
                t.group_counts.remove(&entry.group);
            }
        }
        let mut all = entry.listeners.clone();
        all.extend(t.global.iter().cloned());
        if !entry.listeners.is_empty() {
            t.closing.insert(task_id, entry.listeners);
        }
        all
    }

    /// The close event of a task removed by `remove_task` has been delivered to `handle`: it is
    /// gone like its task.
    pub fn close_delivered(&self, task_id: i64, handle: i64) {
        if let Some(own) = self.table.lock().closing.get_mut(&task_id) {
            own.retain(|l| l.handle != handle);
        }
    }

    /// The close event of a task removed by `remove_task` has been delivered to all.
    pub fn closed(&self, task_id: i64) {
        self.table.lock().closing.remove(&task_id);
    }

    /// Fills `out` with the listeners of a task's event: its own, then the global ones.
    pub fn listeners(&self, task_id: i64, out: &mut Vec<Arc<Listener>>) {
        out.clear();
        let t = self.table.lock();
        if let Some(e) = t.tasks.get(&task_id) {
            out.extend(e.listeners.iter().cloned());
        }
        out.extend(t.global.iter().cloned());
    }

    /// Adds a listener to one live task (task_id > 0) or to every task (0). Returns its handle.
    pub fn add_listener(&self, mut listener: Listener) -> Result<i64, Failure> {
        let mut t = self.table.lock();
        listener.handle = NEXT_LISTENER.fetch_add(1, Ordering::Relaxed);
        let handle = listener.handle;
        if listener.task_id == 0 {
            t.global.push(Arc::new(listener));
        } else {
            let id = listener.task_id;
            match t.tasks.get_mut(&id) {
                Some(e) => e.listeners.push(Arc::new(listener)),
                None => return Err(absent(id)),
            }
        }
        Ok(handle)
    }

    /// Removes a listener. Returns the removed listener, if it was registered.
    pub fn remove_listener(&self, handle: i64) -> Option<Arc<Listener>> {
        let mut t = self.table.lock();
        let take = |v: &mut Vec<Arc<Listener>>| v.iter().position(|l| l.handle == handle).map(|i| v.remove(i));
        if let Some(l) = take(&mut t.global) {
            return Some(l);
        }
        if let Some(l) = t.tasks.values_mut().find_map(|e| take(&mut e.listeners)) {
            return Some(l);
        }
        t.closing.values_mut().find_map(take)
    }

    /// Drops every global listener (at shutdown).
    pub fn clear_global(&self) {
        self.table.lock().global.clear();
    }

    /// Marks `handle` as being called; pairs with `end_call`. No lock is held in between.
    pub fn begin_call(&self, handle: i64) {
        *self.calling.lock() = handle;
    }

    pub fn end_call(&self) {
        *self.calling.lock() = 0;
        self.call_done.notify_all();
    }

    /// Blocks until the loop thread is not inside listener `handle`.
    pub fn wait_not_calling(&self, handle: i64) {
        let mut calling = self.calling.lock();
        while *calling == handle {
            self.call_done.wait(&mut calling);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::UserData;
    use std::sync::atomic::AtomicBool;

    fn listener(task_id: i64) -> Listener {
        Listener { handle: 0, task_id, cb: None, user_data: UserData(std::ptr::null_mut()), removed: AtomicBool::new(false) }
    }

    #[test]
    fn a_closing_tasks_listeners_stay_removable_until_they_got_the_close() {
        let r = Registry::default();
        let id = r.add_task(1, 5, Some(listener(0))).unwrap();
        let second = r.add_listener(listener(id)).unwrap();
        let global = r.add_listener(listener(0)).unwrap();
        let got = r.remove_task(id);
        assert_eq!(got.iter().map(|l| l.handle).collect::<Vec<_>>()[1..], [second, global]);
        let first = got[0].handle;
        r.close_delivered(id, first);
        assert!(r.remove_listener(first).is_none(), "it got the close: gone with its task");
        assert!(r.remove_listener(second).is_some(), "still due the close: removable");
        assert!(r.remove_listener(second).is_none());
        r.closed(id);
        assert!(r.remove_listener(global).is_some(), "global listeners stay");
        assert_eq!(r.state(id).unwrap(), WS_CLOSED);
    }
}
