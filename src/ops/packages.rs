//! `packages`: installed, removed or upgraded with the machine's package manager
//! (apt, apk, dnf/yum, pacman — detected on the machine by the probe).

use serde::Deserialize;

use crate::facts::scan;
use crate::quote::{join, quote};

use super::{
    Applied, CheckError, Ctx, Decision, Facts, Failure, Operation, RenderCtx, RenderError,
};

/// What `packages:` makes true.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageState {
    /// Installed, any version.
    #[default]
    Present,
    /// Not installed.
    Absent,
    /// Installed at the newest version the package manager knows.
    Latest,
}

/// `packages:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "packages")]
pub struct Spec {
    /// Package names.
    pub names: Vec<String>,
    /// Refresh the package index before installing (only when something is missing).
    #[serde(default)]
    pub update: bool,
    /// present, absent or latest.
    #[serde(default)]
    pub state: PackageState,
}

/// A rendered packages step.
#[derive(Debug, Clone)]
pub struct Packages {
    /// Package names.
    pub names: Vec<String>,
    /// Refresh the index first (only when something will be installed).
    pub update: bool,
    /// present, absent or latest.
    pub state: PackageState,
}

impl Packages {
    fn split(&self, facts: &Facts) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut installed = Vec::new();
        let mut missing = Vec::new();
        if facts.get("pm") == Some("apt") {
            for name in &self.names {
                let base = name.split(':').next().unwrap_or(name);
                let ok = facts.all("dpkg").iter().any(|l| {
                    let mut w = l.split_whitespace();
                    w.next() == Some(base) && w.next().is_some_and(|st| st.starts_with("ii"))
                });
                if ok {
                    installed.push(name.clone());
                } else {
                    missing.push(name.clone());
                }
            }
            return (installed, missing, facts.all("old").to_vec());
        }
        for v in facts.all("pkg") {
            match v.rsplit_once(' ') {
                Some((name, "1")) => installed.push(name.to_string()),
                Some((name, _)) => missing.push(name.to_string()),
                None => {}
            }
        }
        let old = facts.all("old").to_vec();
        (installed, missing, old)
    }
}

impl Operation for Packages {
    const KEY: &'static str = "packages";
    const NEEDS_ROOT: bool = true;
    const SCANS_AHEAD: bool = true;
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        if spec.names.is_empty() {
            return Err(CheckError::of::<Packages>("`names` is empty"));
        }
        Ok(())
    }

    fn summary(spec: &Spec) -> String {
        spec.names.join(", ")
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Packages, RenderError> {
        let names = ctx.list("names", &spec.names)?;
        let bad =
            |n: &String| n.is_empty() || n.starts_with('-') || n.contains(char::is_whitespace);
        if let Some(bad) = names.iter().find(|n| bad(n)) {
            return Err(RenderError::Invalid {
                field: "names",
                value: bad.clone(),
                problem: "is not a package name",
            });
        }
        Ok(Packages {
            names,
            update: spec.update,
            state: spec.state,
        })
    }

    fn scan(&self) -> Option<scan::Item> {
        Some(scan::Item::Dpkg {
            names: self.names.clone(),
        })
    }

    fn probe(&self) -> Option<String> {
        // `__od_pkgs` (probe library) detects the manager and asks it about every name.
        let latest = self.state == PackageState::Latest;
        Some(format!(
            "__od_pkgs {} {}\n",
            if latest { 1 } else { 0 },
            join(&self.names)
        ))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        match facts.get("pm") {
            Some("none") => {
                return Err(Failure::msg(
                    "no supported package manager on the machine (apt, apk, dnf, yum, pacman)",
                ))
            }
            None => {
                return Err(Failure::msg(format!(
                    "could not inspect packages: {}",
                    facts.noise_text()
                )))
            }
            _ => {}
        }
        let (installed, missing, old) = self.split(facts);
        let what = match self.state {
            PackageState::Present if missing.is_empty() => return Ok(Decision::Unchanged),
            PackageState::Present => vec![format!("install {}", missing.join(", "))],
            PackageState::Absent if installed.is_empty() => return Ok(Decision::Unchanged),
            PackageState::Absent => vec![format!("remove {}", installed.join(", "))],
            PackageState::Latest => {
                let mut w = Vec::new();
                if !missing.is_empty() {
                    w.push(format!("install {}", missing.join(", ")));
                }
                if !old.is_empty() {
                    w.push(format!("upgrade {}", old.join(", ")));
                }
                if w.is_empty() {
                    return Ok(Decision::Unchanged);
                }
                w
            }
        };
        Ok(Decision::Change(what))
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let (installed, missing, old) = self.split(facts);
        let pm = facts.get("pm").unwrap_or("none");
        let mut wanted: Vec<String> = match self.state {
            PackageState::Present => missing.clone(),
            PackageState::Absent => installed,
            PackageState::Latest => missing.iter().chain(old.iter()).cloned().collect(),
        };
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(Applied::default());
        }
        let names = join(&wanted);
        let install = self.state != PackageState::Absent;
        let update = self.update && install;
        let script = match (pm, install) {
            ("apt", true) => format!(
                "export DEBIAN_FRONTEND=noninteractive\n{}apt-get install -y -q --no-install-recommends {names}",
                if update { "apt-get update -q || exit 1\n" } else { "" }
            ),
            ("apt", false) => format!("export DEBIAN_FRONTEND=noninteractive\napt-get remove -y -q {names}"),
            ("apk", true) => format!("apk add {}{names}", if update { "--update-cache " } else { "" }),
            ("apk", false) => format!("apk del {names}"),
            ("dnf", true) => format!(
                "$(command -v dnf || command -v yum) install -y {}{names}",
                if update { "--refresh " } else { "" }
            ),
            ("dnf", false) => format!("$(command -v dnf || command -v yum) remove -y {names}"),
            ("pacman", true) => format!(
                "pacman -S --noconfirm {}{names}",
                if update { "-y " } else { "" }
            ),
            ("pacman", false) => format!("pacman -R --noconfirm {names}"),
            (other, _) => return Err(Failure::msg(format!("unsupported package manager {}", quote(other)))),
        };
        ctx.run(&format!("{pm} for {}", wanted.join(", ")), script)
            .map(|_| Applied::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_is_valid_sh_and_detects_the_manager_here() {
        for state in [PackageState::Present, PackageState::Latest] {
            let p = Packages {
                names: vec!["coreutils".into(), "no-such-pkg-x".into()],
                update: false,
                state,
            };
            let script = format!(
                "{}{}",
                crate::facts::probe_lib(),
                p.probe().unwrap_or_default()
            );
            let syntax = std::process::Command::new("sh")
                .args(["-n", "-c", &script])
                .status()
                .unwrap();
            assert!(syntax.success(), "{script}");
            // This test machine is Debian: apt answers, coreutils installed, the other not.
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            let facts = Facts::parse(&String::from_utf8_lossy(&out.stdout), 0);
            assert_eq!(facts.get("pm"), Some("apt"));
            let (installed, missing, _) = p.split(&facts);
            assert_eq!(
                (installed, missing),
                (
                    vec!["coreutils".to_string()],
                    vec!["no-such-pkg-x".to_string()]
                )
            );
        }
    }

    /// Machines without apt: apk, dnf/yum (rpm) and pacman are found and asked, each with
    /// its own tools (stand-ins that know `have` as installed and `old` as upgradable, on a
    /// PATH without apt).
    #[test]
    fn other_managers_are_detected_and_asked_with_their_own_tools() {
        use std::os::unix::fs::PermissionsExt;
        let fakes: [(&str, &[(&str, &str)]); 3] = [
            (
                "apk",
                &[(
                    "apk",
                    "case \"$1 $2\" in\n'info -e') case $3 in have|old) exit 0;; esac; exit 1;;\n'version -l') [ \"$4\" = old ] && echo 'old-1.0-r0 < 1.1-r0'; exit 0;;\nesac\nexit 2",
                )],
            ),
            (
                "dnf",
                &[
                    ("rpm", "[ \"$1 $2\" = '-q --quiet' ] || exit 2\ncase $3 in have|old) exit 0;; esac\nexit 1"),
                    ("dnf", "[ \"$1 $2\" = '-q check-update' ] || exit 2\n[ \"$3\" = old ] && exit 100\nexit 0"),
                ],
            ),
            (
                "pacman",
                &[(
                    "pacman",
                    "case \"$1\" in\n-Q) case $2 in have|old) exit 0;; esac; exit 1;;\n-Qu) [ \"$2\" = old ]; exit;;\nesac\nexit 2",
                )],
            ),
        ];
        for (pm, tools) in fakes {
            let dir = tempfile::tempdir().unwrap();
            for (name, body) in tools.iter() {
                let f = dir.path().join(name);
                std::fs::write(&f, format!("#!/bin/sh\n{body}\n")).unwrap();
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            std::os::unix::fs::symlink("/bin/grep", dir.path().join("grep")).unwrap();
            for state in [
                PackageState::Present,
                PackageState::Latest,
                PackageState::Absent,
            ] {
                let p = Packages {
                    names: vec!["have".into(), "old".into(), "missing".into()],
                    update: false,
                    state,
                };
                let out = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(format!(
                        "{}{}",
                        crate::facts::probe_lib(),
                        p.probe().unwrap_or_default()
                    ))
                    .env("PATH", dir.path())
                    .output()
                    .unwrap();
                let facts = Facts::parse(&String::from_utf8_lossy(&out.stdout), 0);
                assert_eq!(facts.get("pm"), Some(pm), "{facts:?}");
                let (installed, missing, old) = p.split(&facts);
                assert_eq!(installed, ["have", "old"], "{pm}");
                assert_eq!(missing, ["missing"], "{pm}");
                let want_old: &[&str] = if state == PackageState::Latest {
                    &["old"]
                } else {
                    &[]
                };
                assert_eq!(old, want_old, "{pm} {state:?}");
                let decision = p.decide(&facts).unwrap();
                let want = match state {
                    PackageState::Present => Decision::Change(vec!["install missing".into()]),
                    PackageState::Latest => {
                        Decision::Change(vec!["install missing".into(), "upgrade old".into()])
                    }
                    PackageState::Absent => Decision::Change(vec!["remove have, old".into()]),
                };
                assert_eq!(decision, want, "{pm} {state:?}");
            }
        }
    }

    /// Reading the status file directly and asking dpkg-query give the same answer
    /// (DPKG_ADMINDIR set, even to the default, makes the probe ask dpkg-query).
    #[test]
    fn status_file_and_dpkg_query_agree_here() {
        let p = Packages {
            names: ["coreutils", "dash", "libc6", "no-such-pkg-x", "g++"]
                .map(String::from)
                .to_vec(),
            update: false,
            state: PackageState::Present,
        };
        let script = format!(
            "{}{}",
            crate::facts::probe_lib(),
            p.probe().unwrap_or_default()
        );
        let run = |admindir: Option<&str>| {
            let mut cmd = std::process::Command::new("sh");
            cmd.args(["-c", &script]).env_remove("DPKG_ADMINDIR");
            if let Some(d) = admindir {
                cmd.env("DPKG_ADMINDIR", d);
            }
            let out = cmd.output().unwrap();
            p.split(&Facts::parse(&String::from_utf8_lossy(&out.stdout), 0))
        };
        // The direct read is what a machine without a pending dpkg journal gets.
        let journal_empty = std::fs::read_dir("/var/lib/dpkg/updates")
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        if journal_empty {
            let chosen = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "{}__od_dpkg_direct coreutils g++ && ! __od_dpkg_direct libc6:amd64",
                    crate::facts::probe_lib()
                ))
                .env_remove("DPKG_ADMINDIR")
                .status()
                .unwrap();
            assert!(chosen.success());
        }
        let direct = run(None);
        assert_eq!(direct, run(Some("/var/lib/dpkg")));
        assert!(direct.0.contains(&"coreutils".to_string()), "{direct:?}");
        assert!(
            direct.1.contains(&"no-such-pkg-x".to_string()),
            "{direct:?}"
        );
    }

    /// An upgrade from 1.2 to 1.20 is seen (awk compares such versions as numbers unless
    /// told otherwise). apt-cache is a stand-in printing those versions.
    #[test]
    fn latest_sees_versions_that_look_like_equal_numbers() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("apt-cache");
        std::fs::write(
            &fake,
            "#!/bin/sh\nprintf 'Installed: 1.2\\nCandidate: 1.20\\n'\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = Packages {
            names: vec!["coreutils".into()],
            update: false,
            state: PackageState::Latest,
        };
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{}{}",
                crate::facts::probe_lib(),
                p.probe().unwrap_or_default()
            ))
            .env("PATH", path)
            .output()
            .unwrap();
        let facts = Facts::parse(&String::from_utf8_lossy(&out.stdout), 0);
        assert_eq!(facts.all("old"), ["coreutils".to_string()]);
    }
}
