//! The commands that are not `apply`/`plan`: `inventory`, `machines` and `exec`.

pub mod exec;
pub mod inventory;
pub mod machines;
