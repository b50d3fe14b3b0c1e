//! Roles: `- role: NAME` finds `roles/NAME/` beside the inventory, then on `--roles-path`
//! and `ORBDEPLOY_ROLES_PATH`, and puts its `steps.yaml` in place of the call, with its
//! `defaults.yaml` below every inventory variable, its `handlers.yaml` (loaded once, in
//! the role's own handler scope) and its `files/` and `templates/` first on the search
//! path of a relative `src:`. `role.yaml` may describe the role and its arguments: the
//! call's `vars:` are checked against them here, before anything runs.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value as Json;

use super::include::{self, call_error, only_keys, parent, position, vars_of, Loader, Place};
use super::{Call, Link, RoleRef};
use crate::error::ConfigError;
use crate::load::operations::RawStep;
use crate::spanned_map::SpannedMap;
use crate::template::describe_json;
use crate::template::TemplateVars;
use crate::yaml::Spanned;

/// The keys a `role:` call takes (besides `role` itself).
const ROLE_KEYS: [&str; 5] = ["name", "vars", "hosts", "tags", "when"];

/// `role.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleMeta {
    /// What the role does.
    #[allow(dead_code)]
    description: Option<String>,
    /// The arguments a call's `vars:` may give.
    args: Option<SpannedMap<ArgSpec>>,
}

/// One argument of a role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgSpec {
    /// Its type.
    #[serde(rename = "type")]
    ty: ArgType,
    /// A call must give it.
    #[serde(default)]
    required: bool,
    /// The values it may take.
    choices: Option<Vec<Json>>,
    /// Its value when a call gives none (a default, below every inventory variable).
    default: Option<Json>,
    /// What it is for.
    #[allow(dead_code)]
    description: Option<String>,
}

/// The type of a role argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ArgType {
    String,
    Int,
    Bool,
    List,
    Map,
}

impl ArgType {
    fn word(self) -> &'static str {
        match self {
            ArgType::String => "a string",
            ArgType::Int => "an int",
            ArgType::Bool => "a bool",
            ArgType::List => "a list",
            ArgType::Map => "a map",
        }
    }

    fn accepts(self, v: &Json) -> bool {
        match self {
            ArgType::String => v.is_string(),
            ArgType::Int => v.is_i64() || v.is_u64(),
            ArgType::Bool => v.is_boolean(),
            ArgType::List => v.is_array(),
            ArgType::Map => v.is_object(),
        }
    }
}

/// The files of a role.
pub(super) struct RoleFiles {
    dir: PathBuf,
    steps: PathBuf,
    pub handlers: Option<PathBuf>,
    defaults: Option<PathBuf>,
    meta: Option<PathBuf>,
}

/// A name a role can have: letters, digits, `_`, `-` and `.`, not starting with `.`.
fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Find role `name` on the search path.
fn find(loader: &Loader<'_>, name: &str) -> Result<RoleFiles, String> {
    for root in &loader.roles_path {
        let dir = root.join(name);
        if !dir.is_dir() {
            continue;
        }
        let steps = dir.join("steps.yaml");
        if !steps.is_file() {
            return Err(format!(
                "role `{name}`: {} does not exist (a role needs its steps there)",
                steps.display()
            ));
        }
        let file = |f: &str| Some(dir.join(f)).filter(|p| p.is_file());
        return Ok(RoleFiles {
            handlers: file("handlers.yaml"),
            defaults: file("defaults.yaml"),
            meta: file("role.yaml"),
            steps,
            dir,
        });
    }
    let looked: Vec<String> = loader
        .roles_path
        .iter()
        .map(|d| d.join(name).display().to_string())
        .collect();
    Err(format!(
        "role `{name}` not found (looked in {}; add a directory with --roles-path or ORBDEPLOY_ROLES_PATH)",
        looked.join(", ")
    ))
}

/// `- role: NAME`: the role's steps in place of the call.
pub(super) fn call(
    loader: &mut Loader<'_>,
    s: Spanned<RawStep>,
    place: &Place,
) -> Result<(), ConfigError> {
    only_keys(&s, place, "role", &ROLE_KEYS)?;
    let Some(name) = s.value.spec.role.as_ref().map(|r| r.value.clone()) else {
        return Ok(());
    };
    if !valid_role_name(&name) {
        let msg = format!("role: `{name}` is not a role name (letters, digits, `_`, `-`, `.`)");
        return Err(call_error(&s, place, &msg));
    }
    if let Some(i) = loader.roles.iter().position(|r| *r == name) {
        let mut names: Vec<&str> = loader.roles[i..].iter().map(String::as_str).collect();
        names.push(&name);
        let msg = format!("role cycle: {}", names.join(" → "));
        return Err(call_error(&s, place, &msg));
    }
    let files = find(loader, &name).map_err(|m| call_error(&s, place, &m))?;
    let chain_here = include::with_chain;
    let meta: RoleMeta = match &files.meta {
        Some(p) => crate::yaml::parse_file(p, loader.renderer.read_log())
            .map_err(|e| chain_here(e, &place.chain))?,
        None => RoleMeta::default(),
    };
    let vars = vars_of(&s.value.spec, place)?;
    let defaults = defaults(&files, &meta, place, loader.renderer.read_log())?;
    check_args(&meta, &vars, &name).map_err(|m| call_error(&s, place, &m))?;
    let what = format!("role {name}");
    let role = RoleRef {
        name: name.clone(),
        dir: files.dir.clone(),
    };
    let mut scope = loader.child_scope(&s, place, &what, Some(role))?;
    scope.defaults.extend(defaults.clone());
    scope.vars.extend(vars.clone());
    let first_call = !loader.role_scopes.contains_key(&name);
    let handler_scope = loader.role_scopes.len() + 1;
    scope.handler_scope = *loader
        .role_scopes
        .entry(name.clone())
        .or_insert(handler_scope);
    let at = position(&place.file, &s);
    loader.record_call(Call {
        at: format!("{at}{}", super::via(&place.chain)),
        what: what.clone(),
        vars,
        defaults,
    });
    let mut chain = place.chain.clone();
    chain.push(Link { at, what });
    let inner = Place {
        file: files.steps.clone(),
        base: parent(&files.steps),
        scope: Arc::new(scope),
        chain,
    };
    loader.roles.push(name);
    let result = loader
        .file(&files.steps, &inner)
        .and_then(|()| match first_call {
            true => loader.role_handlers(&files, &inner),
            false => Ok(()),
        });
    loader.roles.pop();
    result
}

/// A role's defaults: its arguments' `default:`, then `defaults.yaml` over them.
fn defaults(
    files: &RoleFiles,
    meta: &RoleMeta,
    place: &Place,
    log: &crate::read_log::ReadLog,
) -> Result<TemplateVars, ConfigError> {
    let mut out = TemplateVars::new();
    if let Some(args) = &meta.args {
        for (k, a) in args.iter() {
            if let Some(d) = &a.default {
                out.insert(k.value.clone(), d.clone());
            }
        }
    }
    if let Some(p) = &files.defaults {
        let map: SpannedMap<Json> =
            crate::yaml::parse_file(p, log).map_err(|e| include::with_chain(e, &place.chain))?;
        for (k, v) in map.iter() {
            if !crate::inventory::valid_var_name(&k.value) {
                return Err(ConfigError {
                    location: Some(format!(
                        "{}:{}:{}",
                        p.display(),
                        k.referenced.line(),
                        k.referenced.column()
                    )),
                    message: format!(
                        "`{}` is not a name a variable can have{}",
                        k.value,
                        super::via(&place.chain)
                    ),
                });
            }
            out.insert(k.value.clone(), v.clone());
        }
    }
    Ok(out)
}

/// A call's `vars:` against the role's `args:` (none: anything goes). A template value
/// is not type-checked: what it yields is known only per machine.
fn check_args(meta: &RoleMeta, vars: &TemplateVars, role: &str) -> Result<(), String> {
    let Some(args) = &meta.args else {
        return Ok(());
    };
    let names: Vec<&str> = args.iter().map(|(k, _)| k.value.as_str()).collect();
    for k in vars.keys() {
        if !names.contains(&k.as_str()) {
            let hint = names
                .iter()
                .filter(|n| strsim::jaro_winkler(n, k) > 0.8)
                .map(|n| format!("; did you mean `{n}`?"))
                .next()
                .unwrap_or_default();
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            return Err(format!(
                "role `{role}`: vars: `{k}` is not an argument of the role{hint} (its arguments: {})",
                list.join(", ")
            ));
        }
    }
    for (k, a) in args.iter() {
        let Some(v) = vars.get(&k.value) else {
            if a.required {
                return Err(format!(
                    "role `{role}`: vars: `{}` is required ({})",
                    k.value,
                    a.ty.word()
                ));
            }
            continue;
        };
        let template = v.as_str().is_some_and(|s| s.contains("{{"));
        if !template && !a.ty.accepts(v) {
            return Err(format!(
                "role `{role}`: vars: `{}` must be {}, not {}",
                k.value,
                a.ty.word(),
                describe_json(v)
            ));
        }
        if let Some(choices) = &a.choices {
            if !template && !choices.contains(v) {
                let list: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                return Err(format!(
                    "role `{role}`: vars: `{}` is {}, not one of {}",
                    k.value,
                    v,
                    list.join(", ")
                ));
            }
        }
    }
    Ok(())
}
