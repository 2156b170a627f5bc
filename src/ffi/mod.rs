//! The C surface only: argument checks, the panic boundary, and C types. Behaviour lives in the
//! runtime, the loop and the task.

pub mod api;
mod convert;
pub mod panic;
pub mod types;
pub mod versioned;
