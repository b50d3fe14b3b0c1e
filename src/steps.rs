//! The operations of an inventory, loaded and checked: every step with exactly one
//! operation, its origin (file:line:column), the directory its local files are relative
//! to, and handlers that exist for every `notify`. Nothing here talks to a machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::inventory::{valid_var_name, Inventory};
use crate::load::operations::{OperationsFile, OpsEntry, StepSpec, UserField};
use crate::template::Renderer;
use crate::yaml::Spanned;

/// The operation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `shell`
    Shell,
    /// `command`
    Command,
    /// `put`
    Put,
    /// `get`
    Get,
    /// `template`
    Template,
    /// `directory`
    Directory,
    /// `file`
    File,
    /// `line`
    Line,
    /// `packages`
    Packages,
    /// `user`
    User,
    /// `service`
    Service,
}

impl Kind {
    /// The YAML key.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Shell => "shell",
            Kind::Command => "command",
            Kind::Put => "put",
            Kind::Get => "get",
            Kind::Template => "template",
            Kind::Directory => "directory",
            Kind::File => "file",
            Kind::Line => "line",
            Kind::Packages => "packages",
            Kind::User => "user",
            Kind::Service => "service",
        }
    }
}

/// One checked step (or handler).
#[derive(Debug, Clone)]
pub struct Step {
    /// Position among the steps (or handlers), from 0.
    pub index: usize,
    /// Display name: `name:` or one made from the operation.
    pub name: String,
    /// `file:line:column` of the step.
    pub origin: String,
    /// Local `src` paths are relative to this directory.
    pub base: PathBuf,
    /// The operation kind.
    pub kind: Kind,
    /// The step as written.
    pub spec: StepSpec,
}

/// Steps and handlers.
#[derive(Debug, Clone, Default)]
pub struct Playbook {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Handlers in order.
    pub handlers: Vec<Step>,
    /// Every local file the steps come from or render (operations files, templates).
    pub sources: Vec<PathBuf>,
    /// A template's path is itself a template, so `sources` may be incomplete.
    pub dynamic_sources: bool,
}

impl Playbook {
    /// True when the inventory, an operations file or a template mentions one of `words`
    /// (used to skip `orbctl info` calls for `ip4` when nothing reads it).
    pub fn mentions(&self, inv: &Inventory, words: &[&str]) -> bool {
        if self.dynamic_sources {
            return true;
        }
        std::iter::once(&inv.file)
            .chain(&self.sources)
            .any(|p| match std::fs::read_to_string(p) {
                Ok(text) => words.iter().any(|w| text.contains(w)),
                Err(_) => true,
            })
    }
}

/// Names a step may not register under (they would shadow built-ins).
const RESERVED: [&str; 10] = [
    "machine", "user", "distro", "version", "arch", "ip4", "groups", "hostvars", "env", "item",
];

/// Load every operations file the inventory refers to and check the steps.
pub fn load(inv: &Inventory, renderer: &Renderer) -> Result<Playbook, ConfigError> {
    let mut book = Playbook::default();
    let mut raw: Vec<(Spanned<StepSpec>, PathBuf, PathBuf)> = Vec::new();
    let mut raw_handlers: Vec<(Spanned<StepSpec>, PathBuf, PathBuf)> = Vec::new();
    if let Some(ops) = &inv.operations {
        for entry in &ops.entries {
            match entry {
                OpsEntry::Step(s) => raw.push(((**s).clone(), inv.file.clone(), inv.dir.clone())),
                OpsEntry::File(f) => {
                    // `ops.yaml`, not `./ops.yaml`, in messages about a file beside the
                    // inventory.
                    let path = if inv.dir == Path::new(".") {
                        PathBuf::from(&f.value)
                    } else {
                        inv.dir.join(&f.value)
                    };
                    if !path.is_file() {
                        let msg = format!("operations file {} does not exist", path.display());
                        return Err(if f.referenced.line() > 0 {
                            ConfigError::at(
                                &inv.file,
                                f.referenced.line(),
                                f.referenced.column(),
                                msg,
                            )
                        } else {
                            ConfigError::in_file(&inv.file, msg)
                        });
                    }
                    let doc: OperationsFile = crate::yaml::parse_file(&path)?;
                    book.sources.push(path.clone());
                    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    for s in doc.0.steps {
                        raw.push((s, path.clone(), base.clone()));
                    }
                    for h in doc.0.handlers {
                        raw_handlers.push((h, path.clone(), base.clone()));
                    }
                }
            }
        }
        for h in &ops.handlers {
            raw_handlers.push((h.clone(), inv.file.clone(), inv.dir.clone()));
        }
    }
    for (i, (s, file, base)) in raw.into_iter().enumerate() {
        book.steps.push(check(i, s, &file, base, renderer)?);
    }
    let mut names = BTreeSet::new();
    for (i, (s, file, base)) in raw_handlers.into_iter().enumerate() {
        let step = check(i, s, &file, base, renderer)?;
        if step.spec.name.is_none() {
            return Err(at(
                &step,
                "a handler needs a `name:` (steps notify it by name)",
            ));
        }
        if !names.insert(step.name.clone()) {
            return Err(at(&step, format!("a second handler named `{}`", step.name)));
        }
        if !step.spec.notify.0.is_empty() {
            return Err(at(&step, "handlers cannot notify other handlers"));
        }
        book.handlers.push(step);
    }
    for step in book.steps.iter().chain(&book.handlers) {
        if let Some(t) = &step.spec.template {
            if t.src.contains("{{") || t.src.contains("{%") {
                book.dynamic_sources = true;
            } else {
                book.sources.push(step.base.join(&t.src));
            }
        }
    }
    for step in &book.steps {
        for n in &step.spec.notify.0 {
            if !names.contains(n) {
                let known: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                return Err(at(
                    step,
                    format!(
                        "notify: no handler named `{n}` ({})",
                        if known.is_empty() {
                            "there are no handlers".to_string()
                        } else {
                            format!("handlers: {}", known.join(", "))
                        }
                    ),
                ));
            }
        }
    }
    Ok(book)
}

/// Check `hosts:` patterns against the inventory (after `orbctl list`, so derived groups
/// such as `orbstack_running` are known).
pub fn check_hosts(book: &Playbook, inv: &Inventory) -> Result<(), ConfigError> {
    for step in book.steps.iter().chain(&book.handlers) {
        for p in &step.spec.hosts.0 {
            if p == "all" {
                continue;
            }
            if let Err(e) = inv.select(p) {
                return Err(at(step, format!("hosts: {e}")));
            }
        }
    }
    Ok(())
}

/// An error at a step's position.
pub fn at(step: &Step, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        location: Some(step.origin.clone()),
        message: format!("step `{}`: {}", step.name, msg.into()),
    }
}

fn check(
    index: usize,
    s: Spanned<StepSpec>,
    file: &Path,
    base: PathBuf,
    renderer: &Renderer,
) -> Result<Step, ConfigError> {
    let origin = format!(
        "{}:{}:{}",
        file.display(),
        s.referenced.line(),
        s.referenced.column()
    );
    let spec = s.value;
    let err = |m: String| ConfigError {
        location: Some(origin.clone()),
        message: m,
    };
    let mut kinds = Vec::new();
    if spec.shell.is_some() {
        kinds.push(Kind::Shell);
    }
    if spec.command.is_some() {
        kinds.push(Kind::Command);
    }
    if spec.put.is_some() {
        kinds.push(Kind::Put);
    }
    if spec.get.is_some() {
        kinds.push(Kind::Get);
    }
    if spec.template.is_some() {
        kinds.push(Kind::Template);
    }
    if spec.directory.is_some() {
        kinds.push(Kind::Directory);
    }
    if spec.file.is_some() {
        kinds.push(Kind::File);
    }
    if spec.line.is_some() {
        kinds.push(Kind::Line);
    }
    if spec.packages.is_some() {
        kinds.push(Kind::Packages);
    }
    if matches!(spec.user, Some(UserField::Manage(_))) {
        kinds.push(Kind::User);
    }
    if spec.service.is_some() {
        kinds.push(Kind::Service);
    }
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => return Err(err(
            "a step needs one operation: shell, command, put, get, template, directory, file, line, packages, user or service".into(),
        )),
        many => {
            let names: Vec<&str> = many.iter().map(|k| k.as_str()).collect();
            return Err(err(format!(
                "a step has exactly one operation, this one has {}; split it into separate steps",
                names.join(" and ")
            )));
        }
    };
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| default_name(kind, &spec));
    let step = Step {
        index,
        name,
        origin: origin.clone(),
        base,
        kind,
        spec,
    };
    let spec = &step.spec;
    if spec.become_root == Some(true) && matches!(spec.user, Some(UserField::RunAs(_))) {
        return Err(at(&step, "give either `become: true` or `user:`, not both"));
    }
    if !matches!(kind, Kind::Shell | Kind::Command) {
        for (key, set) in [
            ("creates", spec.creates.is_some()),
            ("unless", spec.unless.is_some()),
            ("workdir", spec.workdir.is_some()),
            ("env", !spec.env.0.is_empty()),
        ] {
            if set {
                return Err(at(
                    &step,
                    format!("`{key}` applies to shell and command steps only"),
                ));
            }
        }
    }
    for (k, _) in spec.env.iter() {
        if !valid_var_name(&k.value) {
            return Err(at(
                &step,
                format!("env: `{}` is not a valid variable name", k.value),
            ));
        }
    }
    if let Some(r) = &spec.register {
        if !valid_var_name(r) || RESERVED.contains(&r.as_str()) {
            return Err(at(&step, format!("register: `{r}` is not a name a variable can have (letters, digits, `_`; not a built-in)")));
        }
    }
    if let Some(w) = &spec.when {
        renderer
            .check_expression(&w.value)
            .map_err(|e| at(&step, format!("when: {e}")))?;
    }
    if spec.retries.is_some_and(|r| r > 100) {
        return Err(at(&step, "retries: at most 100"));
    }
    if let Some(p) = &spec.put {
        match (&p.src, &p.content) {
            (Some(_), Some(_)) => return Err(at(&step, "put: give `src` or `content`, not both")),
            (None, None) => return Err(at(&step, "put: needs `src` (a local file) or `content`")),
            _ => {}
        }
    }
    if let Some(p) = &spec.packages {
        if p.names.is_empty() {
            return Err(at(&step, "packages: `names` is empty"));
        }
    }
    if let Some(l) = &spec.line {
        use crate::ops::Presence;
        if l.state == Presence::Present && l.line.is_none() {
            return Err(at(&step, "line: `state: present` needs `line`"));
        }
        if l.line.is_none() && l.regexp.is_none() {
            return Err(at(&step, "line: needs `line` or `regexp`"));
        }
    }
    if let Some(svc) = &spec.service {
        if svc.state.is_none() && svc.enabled.is_none() {
            return Err(at(&step, "service: give `state` and/or `enabled`"));
        }
    }
    Ok(step)
}

fn short(s: &str) -> String {
    let one = s.lines().next().unwrap_or_default();
    if one.chars().count() > 50 || s.lines().count() > 1 {
        format!("{}…", one.chars().take(50).collect::<String>())
    } else {
        one.to_string()
    }
}

fn default_name(kind: Kind, s: &StepSpec) -> String {
    let what = match kind {
        Kind::Shell => s.shell.as_deref().map(short),
        Kind::Command => s.command.as_ref().map(|c| short(&c.0.join(" "))),
        Kind::Put => s.put.as_ref().map(|p| p.dest.clone()),
        Kind::Get => s.get.as_ref().map(|g| g.src.clone()),
        Kind::Template => s.template.as_ref().map(|t| t.dest.clone()),
        Kind::Directory => s.directory.as_ref().map(|d| d.path.clone()),
        Kind::File => s.file.as_ref().map(|f| f.path.clone()),
        Kind::Line => s.line.as_ref().map(|l| l.path.clone()),
        Kind::Packages => s.packages.as_ref().map(|p| p.names.join(", ")),
        Kind::User => match &s.user {
            Some(UserField::Manage(u)) => Some(u.name.clone()),
            _ => None,
        },
        Kind::Service => s.service.as_ref().map(|v| v.name.clone()),
    };
    format!("{} {}", kind.as_str(), what.unwrap_or_default())
}
