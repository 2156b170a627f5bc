//! A task's readyState and its transitions. Only forward: CONNECTING → OPEN → CLOSING; CLOSED is
//! a task gone from the registry. The C values (`WS_CONNECTING` ...) exist only in `ffi/`.

/// A task's readyState, as `ws_ready_state` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyState {
    Connecting,
    Open,
    Closing,
    Closed,
}

impl ReadyState {
    /// The opening handshake succeeded: CONNECTING becomes OPEN. A task already closing stays so.
    pub fn on_open(self) -> Self {
        match self {
            ReadyState::Connecting => ReadyState::Open,
            s => s,
        }
    }

    /// The close handshake began (`ws_close`, or the loop sent or got a close frame): OPEN
    /// becomes CLOSING. A state set early by `ws_close` is not undone when the loop reports it.
    pub fn close_requested(self) -> Self {
        match self {
            ReadyState::Open => ReadyState::Closing,
            s => s,
        }
    }

    /// The state the loop reported (`Output::State`) applied as its transition.
    pub fn reached(self, state: ReadyState) -> Self {
        match state {
            ReadyState::Open => self.on_open(),
            ReadyState::Closing => self.close_requested(),
            ReadyState::Connecting | ReadyState::Closed => self,
        }
    }

    /// The name errMsg texts use ("readyState CLOSING").
    pub fn name(self) -> &'static str {
        match self {
            ReadyState::Connecting => "CONNECTING",
            ReadyState::Open => "OPEN",
            ReadyState::Closing => "CLOSING",
            ReadyState::Closed => "CLOSED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReadyState::*;

    #[test]
    fn transitions_only_move_forward() {
        assert_eq!(Connecting.on_open(), Open);
        assert_eq!(Closing.on_open(), Closing);
        assert_eq!(Open.close_requested(), Closing);
        assert_eq!(Connecting.close_requested(), Connecting, "a connecting task is aborted, not CLOSING");
        assert_eq!(Closing.reached(Open), Closing, "ws_close's CLOSING is not undone by the loop");
        assert_eq!(Open.reached(Closing), Closing);
        assert_eq!(Open.reached(Connecting), Open);
    }
}
