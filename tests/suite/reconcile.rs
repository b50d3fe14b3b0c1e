//! Machine reconcile (the first phase of `apply`) against real orbsim machines, through
//! orbdeploy's library: create missing, start stopped, delete absent, refuse missing with
//! create off, adopt a machine whose create timed out, and change nothing in a dry run.

use crate::harness;

use harness::World;
use orbdeploy::orb::Orb;
use orbdeploy::plan::machines::{self, Action};
use orbdeploy::run::reconcile;

fn run(w: &World, faults: &str, inventory: &str, dry_run: bool) -> Vec<reconcile::MachineOutcome> {
    let orb = Orb::new(w.orbctl_wrapper(faults));
    let path = w.write("inv.yaml", inventory);
    let mut inv = orbdeploy::inventory::load(&path, &[]).expect("inventory loads");
    inv.attach(&orb.list().expect("orbctl list"));
    let hosts = inv.limit(&[]).expect("all hosts");
    let steps = machines::plan(&orb, &hosts, &Ok(Default::default()));
    reconcile::execute(&orb, &steps, dry_run)
}

#[test]
fn reconcile_creates_starts_deletes_and_refuses() {
    let w = World::new("reconcile");
    let (new, stopped, doomed, missing) = (
        w.name("new"),
        w.name("stopped"),
        w.name("doomed"),
        w.name("missing"),
    );
    w.create(&stopped);
    w.orbctl(["stop", stopped.as_str()]).assert_code(0);
    w.create(&doomed);
    let inventory = format!(
        "defaults: {{ image: debian:bookworm }}\nmachines:\n  {new}: {{ create: true }}\n  {stopped}: {{}}\n  {doomed}: {{ state: absent }}\n  {missing}: {{}}\n"
    );

    // A dry run says what it would do and changes nothing.
    let dry = run(&w, "", &inventory, true);
    let verbs: Vec<&str> = dry.iter().map(|o| o.action.verb(true)).collect();
    assert_eq!(
        verbs,
        ["would create", "would start", "would delete", "missing"]
    );
    assert_eq!(w.state(&new), None);
    assert_eq!(w.state(&stopped).as_deref(), Some("stopped"));
    assert_eq!(w.state(&doomed).as_deref(), Some("running"));

    let done = run(&w, "", &inventory, false);
    assert!(matches!(done[0].action, Action::Create(_)));
    assert_eq!(done[0].error, None);
    assert!(done[0]
        .machine_after
        .as_ref()
        .is_some_and(|m| m.is_running() && m.ip4.is_some()));
    assert_eq!(done[1].action, Action::Start);
    assert_eq!(w.state(&new).as_deref(), Some("running"));
    assert_eq!(w.state(&stopped).as_deref(), Some("running"));
    assert_eq!(w.state(&doomed), None);
    assert_eq!(done[3].action, Action::Missing);
    assert!(
        done[3]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("does not exist")),
        "{:?}",
        done[3].error
    );

    // Converged: a second reconcile keeps everything.
    let again = run(&w, "", &inventory, false);
    let verbs: Vec<&str> = again.iter().map(|o| o.action.verb(false)).collect();
    assert_eq!(verbs, ["ok", "ok", "ok", "missing"]);
}

#[test]
fn reconcile_adopts_a_machine_whose_create_timed_out() {
    let w = World::new("adopt");
    if w.real_orbstack {
        // Real OrbStack cannot be told to time out; this case is orbsim's fault injection.
        println!("adopt-after-timeout needs ORBSIM_FAULTS: not applicable to real OrbStack");
        return;
    }
    let name = w.name("slow");
    let inventory = format!(
        "defaults: {{ image: debian:bookworm, create: true }}\nmachines:\n  {name}: {{}}\n"
    );
    let out = run(&w, "create-timeout", &inventory, false);
    assert_eq!(out[0].error, None, "the machine should have been adopted");
    let note = out[0].note.as_deref().unwrap_or_default();
    assert!(note.starts_with("adopted: create reported"), "{note}");
    assert!(note.contains("missing IP address"), "{note}");
    assert_eq!(w.state(&name).as_deref(), Some("running"));
}

#[test]
fn reconcile_reports_drift_it_cannot_fix() {
    let w = World::new("drift");
    let name = w.name("old");
    w.create(&name);
    let inventory = format!("machines:\n  {name}: {{ image: \"debian:trixie\" }}\n");
    let out = run(&w, "", &inventory, false);
    match &out[0].action {
        Action::Drift(why) => assert!(why.contains("runs version `bookworm`"), "{why}"),
        other => panic!("expected drift, got {other:?}"),
    }
    assert!(out[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("delete and re-create")));
}
