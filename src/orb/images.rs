//! The images `orbctl create DISTRO[:VERSION]` accepts, so that a wrong image is exit 2 at
//! load time instead of a failed create (docs/orbctl.md §6).
//!
//! What the reference confirms (its source snapshot, \[SRC\]): the 16 CLI words, the image
//! name each maps to (`rocky` → `rockylinux`), each one's default version, the numeric
//! aliases of debian, ubuntu and devuan, and that arch, gentoo, kali and void only have
//! `current`. What it does not list is every version of the other distros: for those a
//! version is checked for its shape only (digits, dots, a known suffix), and orbctl decides
//! (\[GUESS\]: a list kept here would go stale with each OrbStack release and then refuse
//! images that work).

use std::fmt;

/// One distro of `orbctl create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distro {
    /// The CLI word (`rocky`).
    pub word: &'static str,
    /// The image name `list -f json` reports as `distro` (`rockylinux`).
    pub image: &'static str,
    /// The version used when none is given.
    pub default_version: &'static str,
    /// What versions are accepted.
    pub versions: Versions,
    /// Built from a cloud image, so `create -c` (cloud-init) works (§6).
    pub cloud_init: bool,
}

/// The versions a distro accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// Exactly these (codename or alias → codename, as `list` reports it).
    Known(&'static [(&'static str, &'static str)]),
    /// Only `current` (rolling releases).
    Rolling,
    /// Not listed by the reference: any version of a plausible shape.
    Unlisted,
}

const DEBIAN: &[(&str, &str)] = &[
    ("buster", "buster"),
    ("bullseye", "bullseye"),
    ("bookworm", "bookworm"),
    ("trixie", "trixie"),
    ("forky", "forky"),
    ("10", "buster"),
    ("11", "bullseye"),
    ("12", "bookworm"),
    ("13", "trixie"),
    ("14", "forky"),
];
const UBUNTU: &[(&str, &str)] = &[
    ("focal", "focal"),
    ("jammy", "jammy"),
    ("noble", "noble"),
    ("oracular", "oracular"),
    ("plucky", "plucky"),
    // 2026 third-party material mentions 26.04 as `resolute` [3P].
    ("resolute", "resolute"),
    ("20.04", "focal"),
    ("22.04", "jammy"),
    ("24.04", "noble"),
    ("24.10", "oracular"),
    ("25.04", "plucky"),
    ("26.04", "resolute"),
];
const DEVUAN: &[(&str, &str)] = &[
    ("chimaera", "chimaera"),
    ("daedalus", "daedalus"),
    ("4", "chimaera"),
    ("5", "daedalus"),
];

/// The 16 distros (reference §6), in the order orbctl lists them.
pub const DISTROS: &[Distro] = &[
    d("alma", "almalinux", "9", Versions::Unlisted),
    d("alpine", "alpine", "3.22", Versions::Unlisted),
    d("arch", "archlinux", "current", Versions::Rolling),
    d("centos", "centos", "9-Stream", Versions::Unlisted),
    d("debian", "debian", "bookworm", Versions::Known(DEBIAN)),
    d("devuan", "devuan", "daedalus", Versions::Known(DEVUAN)),
    d("fedora", "fedora", "42", Versions::Unlisted),
    d("gentoo", "gentoo", "current", Versions::Rolling),
    d("kali", "kali", "current", Versions::Rolling),
    d("nixos", "nixos", "25.05", Versions::Unlisted),
    d("openeuler", "openeuler", "25.03", Versions::Unlisted),
    d("opensuse", "opensuse", "15.6", Versions::Unlisted),
    d("oracle", "oracle", "9", Versions::Unlisted),
    d("rocky", "rockylinux", "9", Versions::Unlisted),
    d("ubuntu", "ubuntu", "plucky", Versions::Known(UBUNTU)),
    d("void", "voidlinux", "current", Versions::Rolling),
];

const fn d(
    word: &'static str,
    image: &'static str,
    default_version: &'static str,
    versions: Versions,
) -> Distro {
    Distro {
        word,
        image,
        default_version,
        versions,
        // The four that the reference does not mark "cloud".
        cloud_init: !matches!(word.as_bytes(), b"arch" | b"gentoo" | b"nixos" | b"void"),
    }
}

/// The architectures `orbctl create -a` knows; anything else is `invalid architecture`.
pub const ARCHES: &[&str] = &["arm64", "amd64", "i386"];

/// An image that passed the checks: what `list -f json` will report for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The distro.
    pub distro: &'static Distro,
    /// The version as `list` reports it (codename for debian, ubuntu and devuan).
    pub version: String,
}

/// Why an image is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// Not `DISTRO` or `DISTRO:VERSION`.
    Malformed(String),
    /// Not one of the 16 words.
    UnknownDistro {
        /// The word.
        word: String,
        /// The whole image.
        image: String,
    },
    /// A version the distro does not have.
    UnknownVersion {
        /// The distro word.
        distro: &'static str,
        /// What was written.
        version: String,
        /// What is accepted, for the message.
        expected: String,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Malformed(image) => write!(
                f,
                "image `{image}` is not DISTRO or DISTRO:VERSION (for example `debian` or `ubuntu:24.04`)"
            ),
            ImageError::UnknownDistro { word, image } => write!(
                f,
                "unknown distro `{word}` in image `{image}`: expected one of {}",
                DISTROS.iter().map(|d| d.word).collect::<Vec<_>>().join(", ")
            ),
            ImageError::UnknownVersion {
                distro,
                version,
                expected,
            } => write!(
                f,
                "unknown version `{version}` of {distro}: expected {expected}"
            ),
        }
    }
}

/// The distro of a CLI word (`rocky`) or of an image name as `list` reports it
/// (`rockylinux`).
pub fn distro(word: &str) -> Option<&'static Distro> {
    DISTROS.iter().find(|d| d.word == word || d.image == word)
}

/// Check `DISTRO[:VERSION]` as `orbctl create` takes it.
pub fn parse(image: &str) -> Result<ImageRef, ImageError> {
    let malformed = || ImageError::Malformed(image.to_string());
    let mut parts = image.split(':');
    let word = parts.next().unwrap_or_default();
    let version = parts.next();
    if parts.next().is_some() || word.is_empty() || version == Some("") {
        return Err(malformed());
    }
    let distro =
        DISTROS
            .iter()
            .find(|d| d.word == word)
            .ok_or_else(|| ImageError::UnknownDistro {
                word: word.to_string(),
                image: image.to_string(),
            })?;
    let version = match version {
        None => return Ok(default_of(distro)),
        Some(v) => v,
    };
    let unknown = |expected: String| ImageError::UnknownVersion {
        distro: distro.word,
        version: version.to_string(),
        expected,
    };
    let codename = match distro.versions {
        Versions::Known(list) => list
            .iter()
            .find(|(alias, _)| *alias == version)
            .map(|(_, codename)| codename.to_string())
            .ok_or_else(|| unknown(list_words(list)))?,
        Versions::Rolling if version == "current" => version.to_string(),
        Versions::Rolling => return Err(unknown("`current`".to_string())),
        Versions::Unlisted if plausible_version(version) => version.to_string(),
        Versions::Unlisted => {
            return Err(unknown(
                "a version such as `9`, `3.22` or `9-Stream`".to_string(),
            ))
        }
    };
    Ok(ImageRef {
        distro,
        version: codename,
    })
}

fn default_of(distro: &'static Distro) -> ImageRef {
    ImageRef {
        distro,
        version: distro.default_version.to_string(),
    }
}

fn list_words(list: &[(&str, &str)]) -> String {
    let words: Vec<String> = list.iter().map(|(a, _)| format!("`{a}`")).collect();
    format!("one of {}", words.join(", "))
}

/// A version of an unlisted distro: starts with a digit, then digits, dots and at most
/// one `-Suffix` of letters (`9-Stream`), or one of the rolling words some of them offer.
fn plausible_version(v: &str) -> bool {
    if matches!(v, "current" | "edge" | "tumbleweed") {
        return true;
    }
    let (number, suffix) = v.split_once('-').unwrap_or((v, ""));
    number.starts_with(|c: char| c.is_ascii_digit())
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !number.ends_with('.')
        && suffix.chars().all(|c| c.is_ascii_alphabetic())
        && (suffix.is_empty() || v.contains('-'))
        && !v.ends_with('-')
}

/// The architectures a host can run (reference §6): Apple Silicon runs arm64 and, through
/// Rosetta, amd64; an Intel Mac runs amd64 and i386. On Linux (orbsim) the same rule is
/// applied to the machine's own architecture.
pub fn runnable_arches(host_arch: &str) -> &'static [&'static str] {
    match host_arch {
        "aarch64" | "arm64" => &["arm64", "amd64"],
        "x86_64" | "amd64" => &["amd64", "i386"],
        _ => ARCHES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(image: &str) -> String {
        match parse(image) {
            Ok(r) => format!("{}:{}", r.distro.image, r.version),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn every_word_with_its_default_and_aliases() {
        assert_eq!(DISTROS.len(), 16);
        assert_eq!(version("debian"), "debian:bookworm");
        assert_eq!(version("debian:12"), "debian:bookworm");
        assert_eq!(version("ubuntu:22.04"), "ubuntu:jammy");
        assert_eq!(version("ubuntu"), "ubuntu:plucky");
        assert_eq!(version("devuan:4"), "devuan:chimaera");
        assert_eq!(version("rocky"), "rockylinux:9");
        assert_eq!(version("arch:current"), "archlinux:current");
        assert_eq!(version("centos:9-Stream"), "centos:9-Stream");
        assert_eq!(version("alpine:3.21"), "alpine:3.21");
        assert_eq!(version("opensuse:tumbleweed"), "opensuse:tumbleweed");
        for d in DISTROS {
            assert!(parse(d.word).is_ok(), "{}", d.word);
            assert!(
                parse(&format!("{}:{}", d.word, d.default_version)).is_ok(),
                "{}",
                d.word
            );
            assert_eq!(distro(d.image), Some(d));
        }
    }

    #[test]
    fn malformed_unknown_distro_and_unknown_version_are_refused() {
        for bad in ["debian:bookworm:extra", "", ":12", "debian:", "a::b"] {
            assert!(
                matches!(parse(bad), Err(ImageError::Malformed(_))),
                "{bad}: {:?}",
                parse(bad)
            );
        }
        assert!(matches!(
            parse("amazon"),
            Err(ImageError::UnknownDistro { .. })
        ));
        assert!(matches!(
            parse("Debian"),
            Err(ImageError::UnknownDistro { .. })
        ));
        assert_eq!(
            version("debian:sarge"),
            "error: unknown version `sarge` of debian: expected one of `buster`, `bullseye`, `bookworm`, `trixie`, `forky`, `10`, `11`, `12`, `13`, `14`"
        );
        assert_eq!(
            version("arch:2024"),
            "error: unknown version `2024` of arch: expected `current`"
        );
        for bad in [
            "fedora:latest",
            "fedora:4.",
            "alma:9-",
            "alma:9-8",
            "alma:-9",
            "fedora:4 2",
        ] {
            assert!(
                matches!(parse(bad), Err(ImageError::UnknownVersion { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn runnable_arches_follow_the_host() {
        assert_eq!(runnable_arches("aarch64"), ["arm64", "amd64"]);
        assert_eq!(runnable_arches("x86_64"), ["amd64", "i386"]);
    }
}
