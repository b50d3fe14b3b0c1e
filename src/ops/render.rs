//! From a step as written to an [`Op`] for one machine: every string rendered with the
//! machine's variables, local files found and hashed, paths checked. Each kind renders its
//! own spec ([`super::Operation::render`]) with the helpers of [`RenderCtx`]; this module
//! adds what every step has (the user it runs as, its time limit).

use std::path::{Path, PathBuf};
use std::time::Duration;

use minijinja::Value;

use crate::spec::StepSpec;
use crate::template::Renderer;

use super::Op;

/// A step ready to run on one machine.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The operation.
    pub op: Op,
    /// Run as this user (`None`: the machine's default user).
    pub run_as: Option<String>,
    /// Time limit per attempt.
    pub timeout: Option<Duration>,
}

/// Why a step cannot be rendered for a machine. Each message starts with the key whose
/// value is wrong, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A value is not a valid template, or uses an undefined variable.
    #[error("{field}: {message}")]
    Template {
        /// The key (`dest`, `env.NAME`, ...).
        field: String,
        /// The template engine's message.
        message: String,
    },
    /// A local template file did not render.
    #[error("template {name}: {message}")]
    TemplateFile {
        /// The file, as the message shows it.
        name: String,
        /// The template engine's message.
        message: String,
    },
    /// A path on the machine is relative.
    #[error("{field}: `{value}` is not an absolute path")]
    NotAbsolute {
        /// The key.
        field: &'static str,
        /// The rendered path.
        value: String,
    },
    /// A path on the machine contains a newline or NUL (the probes are line-based).
    #[error("{field}: a path cannot contain a newline or NUL")]
    PathCharacter {
        /// The key.
        field: &'static str,
    },
    /// A local file is missing or not a regular file.
    #[error("{field}: {} is not a file", path.display())]
    NotAFile {
        /// The key.
        field: &'static str,
        /// The local path.
        path: PathBuf,
    },
    /// A local file cannot be read.
    #[error("{field}: cannot read {}: {reason}", path.display())]
    Unreadable {
        /// The key.
        field: &'static str,
        /// The local path.
        path: PathBuf,
        /// Why, in words.
        reason: String,
    },
    /// A local template is not UTF-8 text.
    #[error("{field}: {} is not UTF-8 text", path.display())]
    NotText {
        /// The key.
        field: &'static str,
        /// The local path.
        path: PathBuf,
    },
    /// A value is not a name of the kind it must be (package, user, service, file).
    #[error("{field}: `{value}` {problem}")]
    Invalid {
        /// The key.
        field: &'static str,
        /// The rendered value.
        value: String,
        /// What is wrong with it, e.g. "is not a package name".
        problem: &'static str,
    },
    /// A value is refused whatever it renders to (`/` to remove, a line with a newline).
    #[error("{field}: {problem}")]
    Refused {
        /// The key.
        field: &'static str,
        /// Why.
        problem: &'static str,
    },
}

/// What a kind renders its spec with: the template engine, the machine's variables, the
/// directory local files are relative to, and the step's common keys.
pub struct RenderCtx<'a> {
    /// Renders templates.
    pub renderer: &'a Renderer,
    /// The machine's variables (and what earlier steps registered).
    pub vars: &'a Value,
    /// Local `src` paths are relative to this directory.
    pub base: &'a Path,
    /// Where a relative local path is looked for first (a role's `files/` or
    /// `templates/`), then `base`.
    pub search: &'a [PathBuf],
    /// The step's common keys (shell and command read `env`, `workdir`, `creates`, `unless`).
    pub step: &'a StepSpec,
}

impl RenderCtx<'_> {
    /// `v` rendered; `field` names the key in a message.
    pub fn text(&self, field: &str, v: &str) -> Result<String, RenderError> {
        self.renderer
            .render_in(field, v, self.vars, self.base)
            .map_err(|message| RenderError::Template {
                field: field.to_string(),
                message,
            })
    }

    /// An optional value rendered.
    pub fn opt(&self, field: &str, v: &Option<String>) -> Result<Option<String>, RenderError> {
        v.as_deref().map(|v| self.text(field, v)).transpose()
    }

    /// Every value of a list rendered.
    pub fn list(&self, field: &str, v: &[String]) -> Result<Vec<String>, RenderError> {
        v.iter().map(|x| self.text(field, x)).collect()
    }

    /// An absolute path on the machine, rendered.
    pub fn abs_path(&self, field: &'static str, v: &str) -> Result<String, RenderError> {
        let out = self.text(field, v)?;
        if !out.starts_with('/') {
            return Err(RenderError::NotAbsolute { field, value: out });
        }
        if out.contains('\0') || out.contains('\n') {
            return Err(RenderError::PathCharacter { field });
        }
        Ok(out)
    }

    /// A local path, rendered, relative to the step's operations file — in a role, to its
    /// `files/` or `templates/` first, when it is there.
    pub fn local_path(&self, field: &'static str, v: &str) -> Result<PathBuf, RenderError> {
        let rel = self.text(field, v)?;
        let found = self
            .search
            .iter()
            .map(|d| d.join(&rel))
            .find(|p| p.exists());
        Ok(found.unwrap_or_else(|| self.base.join(&rel)))
    }
}

/// An I/O error in the few words a message about a local file needs.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
