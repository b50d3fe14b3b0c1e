//! `group`: a local group exists (with the declared gid) or does not, through shadow's
//! groupadd/groupmod/groupdel, or busybox's addgroup/delgroup where those are missing.
//! Runs as root.
//!
//! Rules (also in docs/operations.md): the probe reads `/etc/group` with the shell's `read` (the
//! file these tools manage; no process), so a group known only to a directory service
//! (LDAP) is not seen. `system: true` makes a new group a system group (`groupadd -r`,
//! `addgroup -S`) and is not changed on an existing one; a `gid` that differs is changed
//! with groupmod (busybox has none: the step fails saying so).

use serde::Deserialize;

use crate::quote::quote;
use crate::spec::Scalar;

use super::{
    Applied, CheckError, Ctx, Decision, Facts, Failure, Operation, Presence, RenderCtx, RenderError,
};

/// `group:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "group")]
pub struct Spec {
    /// Group name.
    pub name: String,
    /// Group id (a number, or a template that renders to one).
    pub gid: Option<Scalar>,
    /// A system group (when created).
    #[serde(default)]
    pub system: bool,
    /// present or absent.
    #[serde(default)]
    pub state: Presence,
}

/// A rendered group step.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: Option<u32>,
    /// A system group.
    pub system: bool,
    /// present or absent.
    pub state: Presence,
}

fn gid_of(v: &str) -> Option<u32> {
    v.trim().parse().ok()
}

impl Group {
    /// The group's gid, or `None` when there is no such group.
    fn current(&self, facts: &Facts) -> Result<Option<u32>, Failure> {
        match facts.get("gid") {
            Some("none") => Ok(None),
            Some(g) => gid_of(g).map(Some).ok_or_else(|| {
                Failure::msg(format!(
                    "unexpected /etc/group entry for {}: gid `{g}`",
                    self.name
                ))
            }),
            None => Err(Failure::msg(format!(
                "could not read /etc/group: {}",
                facts.noise_text()
            ))),
        }
    }

    fn create_script(&self, shadow: bool) -> String {
        let mut s = String::from(if shadow { "groupadd" } else { "addgroup" });
        if self.system {
            s.push_str(if shadow { " -r" } else { " -S" });
        }
        if let Some(g) = self.gid {
            s.push_str(&format!(" -g {g}"));
        }
        s.push_str(&format!(" {}", quote(&self.name)));
        s
    }
}

impl Operation for Group {
    const KEY: &'static str = "group";
    const NEEDS_ROOT: bool = true;
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        if let Some(Scalar(g)) = &spec.gid {
            if !super::text::is_template(g) && gid_of(g).is_none() {
                return Err(CheckError::of::<Group>(format!(
                    "`gid` is `{g}`; a gid is a whole number"
                )));
            }
        }
        Ok(())
    }

    fn summary(spec: &Spec) -> String {
        spec.name.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Group, RenderError> {
        let name = ctx.text("name", &spec.name)?;
        if name.is_empty() || name.starts_with('-') || name.contains([':', '\n', ' ', ',']) {
            return Err(RenderError::Invalid {
                field: "name",
                value: name,
                problem: "is not a group name",
            });
        }
        let gid = match &spec.gid {
            Some(Scalar(g)) => {
                let g = ctx.text("gid", g)?;
                Some(gid_of(&g).ok_or(RenderError::Invalid {
                    field: "gid",
                    value: g,
                    problem: "is not a gid (a whole number)",
                })?)
            }
            None => None,
        };
        Ok(Group {
            name,
            gid,
            system: spec.system,
            state: spec.state,
        })
    }

    fn probe(&self) -> Option<String> {
        Some(format!(
            "__od_gf=none; while IFS=: read -r __od_gn __od_gp __od_gi __od_gm; do if [ \"$__od_gn\" = {} ]; then __od_gf=$__od_gi; break; fi; done < /etc/group; echo \".gid $__od_gf\"\n\
             if command -v groupadd >/dev/null 2>&1; then echo .tool shadow; elif command -v addgroup >/dev/null 2>&1; then echo .tool busybox; else echo .tool none; fi\n",
            quote(&self.name)
        ))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let what = match (self.state, self.current(facts)?) {
            (Presence::Absent, None) => None,
            (Presence::Absent, Some(_)) => Some(format!("remove group {}", self.name)),
            (Presence::Present, None) => Some(match self.gid {
                Some(g) => format!("create group {} (gid {g})", self.name),
                None => format!("create group {}", self.name),
            }),
            (Presence::Present, Some(cur)) => self
                .gid
                .filter(|g| *g != cur)
                .map(|g| format!("gid of group {} {cur} → {g}", self.name)),
        };
        Ok(match what {
            Some(w) => Decision::Change(vec![w]),
            None => Decision::Unchanged,
        })
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let n = quote(&self.name);
        let shadow = match facts.get("tool") {
            Some("shadow") => true,
            Some("busybox") => false,
            _ => {
                return Err(Failure::msg(
                    "managing groups needs groupadd (shadow) or busybox's addgroup; the machine has neither",
                ))
            }
        };
        let script = match (self.state, self.current(facts)?) {
            (Presence::Absent, None) => return Ok(Applied::default()),
            (Presence::Absent, Some(_)) if shadow => format!("groupdel {n}"),
            (Presence::Absent, Some(_)) => format!("delgroup {n}"),
            (Presence::Present, None) => self.create_script(shadow),
            (Presence::Present, Some(cur)) => match self.gid {
                Some(g) if g != cur && shadow => format!("groupmod -g {g} {n}"),
                Some(g) if g != cur => {
                    return Err(Failure::msg(format!(
                    "changing the gid of group {} needs groupmod (install the `shadow` package)",
                    self.name
                )))
                }
                _ => return Ok(Applied::default()),
            },
        };
        ctx.run(&format!("changing group {}", self.name), script)
            .map(|_| Applied::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(gid: Option<u32>, state: Presence) -> Group {
        Group {
            name: "web_devs".into(),
            gid,
            system: true,
            state,
        }
    }

    #[test]
    fn the_probe_reads_etc_group() {
        let g = Group {
            name: "root".into(),
            gid: Some(0),
            system: false,
            state: Presence::Present,
        };
        let out = crate::facts::run_with_probe_lib(&g.probe().unwrap());
        let facts = Facts::parse(&out, 0);
        assert_eq!(g.current(&facts).unwrap(), Some(0));
        assert_eq!(g.decide(&facts).unwrap(), Decision::Unchanged);
        let other = Group {
            name: "no-such-group-x".into(),
            ..g
        };
        let out = crate::facts::run_with_probe_lib(&other.probe().unwrap());
        assert_eq!(other.current(&Facts::parse(&out, 0)).unwrap(), None);
    }

    #[test]
    fn decisions_and_commands() {
        let f = |s: &str| Facts::parse(s, 0);
        let g = group(Some(1500), Presence::Present);
        assert!(matches!(
            g.decide(&f(".gid none\n.tool shadow\n")).unwrap(),
            Decision::Change(_)
        ));
        assert_eq!(
            g.decide(&f(".gid 1500\n.tool shadow\n")).unwrap(),
            Decision::Unchanged
        );
        assert_eq!(g.create_script(true), "groupadd -r -g 1500 web_devs");
        assert_eq!(g.create_script(false), "addgroup -S -g 1500 web_devs");
        let any = group(None, Presence::Present);
        assert_eq!(
            any.decide(&f(".gid 12\n.tool shadow\n")).unwrap(),
            Decision::Unchanged,
            "no gid declared: any gid will do"
        );
        let gone = group(None, Presence::Absent);
        assert!(matches!(
            gone.decide(&f(".gid 12\n.tool busybox\n")).unwrap(),
            Decision::Change(_)
        ));
    }
}
