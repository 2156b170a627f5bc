//! Property test of the C surface: random sequences of calls with NULLs, garbage and stale ids,
//! huge lengths, bad codes and invalid UTF-8. Every call must return a documented code, and every
//! result callback must run exactly once, whatever the input. (One #[test]: the runtime is
//! process-wide.)

use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use ws::*;

static RESULTS: AtomicUsize = AtomicUsize::new(0);
static BAD_RESULTS: AtomicUsize = AtomicUsize::new(0);
static EVENTS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn on_result(r: *const ws_result, _: *mut c_void) {
    RESULTS.fetch_add(1, Ordering::SeqCst);
    let r = &*r;
    let msg = std::ffi::CStr::from_ptr(r.err_msg).to_str().unwrap_or("");
    let well_formed = if r.code == WS_OK { msg.ends_with(":ok") } else { msg.contains(":fail ") };
    if !well_formed || r.code > 0 || r.code < WS_ERR_ALREADY_RUNNING {
        BAD_RESULTS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe extern "C" fn on_event(e: *const ws_event, _: *mut c_void) {
    assert!(!e.is_null());
    EVENTS.fetch_add(1, Ordering::SeqCst);
}

#[derive(Debug, Clone)]
enum Op {
    Connect { url: Option<Vec<u8>>, header: Option<(Vec<u8>, Vec<u8>)>, timeout_ms: u32 },
    Send { id: IdChoice, data: Option<Vec<u8>>, huge_len: bool, kind: u32, with_cb: bool },
    Close { id: IdChoice, code: i32, reason: Option<Vec<u8>>, with_cb: bool },
    CloseGroup { group: u64, code: i32 },
    OnEvent { id: IdChoice, with_cb: bool },
    OffEvent { handle: i64 },
    ReadyState { id: IdChoice },
    StrError { code: i32 },
}

#[derive(Debug, Clone)]
enum IdChoice {
    Recent(usize),
    Raw(i64),
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        Just(b"\xff\xfe".to_vec()),
        Just(vec![b'a'; 130]),
        Just("ok text".as_bytes().to_vec()),
    ]
}

fn url() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        Just(Some(b"ws://127.0.0.1:9/".to_vec())), // discard port: refused
        Just(Some(b"ws://127.0.0.1:1/x?y".to_vec())),
        Just(Some(b"http://127.0.0.1/".to_vec())),
        Just(Some(b"".to_vec())),
        Just(Some(b"ws://\xff/".to_vec())),
        bytes().prop_map(Some),
    ]
}

fn id() -> impl Strategy<Value = IdChoice> {
    prop_oneof![
        (0usize..8).prop_map(IdChoice::Recent),
        prop_oneof![Just(0i64), Just(-1), Just(i64::MAX), Just(i64::MIN), any::<i64>()].prop_map(IdChoice::Raw),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (url(), proptest::option::of((bytes(), bytes())), 0u32..300)
            .prop_map(|(url, header, timeout_ms)| Op::Connect { url, header, timeout_ms }),
        (id(), proptest::option::of(bytes()), any::<bool>(), 0u32..4, any::<bool>())
            .prop_map(|(id, data, huge_len, kind, with_cb)| Op::Send { id, data, huge_len, kind, with_cb }),
        (
            id(),
            prop_oneof![Just(0), Just(1000), Just(999), Just(1005), Just(3000), Just(5000), any::<i32>()],
            proptest::option::of(bytes()),
            any::<bool>()
        )
            .prop_map(|(id, code, reason, with_cb)| Op::Close { id, code, reason, with_cb }),
        (0u64..3, prop_oneof![Just(1000), any::<i32>()]).prop_map(|(group, code)| Op::CloseGroup { group, code }),
        (id(), any::<bool>()).prop_map(|(id, with_cb)| Op::OnEvent { id, with_cb }),
        any::<i64>().prop_map(|handle| Op::OffEvent { handle }),
        id().prop_map(|id| Op::ReadyState { id }),
        any::<i32>().prop_map(|code| Op::StrError { code }),
    ]
}

/// Turns bytes into a C string, cutting at the first NUL (C strings cannot hold one).
fn c_string(b: &[u8]) -> CString {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    CString::new(&b[..end]).unwrap()
}

fn valid_code(code: i64) -> bool {
    (WS_ERR_ALREADY_RUNNING as i64..=0).contains(&code)
}

fn run(ops: &[Op], expected_results: &mut usize) {
    let mut ids: Vec<i64> = Vec::new();
    let pick = |ids: &Vec<i64>, c: &IdChoice| match c {
        IdChoice::Recent(i) => ids.get(*i).copied().unwrap_or(1),
        IdChoice::Raw(v) => *v,
    };
    for op in ops {
        unsafe {
            match op {
                Op::Connect { url, header, timeout_ms } => {
                    let url = url.as_ref().map(|u| c_string(u));
                    let (name, value) = header.as_ref().map(|(n, v)| (c_string(n), c_string(v))).unzip();
                    let headers = name
                        .as_ref()
                        .zip(value.as_ref())
                        .map(|(n, v)| [ws_header { name: n.as_ptr(), value: v.as_ptr() }]);
                    let mut o = std::mem::zeroed::<ws_connect_options>();
                    assert_eq!(ws_connect_options_init(&mut o), WS_OK);
                    o.url = url.as_ref().map_or(ptr::null(), |u| u.as_ptr());
                    if let Some(h) = &headers {
                        o.headers = h.as_ptr();
                        o.header_count = 1;
                    }
                    o.timeout_ms = *timeout_ms;
                    o.on_event = Some(on_event);
                    o.on_result = Some(on_result);
                    *expected_results += 1;
                    let id = ws_connect(&o);
                    assert!(id > 0 || valid_code(id), "ws_connect returned {}", id);
                    if id > 0 {
                        ids.insert(0, id);
                    }
                }
                Op::Send { id, data, huge_len, kind, with_cb } => {
                    let (ptr_, len) = match data {
                        Some(d) => (d.as_ptr(), if *huge_len { usize::MAX } else { d.len() }),
                        None => (ptr::null(), if *huge_len { usize::MAX } else { 3 }),
                    };
                    let cb = if *with_cb { Some(on_result as unsafe extern "C" fn(_, _)) } else { None };
                    *expected_results += *with_cb as usize;
                    let rc = ws_send(pick(&ids, id), ptr_, len, *kind, cb, ptr::null_mut());
                    assert!(valid_code(rc as i64), "ws_send returned {}", rc);
                    if *huge_len {
                        assert_ne!(rc, WS_OK, "a huge length must be refused");
                    }
                }
                Op::Close { id, code, reason, with_cb } => {
                    let reason = reason.as_ref().map(|r| c_string(r));
                    let cb = if *with_cb { Some(on_result as unsafe extern "C" fn(_, _)) } else { None };
                    *expected_results += *with_cb as usize;
                    let rc = ws_close(
                        pick(&ids, id),
                        *code,
                        reason.as_ref().map_or(ptr::null(), |r| r.as_ptr()),
                        cb,
                        ptr::null_mut(),
                    );
                    assert!(valid_code(rc as i64), "ws_close returned {}", rc);
                }
                Op::CloseGroup { group, code } => {
                    *expected_results += 1;
                    let rc = ws_close_group(*group, *code, ptr::null(), Some(on_result), ptr::null_mut());
                    assert!(valid_code(rc as i64));
                }
                Op::OnEvent { id, with_cb } => {
                    let cb = if *with_cb { Some(on_event as unsafe extern "C" fn(_, _)) } else { None };
                    let h = ws_on_event(pick(&ids, id), cb, ptr::null_mut());
                    assert!(h > 0 || valid_code(h), "ws_on_event returned {}", h);
                    if !*with_cb {
                        assert_eq!(h, WS_ERR_INVALID_ARGUMENT as i64);
                    }
                }
                Op::OffEvent { handle } => {
                    let rc = ws_off_event(*handle);
                    assert!(rc == WS_OK || rc == WS_ERR_UNKNOWN_LISTENER);
                }
                Op::ReadyState { id } => {
                    let s = ws_ready_state(pick(&ids, id));
                    assert!((WS_CONNECTING..=WS_CLOSED).contains(&s) || s == WS_ERR_UNKNOWN_TASK, "state {}", s);
                }
                Op::StrError { code } => {
                    let p: *const c_char = ws_strerror(*code);
                    assert!(!p.is_null() && *p != 0);
                }
            }
        }
    }
}

#[test]
fn random_calls_return_documented_codes_and_report_once() {
    let expected = std::cell::Cell::new(0usize);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 256, ..ProptestConfig::default() });
    runner
        .run(&proptest::collection::vec(op(), 1..40), |ops| {
            let mut n = expected.get();
            run(&ops, &mut n);
            expected.set(n);
            Ok(())
        })
        .unwrap();
    // Shutdown delivers every outstanding result and close event before it returns.
    assert_eq!(ws_shutdown(), WS_OK);
    assert_eq!(RESULTS.load(Ordering::SeqCst), expected.get(), "every result callback runs exactly once");
    assert_eq!(BAD_RESULTS.load(Ordering::SeqCst), 0, "every errMsg is <api>:ok or <api>:fail <detail>");
}
