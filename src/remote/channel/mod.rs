//! The persistent channel: one agent per machine and user — `orbctl run -m M [-u U] -w /
//! sh -c AGENT` on an OrbStack machine, `ssh … 'cd / && exec [sudo -n -u U --] sh -c
//! AGENT'` over the host's master on an ssh host (the transport's [`Launcher`]) —
//! carrying framed requests on its stdin and framed replies on its stdout (see `agent.sh`
//! for the wire format). Opening it costs one process and one login shell; every later
//! request costs only the forks the agent makes on the machine.

#[cfg(test)]
mod chain_tests;
mod io;
mod session;
mod sudo;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use crate::orb::Orb;
use crate::quote;
use crate::remote::launcher::{Launcher, OrbLauncher};
use crate::remote::trace::Tracer;
use crate::remote::{
    read_by_cat, write_by_script, Exec, ExecOutput, Input, Link, Meter, Remote, RemoteError,
    WriteFile,
};

pub use io::nonce;
pub use session::{agent, Session};
pub use sudo::prompt as sudo_prompt;

/// How many times one user's session may be reopened at once after it dropped, to send the
/// request again (a machine that keeps dropping sessions is not going to get better); later
/// requests still open a new session of their own.
const MAX_REOPENS: u32 = 3;

/// Channels to one machine, one session per user, opened on first use.
pub struct Channel {
    launcher: Arc<dyn Launcher>,
    machine: String,
    sessions: HashMap<Option<String>, Session>,
    reopens: HashMap<Option<String>, u32>,
    opened: usize,
    meter: Meter,
    trace: Tracer,
}

impl Channel {
    /// A channel to `machine`; nothing is started until the first request.
    pub fn new(orb: &Orb, machine: &str) -> Self {
        let launcher = OrbLauncher {
            orb: orb.clone(),
            machine: machine.to_string(),
        };
        Channel::over(Arc::new(launcher), machine)
    }

    /// A channel to `machine` whose agents `launcher` starts.
    pub fn over(launcher: Arc<dyn Launcher>, machine: &str) -> Self {
        Channel {
            launcher,
            machine: machine.to_string(),
            sessions: HashMap::new(),
            reopens: HashMap::new(),
            opened: 0,
            meter: Meter {
                measured: true,
                ..Meter::default()
            },
            trace: Tracer::default(),
        }
    }

    /// Keep a copy of every script sent in `trace`.
    pub fn traced(mut self, trace: Tracer) -> Self {
        self.trace = trace;
        self
    }

    /// How many sessions (agents) this channel has started.
    pub fn sessions_opened(&self) -> usize {
        self.opened
    }

    /// Open the sessions of these users at once, in parallel (each costs an orbctl process
    /// and a login shell; a machine whose steps run as two users would otherwise pay twice
    /// in a row). Failures are left for the first request of that user to report.
    pub fn open_all(&mut self, users: &[Option<String>]) {
        let mut wanted: Vec<Option<String>> = Vec::new();
        for u in users.iter().map(|u| self.account(u)) {
            if !self.sessions.contains_key(&u) && !wanted.contains(&u) {
                wanted.push(u);
            }
        }
        if wanted.len() < 2 {
            return;
        }
        let t = Instant::now();
        let (launcher, machine, trace) = (&*self.launcher, self.machine.as_str(), &self.trace);
        let opened: Vec<(Option<String>, Session)> = std::thread::scope(|scope| {
            let handles: Vec<_> = wanted
                .iter()
                .map(|u| {
                    let u = u.clone();
                    scope.spawn(move || {
                        Session::open(launcher, machine, u.as_deref(), trace)
                            .ok()
                            .map(|s| (u, s))
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok().flatten())
                .collect()
        });
        // They opened side by side: the wall time is what the run waited.
        self.meter.sessions += t.elapsed();
        for (u, s) in opened {
            self.opened += 1;
            self.sessions.insert(u, s);
        }
    }

    fn session(&mut self, user: &Option<String>) -> Result<&mut Session, RemoteError> {
        match self.sessions.entry(user.clone()) {
            Entry::Occupied(open) => Ok(open.into_mut()),
            Entry::Vacant(slot) => {
                let t = Instant::now();
                let opened =
                    Session::open(&*self.launcher, &self.machine, user.as_deref(), &self.trace);
                self.meter.sessions += t.elapsed();
                let s = opened?;
                self.opened += 1;
                Ok(slot.insert(s))
            }
        }
    }

    /// The session a user's requests go to: the login user's own name shares the default
    /// session (one session per account).
    fn account(&self, user: &Option<String>) -> Option<String> {
        match user {
            Some(u) if self.launcher.is_login_user(u) => None,
            other => other.clone(),
        }
    }

    fn drop_session(&mut self, user: &Option<String>) -> bool {
        if let Some(mut s) = self.sessions.remove(user) {
            s.close();
        }
        let n = self.reopens.entry(user.clone()).or_insert(0);
        *n += 1;
        *n <= MAX_REOPENS
    }
}

impl Remote for Channel {
    fn machine(&self) -> &str {
        &self.machine
    }

    fn exec_stream(
        &mut self,
        req: &Exec,
        mut input: Option<Input<'_>>,
        mut sink: Option<&mut dyn Write>,
    ) -> Result<ExecOutput, RemoteError> {
        let user = self.account(&req.user);
        // After Ctrl-C nothing new is sent; a request a chain sent ahead is still answered
        // (usually by the session's end), as it would be had it been sent on its own before
        // the Ctrl-C: the agent may have started it.
        let sent_ahead = self.sessions.get(&user).is_some_and(|s| s.sent_ahead(req));
        if crate::interrupt::requested() && !sent_ahead {
            return Err(RemoteError::Interrupted);
        }
        // A session found dead before the request started is reopened once; a request
        // that had started is never sent again (it may have changed the machine).
        for attempt in 0..2 {
            let (result, took, ran, ahead) = {
                let session = self.session(&user)?;
                let t = Instant::now();
                let result = session.request(req, input.as_mut(), sink.as_deref_mut());
                (result, t.elapsed(), session.ran(), session.answered_ahead())
            };
            if ahead {
                // Its request was the chain's, counted when sent; the wait is still the wire's.
                self.meter.request += took;
                self.meter.machine += ran.unwrap_or_default().min(took);
            } else {
                self.meter.count_request(took, ran);
            }
            match result {
                Ok(out) => return Ok(out),
                Err(session::RequestError::NotStarted(detail)) => {
                    let may_retry = self.drop_session(&user) && attempt == 0;
                    if !may_retry {
                        return Err(RemoteError::Disconnected {
                            machine: self.machine.clone(),
                            detail,
                        });
                    }
                }
                Err(session::RequestError::Lost(detail)) => {
                    self.drop_session(&user);
                    return Err(RemoteError::Disconnected {
                        machine: self.machine.clone(),
                        detail,
                    });
                }
                Err(session::RequestError::Other(e)) => return Err(e),
            }
        }
        Err(RemoteError::Disconnected {
            machine: self.machine.clone(),
            detail: "the session could not be reopened".into(),
        })
    }

    fn describe(&self, req: &Exec) -> Vec<String> {
        let mut out = Vec::new();
        let user = self.account(&req.user);
        if !self.sessions.contains_key(&user) {
            // The agent script is long; show it by name.
            let argv = session::open_argv(
                &*self.launcher,
                user.as_deref(),
                "<orbdeploy channel agent>",
                "NONCE",
            );
            out.push(quote::join(&argv));
        }
        out.push(format!(
            "(channel) sh <<< {}",
            quote::quote(req.full_script().trim_end_matches('\n'))
        ));
        out
    }

    fn expect_users(&mut self, users: &[Option<String>]) {
        self.open_all(users);
    }

    fn chains(&self) -> bool {
        true
    }

    fn send_chain(&mut self, chain: &[(Exec, Link)]) -> Result<(), RemoteError> {
        let Some((first, _)) = chain.first() else {
            return Ok(());
        };
        if crate::interrupt::requested() {
            return Err(RemoteError::Interrupted);
        }
        let user = self.account(&first.user);
        let t = Instant::now();
        let sent = self.session(&user)?.send_chain(chain);
        self.meter.count_request(t.elapsed(), None);
        match sent {
            Ok(()) => Ok(()),
            // Nothing was sent: every request of the chain will be made on its own.
            Err(session::RequestError::NotStarted(_)) => {
                self.drop_session(&user);
                Ok(())
            }
            Err(session::RequestError::Lost(detail)) => Err(RemoteError::Disconnected {
                machine: self.machine.clone(),
                detail,
            }),
            Err(session::RequestError::Other(e)) => Err(e),
        }
    }

    fn chain_pending(&self) -> bool {
        self.sessions.values().any(Session::chain_pending)
    }

    fn meter(&self) -> Meter {
        self.meter
    }

    fn write_file(&mut self, req: &WriteFile, content: &mut dyn Read) -> Result<(), RemoteError> {
        let t = Instant::now();
        let written = write_by_script(self, req, content);
        self.meter.count_transfer(t, &written, |_| req.len);
        written
    }

    fn read_file(
        &mut self,
        path: &str,
        user: Option<&str>,
        sink: &mut dyn Write,
    ) -> Result<u64, RemoteError> {
        let t = Instant::now();
        let read = read_by_cat(self, path, user, sink);
        self.meter.count_transfer(t, &read, |n| *n);
        read
    }

    fn close(&mut self) {
        if self.sessions.is_empty() {
            return;
        }
        let t = Instant::now();
        for s in self.sessions.values_mut() {
            s.ask_to_quit();
        }
        for (_, mut s) in self.sessions.drain() {
            s.close();
        }
        self.meter.sessions += t.elapsed();
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.close();
    }
}
