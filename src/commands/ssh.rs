//! `orbdeploy ssh close`: end every ssh connection `persist` kept open for this user
//! (src/remote/ssh/persist.rs).

use anyhow::Result;

use crate::remote::ssh::persist;

/// End them, and say how many there were.
pub fn close() -> Result<()> {
    let dir = persist::dir_path();
    let (closed, stale) = persist::close_all()?;
    let stale = if stale > 0 {
        format!(" (and removed {stale} socket(s) nothing answered on)")
    } else {
        String::new()
    };
    println!(
        "closed {closed} persisted ssh connection(s) in {}{stale}",
        dir.display()
    );
    Ok(())
}
