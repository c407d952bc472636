//! Which events CloudStack writes for which action on a VM, in which order, with which fields.
//!
//! Read from CloudStack's source (`ApiServer.queueCommand`, `ApiDispatcher.dispatch`, `ActionEventInterceptor`,
//! `ActionEventUtils`, `EventTypes`, `UserVmManagerImpl`'s `@ActionEvent`s):
//! - An async command (start, stop, destroy, expunge, migrate, add/remove/update NIC) writes `Scheduled` when it is
//!   queued, then `Started` and `Completed` when its job runs; the last two point at the first (`parentid`).
//! - A create command (deploy: `VM.CREATE`) first writes `Created` ("Successfully created entity for …"), which
//!   becomes the command's first event: `Scheduled`, `Started` and `Completed` point at it. A VM deployed with
//!   `startvm=false` is never started: its job writes nothing more than `Created` and `Scheduled` (a VM added here
//!   in a state other than Running is taken to be one).
//! - A synchronous command (recover: `VM.RECOVER`; assign to another account: `VM.MOVE`) writes one `Completed`
//!   event and no parent.
//! - Every event of a command carries the command's resource: `resourcetype` `VirtualMachine` and the VM's UUID, NIC
//!   commands included (their resource is the VM). The expunge thread (a destroyed VM's `expunge.delay` passing) runs
//!   no command: it writes `Started` and `Completed` `VM.EXPUNGE` as the `system` user, with `resourcetype` but no
//!   `resourceid`, and no parent.
//! - `Started` capitalises the action's description; `Completed` says "Successfully completed …".
//!
//! Modelled simply: the VM's owner acts (its account, or the project's for a project VM, so those events are
//! project events, hidden from `listEvents` without `projectid` as the VM is from a listing). All of one action's
//! events share one second. Not modelled: failed actions (`ERROR` level), and an admin acting on another account's
//! VM (CloudStack then writes `Scheduled` in the owner's account and the job's events in the admin's).

use crate::cloud::Vm;
use crate::events::{Draft, EventLog, EventState, Owner, Resource};

/// The account the stand-in's API key belongs to (a root admin); VMs without an `account` are its own.
pub const CALLER_ACCOUNT: &str = "admin";
/// The resource type of every event written here.
pub const VM_RESOURCE: &str = "VirtualMachine";

/// Something done to a VM that CloudStack records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `deployVirtualMachine`.
    Deploy,
    /// `startVirtualMachine`.
    Start,
    /// `stopVirtualMachine`.
    Stop,
    /// `destroyVirtualMachine` (without `expunge`).
    Destroy,
    /// `recoverVirtualMachine`: a destroyed VM back to Stopped.
    Recover,
    /// `expungeVirtualMachine`.
    Expunge,
    /// The expunge thread removing a destroyed VM.
    ExpungeTask,
    /// `migrateVirtualMachine`.
    Migrate,
    /// `assignVirtualMachine`: the VM moved to another account (or came into view in one).
    Move,
    /// `addNicToVirtualMachine` with the new NIC's id.
    AddNic(String),
    /// `removeNicFromVirtualMachine` with the NIC's id.
    RemoveNic(String),
    /// `updateDefaultNicForVirtualMachine` (a NIC changed) with the NIC's id.
    UpdateNic(String),
    /// Any other async command on the VM, by event type.
    Other(String),
}

/// How a command runs, which decides its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    AsyncCreate,
    Async,
    Sync,
    Background,
}

/// An action's event type, how it runs, the command's own description, and its `@ActionEvent` description.
struct Spec {
    kind: String,
    run: Run,
    queued: String,
    annotation: &'static str,
}

impl Action {
    fn spec(&self, vm: &str) -> Spec {
        let spec = |kind: &str, run, queued: String, annotation| Spec { kind: kind.into(), run, queued, annotation };
        match self {
            Action::Deploy => spec("VM.CREATE", Run::AsyncCreate, format!("starting Vm. Vm Id: {vm}"), "starting Vm"),
            Action::Start => spec("VM.START", Run::Async, format!("starting user vm: {vm}"), "starting Vm"),
            Action::Stop => spec("VM.STOP", Run::Async, format!("stopping user vm: {vm}"), "stopping Vm"),
            Action::Destroy => spec("VM.DESTROY", Run::Async, format!("destroying vm: {vm}"), "destroying Vm"),
            Action::Recover => spec("VM.RECOVER", Run::Sync, String::new(), "Recovering VM"),
            Action::Expunge => spec("VM.EXPUNGE", Run::Async, format!("Expunging vm: {vm}"), "expunging Vm"),
            Action::ExpungeTask => spec("VM.EXPUNGE", Run::Background, String::new(), "expunging Vm"),
            Action::Migrate => {
                spec("VM.MIGRATE", Run::Async, format!("Attempting to migrate VM Id: {vm}"), "migrating VM")
            }
            Action::Move => spec("VM.MOVE", Run::Sync, String::new(), "move VM to another user"),
            Action::AddNic(nic) => {
                spec("NIC.CREATE", Run::Async, format!("Adding NIC {nic} to user vm: {vm}"), "Creating Nic")
            }
            Action::RemoveNic(nic) => {
                spec("NIC.DELETE", Run::Async, format!("Removing NIC {nic} from user vm: {vm}"), "Removing Nic")
            }
            // Sic: CloudStack's annotation for updating the default NIC says "Creating Nic".
            Action::UpdateNic(nic) => {
                spec("NIC.UPDATE", Run::Async, format!("Updating NIC {nic} on user vm: {vm}"), "Creating Nic")
            }
            Action::Other(kind) => Spec {
                kind: kind.clone(),
                run: Run::Async,
                queued: format!("{kind} of vm: {vm}"),
                annotation: "acting on Vm",
            },
        }
    }

    /// The action CloudStack records for a VM whose state goes from `old` to `new`, if one.
    pub fn for_state_change(old: &str, new: &str) -> Option<Action> {
        let (old, new) = (old.to_ascii_lowercase(), new.to_ascii_lowercase());
        match (old.as_str(), new.as_str()) {
            (old, new) if old == new => None,
            (_, "destroyed") => Some(Action::Destroy),
            ("destroyed", "stopped") => Some(Action::Recover),
            (_, "running") => Some(Action::Start),
            (_, "stopped") => Some(Action::Stop),
            _ => None,
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Writes the events CloudStack writes when `action` is done to `vm`, at second `now`.
pub fn record(log: &mut EventLog, action: &Action, vm: &Vm, now: i64) {
    let spec = action.spec(&vm.id);
    let details = format!(". Vm Id: {}", vm.id);
    let display_name = vm.extra.get("displayname").and_then(|name| name.as_str()).unwrap_or(&vm.name);
    let account = vm.account.as_deref().unwrap_or(CALLER_ACCOUNT);
    let owner = Owner {
        account: account.to_string(),
        username: if vm.projectid.is_some() { CALLER_ACCOUNT } else { account }.to_string(),
        projectid: vm.projectid.as_ref().map(|project| project.to_string()),
    };
    let named = Resource { kind: VM_RESOURCE, id: Some(vm.id.to_string()), name: Some(display_name.to_string()) };
    let event = |state, description: String| Draft {
        kind: spec.kind.clone(),
        state,
        description,
        resource: Some(named.clone()),
        owner: owner.clone(),
    };
    let started = event(EventState::Started, format!("{}{details}", capitalised(spec.annotation)));
    let completed = event(EventState::Completed, format!("Successfully completed {}{details}", spec.annotation));
    match spec.run {
        Run::AsyncCreate => {
            let created = event(EventState::Created, "Successfully created entity for deploying Vm".to_string());
            let queued = event(EventState::Scheduled, spec.queued.clone());
            let drafts = if vm.state.eq_ignore_ascii_case("Running") {
                vec![created, queued, started, completed]
            } else {
                vec![created, queued]
            };
            log.write(drafts, true, now);
        }
        Run::Async => {
            let queued = event(EventState::Scheduled, spec.queued.clone());
            log.write(vec![queued, started, completed], true, now);
        }
        Run::Sync => {
            log.write(vec![completed], false, now);
        }
        Run::Background => {
            let system = Owner { account: "system".into(), username: "system".into(), projectid: None };
            let unnamed = Resource { kind: VM_RESOURCE, id: None, name: None };
            let as_system = |draft: Draft| Draft { owner: system.clone(), resource: Some(unnamed.clone()), ..draft };
            log.write(vec![as_system(started), as_system(completed)], false, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vm(extra: serde_json::Value) -> Vm {
        let mut fields = json!({"id": "0b7e4a43-6c1d-4f0e-9a51-1c2d3e4f5a6b", "name": "web", "zoneid": "z1"});
        fields.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(fields).unwrap()
    }

    fn states(log: &EventLog) -> Vec<(String, EventState, Option<u64>)> {
        log.all().iter().map(|e| (e.draft.kind.clone(), e.draft.state, e.parent)).collect()
    }

    #[test]
    fn a_deploy_writes_created_then_scheduled_started_completed_all_pointing_at_created() {
        let mut log = EventLog::default();
        record(&mut log, &Action::Deploy, &vm(json!({"displayname": "Web server"})), 100);
        let create = |state, parent| ("VM.CREATE".to_string(), state, parent);
        assert_eq!(
            states(&log),
            [
                create(EventState::Created, None),
                create(EventState::Scheduled, Some(1)),
                create(EventState::Started, Some(1)),
                create(EventState::Completed, Some(1))
            ]
        );
        let completed = &log.all()[3].draft;
        assert_eq!(completed.resource.as_ref().unwrap().name.as_deref(), Some("Web server"));
        assert_eq!(completed.owner, Owner { account: "admin".into(), username: "admin".into(), projectid: None });
        assert!(log.all().iter().all(|e| e.created == 100));
    }

    #[test]
    fn a_vm_deployed_without_starting_it_gets_created_and_scheduled_only() {
        let mut log = EventLog::default();
        record(&mut log, &Action::Deploy, &vm(json!({"state": "Stopped"})), 1);
        let states: Vec<EventState> = log.all().iter().map(|e| e.draft.state).collect();
        assert_eq!(states, [EventState::Created, EventState::Scheduled]);
    }

    #[test]
    fn sync_commands_write_one_completed_event_and_the_expunge_thread_names_no_vm() {
        let mut log = EventLog::default();
        record(&mut log, &Action::Recover, &vm(json!({})), 1);
        record(&mut log, &Action::ExpungeTask, &vm(json!({})), 2);
        assert_eq!(
            states(&log),
            [
                ("VM.RECOVER".into(), EventState::Completed, None),
                ("VM.EXPUNGE".into(), EventState::Started, None),
                ("VM.EXPUNGE".into(), EventState::Completed, None)
            ]
        );
        let by_thread = &log.all()[2].draft;
        assert_eq!(by_thread.owner.account, "system");
        assert_eq!(by_thread.resource, Some(Resource { kind: "VirtualMachine", id: None, name: None }));
    }

    #[test]
    fn a_project_vms_events_belong_to_the_project_and_nic_events_name_the_vm() {
        let mut log = EventLog::default();
        let in_project = vm(json!({"projectid": "proj-1", "account": "project-account"}));
        record(&mut log, &Action::AddNic("nic-2".into()), &in_project, 5);
        assert!(log.all().iter().all(|e| e.draft.owner.projectid.as_deref() == Some("proj-1")
            && e.draft.owner.account == "project-account"
            && e.draft.kind == "NIC.CREATE"
            && e.draft.resource.as_ref().unwrap().id.as_deref() == Some("0b7e4a43-6c1d-4f0e-9a51-1c2d3e4f5a6b")));
        assert_eq!(log.all()[1].draft.description, "Creating Nic. Vm Id: 0b7e4a43-6c1d-4f0e-9a51-1c2d3e4f5a6b");
    }

    #[test]
    fn state_changes_map_to_the_commands_that_make_them() {
        assert_eq!(Action::for_state_change("Running", "Destroyed"), Some(Action::Destroy));
        assert_eq!(Action::for_state_change("Destroyed", "Stopped"), Some(Action::Recover));
        assert_eq!(Action::for_state_change("Stopped", "Running"), Some(Action::Start));
        assert_eq!(Action::for_state_change("Running", "stopped"), Some(Action::Stop));
        assert_eq!(Action::for_state_change("Running", "running"), None);
        assert_eq!(Action::for_state_change("Running", "Migrating"), None);
    }
}
