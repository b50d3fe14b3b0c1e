//! The commands that are not `apply`/`plan`: `inventory`, `machines`, `exec` and `init`.

pub mod exec;
pub mod init;
pub mod inventory;
pub mod machines;
