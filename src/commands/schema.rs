//! `orbdeploy schema inventory|operations`: prints the JSON Schema an editor validates
//! and completes the file with (see [`crate::load::schema`]).

use std::io::Write;

use crate::load::schema::{text, Document};

/// Print the schema of `doc` to stdout. A closed stdout is the error to end on (exit 141,
/// quietly), as for every command that only prints.
pub fn print(doc: Document) -> std::io::Result<()> {
    std::io::stdout().lock().write_all(text(doc).as_bytes())
}
