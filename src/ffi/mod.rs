//! The C surface only: argument checks, the panic boundary, and C types. Behaviour lives in the
//! runtime, the loop and the task.

pub mod api;
pub mod panic;
pub mod types;
pub mod versioned;
