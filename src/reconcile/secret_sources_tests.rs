use super::*;

#[test]
fn the_connection_secret_is_read_whenever_a_decision_needs_it() {
    // (settled, kubeconfig apply missing, endpoint in outputs, fetch)
    let table = [
        (false, false, true, true),
        (true, false, true, false),
        (true, true, true, true),
        (true, false, false, true),
    ];
    for (settled, kubeconfig_apply_missing, endpoint_in_outputs, want) in table {
        let n = ConnectionNeeds {
            settled,
            kubeconfig_apply_missing,
            endpoint_in_outputs,
        };
        assert_eq!(n.fetch(), want, "{n:?}");
    }
}

#[test]
fn a_settled_sync_reopens_when_either_source_changes() {
    use crate::api::{AddonKeys, SecretSyncStatus};
    let status = |state, version: &str| SecretSyncStatus {
        state,
        observed_secret_version: Some(version.to_string()),
        keys: AddonKeys::default(),
        ..Default::default()
    };
    let v = source_version("10", Some("20"));
    assert_eq!(v, "10+20");
    assert_eq!(source_version("10", None), "10");
    let ready = status(SecretSyncState::Ready, &v);
    assert!(secret_sync_settled(Some(&ready), Some(&v), true));
    assert!(
        !secret_sync_settled(Some(&ready), Some(&v), false),
        "outputs missing"
    );
    assert!(!secret_sync_settled(
        Some(&ready),
        Some(&source_version("10", Some("21"))),
        true
    ));
    assert!(!secret_sync_settled(Some(&ready), Some("10"), true));
    assert!(secret_sync_settled(
        Some(&status(SecretSyncState::Failed, &v)),
        Some(&v),
        false
    ));
    assert!(!secret_sync_settled(
        Some(&status(SecretSyncState::WaitingForSecret, &v)),
        Some(&v),
        true
    ));
    assert!(!secret_sync_settled(None, Some(&v), true));
}
