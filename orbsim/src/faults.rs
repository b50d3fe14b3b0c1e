//! Fault injection through `ORBSIM_FAULTS` (comma-separated), to test how a client
//! handles what real OrbStack does when things go wrong.

use std::time::Duration;

/// The faults in force for this invocation.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// `create-slow=SECONDS`: create takes this much longer.
    pub create_slow: Option<Duration>,
    /// `create-timeout`: create makes the machine, then fails like OrbStack's setup timeout.
    pub create_timeout: bool,
    /// `run-fail-after=N`: the N+1-th `run` of this state home dies like a killed session.
    pub run_fail_after: Option<u64>,
    /// `not-running`: every command fails as when OrbStack is down.
    pub not_running: bool,
    /// `latency=MS`: added to every call, to model real orbctl's per-call cost.
    pub latency: Option<Duration>,
    /// `create-error=KIND`: create fails with one of the 2026 errors of docs/orbctl.md §11.5.
    pub create_error: Option<CreateError>,
    /// `create-error-times=N`: only the first N creates of the state home fail (then they
    /// succeed, to test a client's retries).
    pub create_error_times: Option<u64>,
    /// `create-error-after=SECONDS`: how long a failing create takes (default: 15 s for
    /// `index-timeout`, as in #2661; none for the others).
    pub create_error_after: Option<Duration>,
    /// `stopped-hang`: the OrbStack service is stopped and cannot come up (reference
    /// §11.3): `list`, `info` and every other command that would start it block until
    /// killed, while `status` answers `Stopped` at once.
    pub stopped_hang: bool,
    /// `clone-slow=SECONDS`: a clone's copy takes this much longer (its source stays
    /// paused meanwhile), to make the pause of docs/orbctl.md §12.3 measurable.
    pub clone_slow: Option<Duration>,
    /// `push-tmp-view`: `push` sees another `/tmp` than the machine's sessions (a fresh
    /// one each time): a push into `/tmp` succeeds and leaves nothing there (§12.8).
    pub push_tmp_view: bool,
    /// `disk-quota`: a machine whose `disk_bytes` is set cannot be deleted until the
    /// quota is lifted (`config set machine.NAME.disk_bytes 0`), as §12.5 reports.
    pub disk_quota: bool,
}

/// The create errors of docs/orbctl.md §11.5, each printed after `[-32098] create 'NAME': `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateError {
    /// Image index fetch timed out (#2661).
    IndexTimeout,
    /// Rootfs download cut (#2661).
    RootfsEof,
    /// Image service outage, every distro at once (#2402).
    Image404,
    /// Mirror failure (#1013).
    BadGateway,
    /// Mirror failure (#1008).
    HeaderTimeout,
    /// The image (distro, version, arch, variant) is not in the index (#2152).
    ImageNotFound,
    /// The host has no nested virtualisation (jackin-project/jackin#928).
    NoVirt,
}

impl CreateError {
    fn parse(word: &str) -> Option<CreateError> {
        Some(match word {
            "index-timeout" => CreateError::IndexTimeout,
            "rootfs-eof" => CreateError::RootfsEof,
            "image-404" => CreateError::Image404,
            "bad-gateway" => CreateError::BadGateway,
            "header-timeout" => CreateError::HeaderTimeout,
            "image-not-found" => CreateError::ImageNotFound,
            "no-virt" => CreateError::NoVirt,
            _ => return None,
        })
    }

    /// The text after `create 'NAME': `; `image` is Go's `{distro version arch variant}`.
    pub fn message(self, image: &str) -> String {
        match self {
            CreateError::IndexTimeout => {
                "make rootfs: fetch index: decode index: jsontext: read error: context deadline exceeded".into()
            }
            CreateError::RootfsEof => {
                "make rootfs: download rootfs: stream to file: unexpected EOF".into()
            }
            CreateError::Image404 => {
                "make rootfs: download metadata: GET download status: 404 Not Found".into()
            }
            CreateError::BadGateway => {
                "make rootfs: download metadata: GET download status: 502 Bad Gateway".into()
            }
            // [GUESS] the reference gives the net/http text without its prefix; orbsim puts
            // it where the 502 of the same row stands.
            CreateError::HeaderTimeout => {
                "make rootfs: download metadata: net/http: timeout awaiting response headers".into()
            }
            CreateError::ImageNotFound => format!("make rootfs: image not found: {image}"),
            // [GUESS] that it reaches create's error; on a real host the VM manager panics
            // with it at boot.
            CreateError::NoVirt => "vm config get max ipa size: unsupported".into(),
        }
    }

    /// How long the failing create takes unless `create-error-after` says otherwise.
    pub fn default_delay(self) -> Duration {
        if self == CreateError::IndexTimeout {
            Duration::from_secs(15)
        } else {
            Duration::ZERO
        }
    }
}

impl Faults {
    /// Read `ORBSIM_FAULTS`; unknown entries are reported on stderr and ignored.
    pub fn from_env() -> Faults {
        std::env::var("ORBSIM_FAULTS")
            .map(|s| Faults::parse(&s))
            .unwrap_or_default()
    }

    /// Parse the comma-separated list.
    pub fn parse(spec: &str) -> Faults {
        let mut f = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let number = value.parse::<f64>().ok().filter(|n| *n >= 0.0);
            match (key, number) {
                ("create-slow", Some(s)) => f.create_slow = Some(Duration::from_secs_f64(s)),
                ("create-timeout", _) => f.create_timeout = true,
                ("run-fail-after", Some(n)) => f.run_fail_after = Some(n as u64),
                ("not-running", _) => f.not_running = true,
                ("latency", Some(ms)) => f.latency = Some(Duration::from_secs_f64(ms / 1000.0)),
                ("create-error", _) if CreateError::parse(value).is_some() => {
                    f.create_error = CreateError::parse(value);
                }
                ("create-error-times", Some(n)) => f.create_error_times = Some(n as u64),
                ("create-error-after", Some(s)) => {
                    f.create_error_after = Some(Duration::from_secs_f64(s));
                }
                ("stopped-hang", _) => f.stopped_hang = true,
                ("clone-slow", Some(sec)) => f.clone_slow = Some(Duration::from_secs_f64(sec)),
                ("push-tmp-view", _) => f.push_tmp_view = true,
                ("disk-quota", _) => f.disk_quota = true,
                _ => eprintln!("orbsim: ignoring unknown ORBSIM_FAULTS entry `{item}`"),
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault() {
        let f = Faults::parse(
            "create-slow=1.5, create-timeout,run-fail-after=3,not-running,latency=20",
        );
        assert_eq!(f.create_slow, Some(Duration::from_millis(1500)));
        assert!(f.create_timeout && f.not_running);
        assert_eq!(f.run_fail_after, Some(3));
        assert_eq!(f.latency, Some(Duration::from_millis(20)));
        let f = Faults::parse(
            "create-error=rootfs-eof,create-error-times=2,create-error-after=0.5,stopped-hang",
        );
        assert_eq!(f.create_error, Some(CreateError::RootfsEof));
        assert_eq!(f.create_error_times, Some(2));
        assert_eq!(f.create_error_after, Some(Duration::from_millis(500)));
        assert!(f.stopped_hang);
        let f = Faults::parse("clone-slow=0.25,push-tmp-view,disk-quota");
        assert_eq!(f.clone_slow, Some(Duration::from_millis(250)));
        assert!(f.push_tmp_view && f.disk_quota);
        assert_eq!(Faults::parse("create-error=bogus").create_error, None);
    }
}
