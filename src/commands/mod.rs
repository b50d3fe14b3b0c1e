//! The commands that are not `apply`/`plan`: `inventory`, `machines`, `exec`, `init` and `report merge`.

pub mod exec;
pub mod init;
pub mod inventory;
pub mod machines;
pub mod report;
