//! The commands that are not `apply`/`plan`: `inventory`, `machines`, `exec`, `init`
//! and `secrets`.

pub mod exec;
pub mod init;
pub mod inventory;
pub mod machines;
pub mod secrets;
