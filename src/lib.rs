//! libws: a WebSocket client with a C ABI for mini-program host runtimes.
//!
//! Data flows one way each direction: C call → `ffi::api` → `Command` → loop thread → `Task` →
//! socket, and socket → `Task` → `Output` → `event` → C callback. See docs/ARCHITECTURE.md.

// Every unsafe operation sits in its own `unsafe {}` block, and (in the library; tests call the C
// API as the header says) every block and `unsafe impl` has a `// SAFETY:` comment saying why it holds.
#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(not(test), deny(clippy::undocumented_unsafe_blocks))]

mod buffered;
mod callback;
mod close_code;
mod command;
mod config;
mod connection;
mod decoder;
mod deflate;
mod dispatcher;
mod dns;
mod error;
mod event;
mod event_loop;
mod eyeballs;
pub mod ffi;
mod frame;
/// Property checks for fuzz/ and tests/fuzz_corpus.rs; not API.
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod id_map;
mod log;
mod options;
mod outbox;
mod pin;
mod profile;
mod proxy;
mod ready_state;
mod registry;
mod resolve;
mod runtime;
mod shared;
mod socket;
mod stream;
mod task;
mod tls;

pub use ffi::api::*;
pub use ffi::types::*;
