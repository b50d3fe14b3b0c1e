//! The operations of an inventory, loaded and checked: every step with exactly one
//! operation, its origin (file:line:column), the directory its local files are relative
//! to, and handlers that exist for every `notify`. Nothing here talks to a machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::inventory::{valid_var_name, Inventory};
use crate::load::operations::{OperationsFile, OpsEntry, RawStep, StepSpec};
pub use crate::ops::Kind;
use crate::ops::OpSpec;
use crate::template::Renderer;
use crate::yaml::Spanned;

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
    /// The common keys as written.
    pub spec: StepSpec,
    /// The operation as written.
    pub op: OpSpec,
}

impl Step {
    /// The operation kind.
    pub fn kind(&self) -> Kind {
        self.op.kind()
    }

    /// The user the step will probably run as, from the step as written (without
    /// rendering): root for `become` and for kinds that need it, a literal `user:`, else
    /// the machine's default user (`Some(None)`). `None`: a `user:` that is a template.
    pub fn likely_user(&self) -> Option<Option<String>> {
        if self.spec.become_root == Some(true) || self.kind().needs_root() {
            return Some(Some("root".to_string()));
        }
        match &self.spec.user {
            Some(u) if u.contains("{{") => None,
            u => Some(u.clone()),
        }
    }
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
    let mut raw: Vec<(Spanned<RawStep>, PathBuf, PathBuf)> = Vec::new();
    let mut raw_handlers: Vec<(Spanned<RawStep>, PathBuf, PathBuf)> = Vec::new();
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
        if let Some(src) = step.op.template_source() {
            if src.contains("{{") || src.contains("{%") {
                book.dynamic_sources = true;
            } else {
                book.sources.push(step.base.join(src));
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
    s: Spanned<RawStep>,
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
    let RawStep { spec, ops } = s.value;
    let op = one_operation(ops, &origin)?;
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| format!("{} {}", op.kind().as_str(), op.summary()));
    let step = Step {
        index,
        name,
        origin,
        base,
        spec,
        op,
    };
    check_common(&step, renderer)?;
    step.op.check().map_err(|e| at(&step, e.to_string()))?;
    Ok(step)
}

/// The one operation of a step (at `origin`), or what to say about none or several.
fn one_operation(ops: Vec<OpSpec>, origin: &str) -> Result<OpSpec, ConfigError> {
    let err = |message: String| ConfigError {
        location: Some(origin.to_string()),
        message,
    };
    let mut ops = ops.into_iter();
    match (ops.next(), ops.next()) {
        (Some(op), None) => Ok(op),
        (None, _) => {
            let keys: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            let (last, rest) = keys.split_last().unwrap_or((&"", &[]));
            Err(err(format!(
                "a step needs one operation: {} or {last}",
                rest.join(", ")
            )))
        }
        (Some(first), Some(second)) => {
            let names: Vec<&str> = [first, second]
                .iter()
                .chain(ops.as_slice())
                .map(|op| op.kind().as_str())
                .collect();
            Err(err(format!(
                "a step has exactly one operation, this one has {}; split it into separate steps",
                names.join(" and ")
            )))
        }
    }
}

/// The checks of the keys every step has.
fn check_common(step: &Step, renderer: &Renderer) -> Result<(), ConfigError> {
    let spec = &step.spec;
    if spec.become_root == Some(true) && spec.user.is_some() {
        return Err(at(step, "give either `become: true` or `user:`, not both"));
    }
    if !step.kind().is_command() {
        let commands: Vec<&str> = Kind::ALL
            .iter()
            .filter(|k| k.is_command())
            .map(|k| k.as_str())
            .collect();
        for (key, set) in [
            ("creates", spec.creates.is_some()),
            ("unless", spec.unless.is_some()),
            ("workdir", spec.workdir.is_some()),
            ("env", !spec.env.0.is_empty()),
        ] {
            if set {
                return Err(at(
                    step,
                    format!("`{key}` applies to {} steps only", commands.join(" and ")),
                ));
            }
        }
    }
    for (k, _) in spec.env.iter() {
        if !valid_var_name(&k.value) {
            return Err(at(
                step,
                format!("env: `{}` is not a valid variable name", k.value),
            ));
        }
    }
    if let Some(r) = &spec.register {
        if !valid_var_name(r) || RESERVED.contains(&r.as_str()) {
            return Err(at(step, format!("register: `{r}` is not a name a variable can have (letters, digits, `_`; not a built-in)")));
        }
    }
    if let Some(w) = &spec.when {
        renderer
            .check_expression(&w.value)
            .map_err(|e| at(step, format!("when: {e}")))?;
    }
    if spec.retries.is_some_and(|r| r > 100) {
        return Err(at(step, "retries: at most 100"));
    }
    Ok(())
}
