//! `get`: copy a file from the machine to this computer, only when the checksums differ,
//! into a temporary file beside the destination that is renamed into place.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::quote::quote;

use super::attrs::{self, Kind};
use super::put::hash_file;
use super::{Applied, Ctx, Decision, Facts, Failure, Operation, RenderCtx, RenderError};

/// `get:` — a file from the machine to a local path.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "get")]
pub struct Spec {
    /// Absolute path on the machine.
    pub src: String,
    /// Local destination, relative to the current directory.
    pub dest: String,
}

/// A rendered get step.
#[derive(Debug, Clone)]
pub struct Get {
    /// Path on the machine.
    pub src: String,
    /// Local destination.
    pub dest: PathBuf,
}

impl Operation for Get {
    const KEY: &'static str = "get";
    type Spec = Spec;

    fn summary(spec: &Spec) -> String {
        spec.src.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Get, RenderError> {
        let dest = ctx.text("dest", &spec.dest)?;
        if dest.is_empty() || dest.ends_with('/') {
            return Err(RenderError::Invalid {
                field: "dest",
                value: dest,
                problem: "must name a file",
            });
        }
        Ok(Get {
            src: ctx.abs_path("src", &spec.src)?,
            dest: dest.into(),
        })
    }

    fn probe(&self) -> Option<String> {
        let p = quote(&self.src);
        Some(format!(
            "{}if [ -f {p} ]; then printf '.sha '; sha256sum < {p}; fi\n",
            attrs::probe(&self.src, &Default::default())
        ))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
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

    fn apply(&self, ctx: &mut Ctx<'_>, _facts: &Facts) -> Result<Applied, Failure> {
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
        let _guard = crate::interrupt::HardExitGuard::new(&tmp);
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
        result.map(|()| Applied::default())
    }
}
