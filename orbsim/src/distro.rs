//! The distros orbctl accepts (docs/orbctl.md §6, §10): the CLI word, the image name orbctl
//! reports, the default ("latest") version, the versions the image service has, the
//! number-to-codename aliases, the default variant and whether cloud-init is supported.
//!
//! The default versions, aliases, variants and cloud-init support follow the reference and
//! OrbStack's `scon/images/images.go` of August 2025. Which versions other than the
//! default exist is not written anywhere in one list: the server looks the version up in
//! the image index and answers `image not found` for the rest (real #2152: ubuntu focal).
//! orbsim's lists are \[GUESS\]: every version from the "oldest tested" to the "latest" of
//! that images.go, plus debian buster and forky, which the reference's aliases name (not
//! ubuntu focal, which #2152 shows gone from the index while still aliased).

/// One distro as orbctl knows it.
#[derive(Debug)]
pub struct Distro {
    /// The CLI word (`rocky`).
    pub word: &'static str,
    /// The image name orbctl reports as `distro` (`rockylinux`).
    pub image: &'static str,
    /// The version used when none is given.
    pub latest: &'static str,
    /// Versions the image service has (\[GUESS\] beyond `latest`, see the module comment).
    pub versions: &'static [&'static str],
    /// Version number → codename, applied by the server before the image lookup.
    pub aliases: &'static [(&'static str, &'static str)],
    /// Whether a `cloud` variant exists (so `create -c` works).
    pub cloud: bool,
    /// The variant without `-c` (`openrc` for gentoo, else `default`).
    pub variant: &'static str,
}

const fn d(
    word: &'static str,
    image: &'static str,
    latest: &'static str,
    versions: &'static [&'static str],
    cloud: bool,
) -> Distro {
    Distro {
        word,
        image,
        latest,
        versions,
        aliases: &[],
        cloud,
        variant: "default",
    }
}

/// The 16 CLI words, sorted as `orbctl create --help` lists them.
pub const DISTROS: &[Distro] = &[
    d("alma", "almalinux", "9", &["8", "9"], true),
    d(
        "alpine",
        "alpine",
        "3.22",
        &["3.19", "3.20", "3.21", "3.22"],
        true,
    ),
    d("arch", "archlinux", "current", &["current"], false),
    d("centos", "centos", "9-Stream", &["9-Stream"], true),
    Distro {
        // The reference maps 10–14 (buster…forky); the August 2025 images.go stops at
        // 13 → trixie. orbsim takes the reference's wider map.
        aliases: &[
            ("10", "buster"),
            ("11", "bullseye"),
            ("12", "bookworm"),
            ("13", "trixie"),
            ("14", "forky"),
        ],
        ..d(
            "debian",
            "debian",
            "bookworm",
            &["buster", "bullseye", "bookworm", "trixie", "forky"],
            true,
        )
    },
    Distro {
        // 3 → beowulf is in images.go, not in the reference's table; orbsim keeps it.
        aliases: &[("3", "beowulf"), ("4", "chimaera"), ("5", "daedalus")],
        ..d(
            "devuan",
            "devuan",
            "daedalus",
            &["beowulf", "chimaera", "daedalus"],
            true,
        )
    },
    d("fedora", "fedora", "42", &["40", "41", "42"], true),
    Distro {
        variant: "openrc",
        ..d("gentoo", "gentoo", "current", &["current"], false)
    },
    d("kali", "kali", "current", &["current"], true),
    d("nixos", "nixos", "25.05", &["25.05"], false),
    d(
        "openeuler",
        "openeuler",
        "25.03",
        &["20.03", "22.03", "24.03", "25.03"],
        true,
    ),
    d("opensuse", "opensuse", "15.6", &["15.5", "15.6"], true),
    d("oracle", "oracle", "9", &["8", "9"], true),
    d("rocky", "rockylinux", "9", &["8", "9"], true),
    Distro {
        // focal is aliased but not in the index any more: `ubuntu:20.04` fails with
        // `image not found: {ubuntu focal …}`, as in real #2152. resolute (26.04) is in 2026
        // third-party material (\[3P\], docs/orbctl.md §6), not in the August 2025 source; the
        // default stays the reference's.
        aliases: &[
            ("20.04", "focal"),
            ("22.04", "jammy"),
            ("24.04", "noble"),
            ("24.10", "oracular"),
            ("25.04", "plucky"),
            ("26.04", "resolute"),
        ],
        ..d(
            "ubuntu",
            "ubuntu",
            "plucky",
            &["jammy", "noble", "oracular", "plucky", "resolute"],
            true,
        )
    },
    d("void", "voidlinux", "current", &["current"], false),
];

/// The distro of a CLI word (`None`: `invalid distro`, a client-side error in orbctl).
pub fn by_word(word: &str) -> Option<&'static Distro> {
    DISTROS.iter().find(|d| d.word == word)
}

impl Distro {
    /// The version the server looks up: the default when none is given, then the alias map
    /// (the server applies aliases after filling in the default).
    pub fn resolve(&self, version: &str) -> String {
        let version = if version.is_empty() {
            self.latest
        } else {
            version
        };
        self.aliases
            .iter()
            .find(|(number, _)| *number == version)
            .map_or(version, |(_, codename)| codename)
            .to_string()
    }

    /// Whether the image service has this (resolved) version.
    pub fn has(&self, version: &str) -> bool {
        self.versions.contains(&version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_words_with_their_defaults_in_the_index() {
        assert_eq!(DISTROS.len(), 16);
        for d in DISTROS {
            assert!(d.has(&d.resolve("")), "{} default", d.word);
            for (_, codename) in d.aliases {
                if *codename != "focal" {
                    assert!(d.has(codename), "{} {codename}", d.word);
                }
            }
        }
        let mut words: Vec<&str> = DISTROS.iter().map(|d| d.word).collect();
        words.sort_unstable();
        assert_eq!(words, DISTROS.iter().map(|d| d.word).collect::<Vec<_>>());
    }

    #[test]
    fn versions_resolve_like_the_server() {
        let ubuntu = by_word("ubuntu").map(|d| d.resolve("22.04"));
        assert_eq!(ubuntu.as_deref(), Some("jammy"));
        assert_eq!(
            by_word("debian").map(|d| d.resolve("")).as_deref(),
            Some("bookworm")
        );
        assert_eq!(
            by_word("debian").map(|d| d.resolve("13")).as_deref(),
            Some("trixie")
        );
        assert_eq!(
            by_word("devuan").map(|d| d.resolve("4")).as_deref(),
            Some("chimaera")
        );
        assert_eq!(by_word("rocky").map(|d| d.image), Some("rockylinux"));
        assert_eq!(by_word("gentoo").map(|d| d.variant), Some("openrc"));
        let focal = by_word("ubuntu").map(|d| d.has(&d.resolve("20.04")));
        assert_eq!(focal, Some(false));
        assert!(by_word("amazon").is_none());
    }
}
