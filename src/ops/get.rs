//! `get`: copy a file from the machine to this computer, only when the checksums differ,
//! into a temporary file beside the destination that is renamed into place.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::quote::quote;

use super::attrs::{self, Kind};
use super::put::hash_file;
use super::{Ctx, Decision, Facts, Failure};

/// A rendered get step.
#[derive(Debug, Clone)]
pub struct Get {
    /// Path on the machine.
    pub src: String,
    /// Local destination.
    pub dest: PathBuf,
}

impl Get {
    pub(super) fn probe(&self) -> String {
        let p = quote(&self.src);
        format!(
            "{}if [ -f {p} ]; then printf '.sha '; sha256sum < {p}; fi\n",
            attrs::probe(&self.src, &Default::default())
        )
    }

    pub(super) fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let stat = attrs::parse(facts, &self.src)?;
        match stat.kind {
            Kind::Missing => {
                return Err(Failure::msg(format!(
                    "{} does not exist on the machine",
                    self.src
                )))
            }
            Kind::File => {}
            _ => return Err(Failure::msg(format!("{} is not a regular file", self.src))),
        }
        let remote_sha = super::put::sha_fact(facts).ok_or_else(|| {
            Failure::msg(format!("cannot read {}: {}", self.src, facts.noise_text()))
        })?;
        match hash_file(&self.dest) {
            Ok((local, _)) if local == remote_sha => Ok(Decision::Unchanged),
            Ok(_) => Ok(Decision::Change(vec![format!(
                "update {} ({} bytes)",
                self.dest.display(),
                stat.size
            )])),
            Err(_) => Ok(Decision::Change(vec![format!(
                "create {} ({} bytes)",
                self.dest.display(),
                stat.size
            )])),
        }
    }

    pub(super) fn apply(&self, ctx: &mut Ctx<'_>) -> Result<(), Failure> {
        let dir = match self.dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure::msg(format!("cannot create {}: {e}", dir.display())))?;
        let name = self
            .dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.orbdeploy-{}", std::process::id()));
        let result = (|| -> Result<(), Failure> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| Failure::msg(format!("cannot write {}: {e}", tmp.display())))?;
            ctx.remote
                .read_file(&self.src, ctx.user.as_deref(), &mut f)
                .map_err(Failure::from)?;
            f.flush()
                .and_then(|()| f.sync_all())
                .map_err(|e| Failure::msg(format!("cannot write {}: {e}", tmp.display())))?;
            std::fs::rename(&tmp, &self.dest).map_err(|e| {
                Failure::msg(format!("cannot rename into {}: {e}", self.dest.display()))
            })
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}
