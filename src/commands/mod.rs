//! The commands that are not `apply`/`plan`: `inventory`, `machines`, `exec`, `init`, `schema`, `report merge` and `ssh close`.

pub mod exec;
pub mod init;
pub mod inventory;
pub mod machines;
pub mod report;
pub mod schema;
pub mod ssh;
