//! What every thread may read about tasks: their readyState, their group's slot count, and their
//! listeners. The loop thread owns the connections; this table is the small shared part, locked
//! only for short lookups and never while C code runs.
//!
//! A task bound to a dispatcher keeps the state its host has seen: the loop's state changes
//! reach it when `ws_dispatch` runs them, and it stays in the table (OPEN or CLOSING) after the
//! loop closed it, until its close event is dispatched; only its group slot is freed at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::buffered::Counter;
use crate::callback::Listener;
use crate::dispatcher::Dispatcher;
use crate::error::{closed, Code, Failure};
use crate::id_map::IdMap;
use crate::ready_state::ReadyState;

/// Task ids are unique for the life of the process, across runtimes, so a stale id is always
/// recognised as CLOSED.
static NEXT_TASK_ID: AtomicI64 = AtomicI64::new(1);
static NEXT_LISTENER: AtomicI64 = AtomicI64::new(1);

struct Entry {
    state: ReadyState,
    group: u64,
    listeners: Vec<Arc<Listener>>,
    /// Where its results and events go (None: the libws thread).
    dispatcher: Option<Arc<Dispatcher>>,
    /// False once the loop closed a bound task whose close event is not dispatched yet.
    holds_slot: bool,
    /// Closed by the host before it saw the open event: only the close event (1006) is left.
    aborted: bool,
    /// `ws_buffered_amount`: bytes of sends accepted and not yet written.
    buffered: Counter,
}

/// Where the results of a call about one task go.
pub enum Route {
    /// The task is bound to this dispatcher (and its close event not dispatched yet).
    Bound(Arc<Dispatcher>),
    /// A live task that is not bound: the libws thread.
    Unbound,
    /// Closed or never issued.
    Absent,
}

#[derive(Default)]
struct Table {
    tasks: IdMap<Entry>,
    group_counts: HashMap<u64, u32>,
    global: Vec<Arc<Listener>>,
    /// A task's own listeners while its close event is delivered: the task is CLOSED, but
    /// `ws_off_event` must still find them so a removed one is not called.
    closing: IdMap<Vec<Arc<Listener>>>,
}

/// The shared table, plus the gate that lets `ws_off_event` wait out a running callback.
#[derive(Default)]
pub struct Registry {
    table: Mutex<Table>,
    /// Handles of the listeners being called right now, one entry per call in progress (the loop
    /// thread and dispatching threads may call listeners at once).
    calling: Mutex<Vec<i64>>,
    call_done: Condvar,
}

/// Whether an id not in the table was issued once (and so is CLOSED) or never.
pub fn absent(task_id: i64) -> Failure {
    if task_id > 0 && task_id < NEXT_TASK_ID.load(Ordering::Acquire) {
        closed(task_id)
    } else {
        Failure::new(Code::UnknownTask, format!("unknown socketTaskId {}", task_id))
    }
}

impl Registry {
    /// Takes a slot in `group` for a new CONNECTING task with its first listener, or fails when
    /// the group is full.
    pub fn add_task(
        &self,
        group: u64,
        limit: u32,
        first: Option<Listener>,
        dispatcher: Option<Arc<Dispatcher>>,
    ) -> Result<i64, Failure> {
        let mut t = self.table.lock();
        let count = t.group_counts.entry(group).or_insert(0);
        if *count >= limit {
            return Err(Failure::new(Code::TooManyConnections, format!("exceed max concurrent count ({})", limit)));
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
        t.tasks.insert(
            id,
            Entry {
                state: ReadyState::Connecting,
                group,
                listeners,
                dispatcher,
                holds_slot: true,
                aborted: false,
                buffered: Counter::default(),
            },
        );
        Ok(id)
    }

    /// Where the results of a call about `task_id` go.
    pub fn route(&self, task_id: i64) -> Route {
        match self.table.lock().tasks.get(&task_id) {
            Some(Entry { dispatcher: Some(d), .. }) => Route::Bound(Arc::clone(d)),
            Some(_) => Route::Unbound,
            None => Route::Absent,
        }
    }

    /// The state of a task the loop has not closed yet (a bound task's close event may be
    /// queued while the host still sees it open).
    pub fn loop_state(&self, task_id: i64) -> Result<ReadyState, Failure> {
        match self.table.lock().tasks.get(&task_id) {
            Some(e) if e.holds_slot => Ok(e.state),
            _ => Err(absent(task_id)),
        }
    }

    /// Whether a bound task was closed by its host before it saw the open event.
    pub fn is_aborted(&self, task_id: i64) -> bool {
        self.table.lock().tasks.get(&task_id).is_some_and(|e| e.aborted)
    }

    /// The loop closed a bound task: its group slot is free (so the host may connect again from
    /// its close callback), while the task stays, as the host sees it, until its close event is
    /// dispatched (`remove_task`).
    pub fn release_slot(&self, task_id: i64) {
        let mut t = self.table.lock();
        let Some(e) = t.tasks.get_mut(&task_id) else { return };
        if !std::mem::replace(&mut e.holds_slot, false) {
            return;
        }
        let group = e.group;
        free_slot(&mut t.group_counts, group);
    }

    /// The `ws_buffered_amount` of a task in the table.
    pub fn buffered_amount(&self, task_id: i64) -> Option<u64> {
        self.table.lock().tasks.get(&task_id).map(|e| e.buffered.load(Ordering::Acquire))
    }

    /// What `ws_send` needs in one lookup: the task's state and its `ws_buffered_amount` counter.
    pub fn send_state(&self, task_id: i64) -> Result<(ReadyState, Counter), Failure> {
        match self.table.lock().tasks.get(&task_id) {
            Some(e) => Ok((e.state, Arc::clone(&e.buffered))),
            None => Err(absent(task_id)),
        }
    }

    /// Like `state`, but a closed task is an error too.
    pub fn live_state(&self, task_id: i64) -> Result<ReadyState, Failure> {
        match self.table.lock().tasks.get(&task_id) {
            Some(e) => Ok(e.state),
            None => Err(absent(task_id)),
        }
    }

    /// Applies the state the loop reached (`ReadyState::reached`: only forward, so a state set
    /// early by a caller (`ws_close`) is not undone by the loop).
    pub fn set_state(&self, task_id: i64, state: ReadyState) {
        if let Some(e) = self.table.lock().tasks.get_mut(&task_id) {
            e.state = e.state.reached(state);
        }
    }

    /// `ws_close` on an OPEN task: CLOSING at once, as in browsers, so a send made after
    /// `ws_close` returns is refused right away. A bound task whose host has not seen it open is
    /// aborted: returned is its dispatcher, to drop its queued events.
    pub fn begin_close(&self, task_id: i64) -> Result<Option<Arc<Dispatcher>>, Failure> {
        match self.table.lock().tasks.get_mut(&task_id) {
            Some(e) => Ok(begin_close(e)),
            None => Err(absent(task_id)),
        }
    }

    /// `ws_close_group`: every task of `group` as `begin_close` does it. Returns the aborted ones.
    pub fn begin_close_group(&self, group: u64) -> Vec<(i64, Arc<Dispatcher>)> {
        let mut t = self.table.lock();
        let mut aborted = Vec::new();
        for (id, e) in t.tasks.iter_mut().filter(|(_, e)| e.group == group) {
            if let Some(d) = begin_close(e) {
                aborted.push((*id, d));
            }
        }
        aborted
    }

    /// Whether tasks wait for their close event on a dispatcher.
    pub fn is_empty(&self) -> bool {
        self.table.lock().tasks.is_empty()
    }

    /// Removes a task as it becomes CLOSED: frees its group slot and returns the listeners that
    /// get its close event (its own, then the global ones). Its own stay removable by
    /// `ws_off_event` until `closed` is called after the close event.
    pub fn remove_task(&self, task_id: i64) -> Vec<Arc<Listener>> {
        let mut t = self.table.lock();
        let Some(entry) = t.tasks.remove(&task_id) else { return Vec::new() };
        if entry.holds_slot {
            free_slot(&mut t.group_counts, entry.group);
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

    /// Fills `out` with the listeners of a task's event: its own, then the global ones. Returns
    /// whether the task was aborted (its events other than the close are not delivered).
    pub fn listeners(&self, task_id: i64, out: &mut Vec<Arc<Listener>>) -> bool {
        out.clear();
        let t = self.table.lock();
        let mut aborted = false;
        if let Some(e) = t.tasks.get(&task_id) {
            out.extend(e.listeners.iter().cloned());
            aborted = e.aborted;
        }
        out.extend(t.global.iter().cloned());
        aborted
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
        self.calling.lock().push(handle);
    }

    pub fn end_call(&self, handle: i64) {
        let mut calling = self.calling.lock();
        if let Some(i) = calling.iter().position(|&h| h == handle) {
            calling.swap_remove(i);
        }
        drop(calling);
        self.call_done.notify_all();
    }

    /// Blocks until no thread is inside listener `handle`.
    pub fn wait_not_calling(&self, handle: i64) {
        let mut calling = self.calling.lock();
        while calling.contains(&handle) {
            self.call_done.wait(&mut calling);
        }
    }
}

fn free_slot(counts: &mut HashMap<u64, u32>, group: u64) {
    if let Some(count) = counts.get_mut(&group) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&group);
        }
    }
}

/// `begin_close` on one entry: OPEN becomes CLOSING; a bound task the host still sees
/// CONNECTING is aborted and its dispatcher returned.
fn begin_close(e: &mut Entry) -> Option<Arc<Dispatcher>> {
    match (e.state, &e.dispatcher) {
        (ReadyState::Open, _) => e.state = e.state.close_requested(),
        (ReadyState::Connecting, Some(d)) if !e.aborted => {
            e.aborted = true;
            return Some(Arc::clone(d));
        }
        _ => {}
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::UserData;
    use std::sync::atomic::AtomicBool;

    fn listener(task_id: i64) -> Listener {
        Listener {
            handle: 0,
            task_id,
            cb: None,
            user_data: UserData(std::ptr::null_mut()),
            removed: AtomicBool::new(false),
        }
    }

    #[test]
    fn a_closing_tasks_listeners_stay_removable_until_they_got_the_close() {
        let r = Registry::default();
        let id = r.add_task(1, 5, Some(listener(0)), None).unwrap();
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
        assert_eq!(r.live_state(id).unwrap_err().code, Code::Closed);
    }
}
