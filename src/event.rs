//! Turns a task's output into the C `ws_event` and calls the listeners with it. Everything the
//! event points to lives on this stack frame, which is why pointers are valid only during the
//! callback.

use std::ptr;
use std::sync::Arc;

use crate::callback::{c_string, Listener};
use crate::error::fail_msg;
use crate::ffi::types::*;
use crate::profile::Report;
use crate::registry::Registry;
use crate::task::Output;

fn empty_event(kind: u32, task_id: i64) -> ws_event {
    ws_event {
        kind,
        task_id,
        open: ws_open_event {
            headers: ptr::null(),
            header_count: 0,
            protocol: ptr::null(),
            extensions: ptr::null(),
            compressed: false,
        },
        message: ws_message_event { data: ptr::null(), len: 0, kind: 0 },
        error: ws_error_event { code: 0, err_msg: ptr::null() },
        close: ws_close_event { code: 0, reason: ptr::null(), reason_len: 0, was_clean: false },
        profile: ptr::null(),
    }
}

/// The C view of a profile; its strings point into `p`.
fn c_profile(p: &Report) -> ws_profile {
    ws_profile {
        fetch_start_us: p.fetch_start,
        domain_lookup_start_us: p.lookup_start,
        domain_lookup_end_us: p.lookup_end,
        connect_start_us: p.connect_start,
        tls_start_us: p.tls_start,
        tls_end_us: p.tls_end,
        connect_end_us: p.connect_end,
        open_us: p.open,
        fetch_start_unix_us: p.fetch_start_unix_us,
        attempts: p.attempts,
        tls_resumed: p.resumed,
        tls_version: p.tls_version.as_ptr(),
        tls_cipher: p.cipher.as_ptr(),
        peer_address: p.peer.as_ptr(),
        proxy_start_us: p.proxy_start,
        proxy_end_us: p.proxy_end,
    }
}

/// Calls each listener still registered with the event (on the libws thread, or on a thread
/// running `ws_dispatch`). `ws_off_event` from another thread waits for a call in progress
/// through the registry's gate. A task's own listener that got the
/// task's close event is gone with its task from then on.
fn call_all(registry: &Registry, event: &ws_event, listeners: &[Arc<Listener>]) {
    for l in listeners {
        if l.is_removed() {
            continue;
        }
        registry.begin_call(l.handle);
        if !l.is_removed() {
            l.call(event);
        }
        registry.end_call(l.handle);
        if event.kind == WS_EVENT_CLOSE && l.task_id != 0 {
            registry.close_delivered(l.task_id, l.handle);
        }
    }
}

/// Delivers one event output (not `State` or `Result`) of task `task_id`.
pub fn dispatch(registry: &Registry, task_id: i64, output: &Output, listeners: &[Arc<Listener>]) {
    if listeners.is_empty() {
        return;
    }
    match output {
        Output::Open { headers, protocol, extensions, compressed, profile } => {
            let c_profile = c_profile(profile);
            let c_headers: Vec<ws_header> =
                headers.iter().map(|(n, v)| ws_header { name: n.as_ptr(), value: v.as_ptr() }).collect();
            let mut ev = empty_event(WS_EVENT_OPEN, task_id);
            ev.open = ws_open_event {
                headers: c_headers.as_ptr(),
                header_count: c_headers.len(),
                protocol: protocol.as_ptr(),
                extensions: extensions.as_ptr(),
                compressed: *compressed,
            };
            ev.profile = &c_profile;
            call_all(registry, &ev, listeners);
        }
        Output::Message { text, data } => {
            let kind = if *text { WS_TEXT } else { WS_BINARY };
            let mut ev = empty_event(WS_EVENT_MESSAGE, task_id);
            ev.message = ws_message_event { data: data.as_ptr(), len: data.len(), kind };
            call_all(registry, &ev, listeners);
        }
        Output::Error { failure, api } => {
            let msg = c_string(&fail_msg(*api, failure));
            let mut ev = empty_event(WS_EVENT_ERROR, task_id);
            ev.error = ws_error_event { code: failure.code as i32, err_msg: msg.as_ptr() };
            call_all(registry, &ev, listeners);
        }
        Output::Close { code, reason, clean } => {
            let c_reason = c_string(reason);
            let mut ev = empty_event(WS_EVENT_CLOSE, task_id);
            let reason_len = c_reason.as_bytes().len();
            ev.close =
                ws_close_event { code: u16::from(*code), reason: c_reason.as_ptr(), reason_len, was_clean: *clean };
            call_all(registry, &ev, listeners);
        }
        Output::State(_) | Output::Result(..) => {}
    }
}
