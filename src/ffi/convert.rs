//! Internal types to the C values of the header: the only place they meet.

use crate::ffi::types::{WS_CLOSED, WS_CLOSING, WS_CONNECTING, WS_OPEN};
use crate::ready_state::ReadyState;

impl From<ReadyState> for i32 {
    fn from(state: ReadyState) -> i32 {
        match state {
            ReadyState::Connecting => WS_CONNECTING,
            ReadyState::Open => WS_OPEN,
            ReadyState::Closing => WS_CLOSING,
            ReadyState::Closed => WS_CLOSED,
        }
    }
}
