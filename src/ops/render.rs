//! From a step as written to an [`Op`] for one machine: every string rendered with the
//! machine's variables, local files found and hashed, paths checked.

use std::time::Duration;

use minijinja::Value;

use crate::load::operations::UserField;
use crate::steps::{Kind, Step};
use crate::template::Renderer;

use super::put::{sha_of_bytes, sha_of_file, Content, Put};
use super::{
    directory, file, get, line, packages, service, shell, user, Attrs, Mode, Op, Presence,
};

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

struct R<'a> {
    renderer: &'a Renderer,
    ctx: &'a Value,
}

impl R<'_> {
    fn s(&self, what: &str, v: &str) -> Result<String, String> {
        self.renderer
            .render(what, v, self.ctx)
            .map_err(|e| format!("{what}: {e}"))
    }
    fn opt(&self, what: &str, v: &Option<String>) -> Result<Option<String>, String> {
        v.as_deref().map(|v| self.s(what, v)).transpose()
    }
    fn abs(&self, what: &str, v: &str) -> Result<String, String> {
        let out = self.s(what, v)?;
        if !out.starts_with('/') {
            return Err(format!("{what}: `{out}` is not an absolute path"));
        }
        if out.contains('\0') || out.contains('\n') {
            return Err(format!("{what}: a path cannot contain a newline or NUL"));
        }
        Ok(out)
    }
    fn list(&self, what: &str, v: &[String]) -> Result<Vec<String>, String> {
        v.iter().map(|x| self.s(what, x)).collect()
    }
}

fn attrs(
    r: &R<'_>,
    mode: Option<Mode>,
    owner: &Option<String>,
    group: &Option<String>,
) -> Result<Attrs, String> {
    Ok(Attrs {
        mode,
        owner: r.opt("owner", owner)?,
        group: r.opt("group", group)?,
    })
}

/// Render `step` for the machine whose variables are `ctx`.
pub fn render(step: &Step, renderer: &Renderer, ctx: &Value) -> Result<Rendered, String> {
    let r = R { renderer, ctx };
    let s = &step.spec;
    let op = match step.kind {
        Kind::Shell | Kind::Command => {
            let script = match (&s.shell, &s.command) {
                (Some(sh), _) => r.s("shell", sh)?,
                (None, Some(cmd)) => shell::Shell::command(&r.list("command", &cmd.0)?),
                (None, None) => return Err("no command".into()),
            };
            let mut env = Vec::new();
            for (k, v) in s.env.iter() {
                env.push((k.value.clone(), r.s(&format!("env.{}", k.value), &v.0)?));
            }
            Op::Shell(shell::Shell {
                script,
                kind: step.kind.as_str(),
                workdir: r.opt("workdir", &s.workdir)?,
                env,
                creates: r.opt("creates", &s.creates)?,
                unless: r.opt("unless", &s.unless)?,
            })
        }
        Kind::Put => {
            let p = s.put.as_ref().ok_or("no put")?;
            let (content, sha) = match (&p.src, &p.content) {
                (Some(src), _) => {
                    let path = step.base.join(r.s("src", src)?);
                    if !path.is_file() {
                        return Err(format!("src: {} is not a file", path.display()));
                    }
                    let (sha, len) = sha_of_file(&path)
                        .map_err(|e| format!("src: cannot read {}: {e}", path.display()))?;
                    (Content::File { path, len }, sha)
                }
                (None, Some(c)) => {
                    let bytes = r.s("content", c)?.into_bytes();
                    let sha = sha_of_bytes(&bytes);
                    (Content::Bytes(bytes), sha)
                }
                (None, None) => return Err("put needs src or content".into()),
            };
            Op::Put(Put {
                dest: r.abs("dest", &p.dest)?,
                content,
                sha,
                attrs: attrs(&r, p.mode, &p.owner, &p.group)?,
            })
        }
        Kind::Template => {
            let t = s.template.as_ref().ok_or("no template")?;
            let path = step.base.join(r.s("src", &t.src)?);
            let text = std::fs::read(&path)
                .map_err(|e| format!("src: cannot read {}: {}", path.display(), io_reason(&e)))?;
            let text = String::from_utf8(text)
                .map_err(|_| format!("src: {} is not UTF-8 text", path.display()))?;
            let name = path.display().to_string();
            let bytes = renderer
                .render(&name, &text, ctx)
                .map_err(|e| format!("template {name}: {e}"))?
                .into_bytes();
            let sha = sha_of_bytes(&bytes);
            Op::Put(Put {
                dest: r.abs("dest", &t.dest)?,
                content: Content::Bytes(bytes),
                sha,
                attrs: attrs(&r, t.mode, &t.owner, &t.group)?,
            })
        }
        Kind::Get => {
            let g = s.get.as_ref().ok_or("no get")?;
            let dest = r.s("dest", &g.dest)?;
            if dest.is_empty() || dest.ends_with('/') {
                return Err(format!("dest: `{dest}` must name a file"));
            }
            Op::Get(get::Get {
                src: r.abs("src", &g.src)?,
                dest: dest.into(),
            })
        }
        Kind::Directory => {
            let d = s.directory.as_ref().ok_or("no directory")?;
            let path = r.abs("path", &d.path)?;
            if d.state == Presence::Absent && path.trim_end_matches('/').is_empty() {
                return Err("path: refusing to remove /".into());
            }
            Op::Directory(directory::Directory {
                path,
                state: d.state,
                attrs: attrs(&r, d.mode, &d.owner, &d.group)?,
            })
        }
        Kind::File => {
            let f = s.file.as_ref().ok_or("no file")?;
            Op::File(file::File {
                path: r.abs("path", &f.path)?,
                state: f.state,
                attrs: attrs(&r, f.mode, &f.owner, &f.group)?,
            })
        }
        Kind::Line => {
            let l = s.line.as_ref().ok_or("no line")?;
            let text = r.opt("line", &l.line)?.unwrap_or_default();
            if text.contains('\n') {
                return Err("line: must be one line (no newline)".into());
            }
            Op::Line(line::Line {
                path: r.abs("path", &l.path)?,
                line: text,
                state: l.state,
                regexp: r.opt("regexp", &l.regexp)?,
                create: l.create.unwrap_or(true),
            })
        }
        Kind::Packages => {
            let p = s.packages.as_ref().ok_or("no packages")?;
            let names = r.list("names", &p.names)?;
            if let Some(bad) = names
                .iter()
                .find(|n| n.is_empty() || n.starts_with('-') || n.contains(char::is_whitespace))
            {
                return Err(format!("names: `{bad}` is not a package name"));
            }
            Op::Packages(packages::Packages {
                names,
                update: p.update,
                state: p.state,
            })
        }
        Kind::User => {
            let Some(UserField::Manage(u)) = &s.user else {
                return Err("no user".into());
            };
            let name = r.s("name", &u.name)?;
            if name.is_empty() || name.starts_with('-') || name.contains([':', '\n', ' ']) {
                return Err(format!("name: `{name}` is not a user name"));
            }
            Op::User(user::User {
                name,
                state: u.state,
                shell: r.opt("shell", &u.shell)?,
                groups: r.list("groups", &u.groups)?,
                home: r.opt("home", &u.home)?,
            })
        }
        Kind::Service => {
            let v = s.service.as_ref().ok_or("no service")?;
            let name = r.s("name", &v.name)?;
            if name.is_empty() || name.contains(['/', '\n']) || name.starts_with('-') {
                return Err(format!("name: `{name}` is not a service name"));
            }
            Op::Service(service::Service {
                name,
                state: v.state,
                enabled: v.enabled,
            })
        }
    };
    let run_as = if op.needs_root() || s.become_root == Some(true) {
        Some("root".to_string())
    } else {
        match &s.user {
            Some(UserField::RunAs(u)) => Some(r.s("user", u)?),
            _ => None,
        }
    };
    Ok(Rendered {
        op,
        run_as,
        timeout: s.timeout.map(|t| Duration::from_secs(t.0)),
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
