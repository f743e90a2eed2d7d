//! Table tests of the secret sync step: every transition of the connection-secret state diagram and
//! the secrets it plans.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::*;
use crate::reconcile::kubeconfig::tests::token_kubeconfig;
use crate::reconcile::outcome::EventType;
use crate::reconcile::secrets::reasons as sr;

#[path = "decision_test_support.rs"]
#[allow(clippy::duplicate_mod)]
mod support;
use support::secret_writes as writes;
use support::*;

const HOST: &str = "ABCD1234.gr7.ap-northeast-1.eks.amazonaws.com";
/// DER of SEQUENCE { INTEGER 1, INTEGER 2 }: shaped like a certificate.
const FAKE_DER: [u8; 8] = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];

fn ca_pem() -> String {
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(FAKE_DER)
    )
}

fn kubeconfig() -> String {
    token_kubeconfig(&format!("https://{HOST}"))
}

/// The connection secret provider-terraform writes for a healthy EKS Workspace.
fn good() -> BTreeMap<String, Vec<u8>> {
    [
        ("kubeconfig", kubeconfig()),
        (
            "cluster_certificate_authority_data",
            STANDARD.encode(ca_pem()),
        ),
        ("cluster_endpoint", format!("https://{HOST}")),
        ("cluster_name", "alpha".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_bytes()))
    .collect()
}

fn conn(rv: &str, data: BTreeMap<String, Vec<u8>>) -> ConnectionSecret {
    ConnectionSecret {
        resource_version: rv.into(),
        data,
    }
}

fn owner() -> Value {
    json!({
        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
        "kind": "CAPTControlPlane",
        "name": "alpha",
        "uid": "uid-cp",
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Inputs of one sync.
struct In {
    workspace_ready: bool,
    outputs_endpoint: Option<&'static str>,
    connection: Option<ConnectionSecret>,
    unchanged: bool,
    kubeconfig_secret: Option<OwnedSecret>,
    ca_secret: Option<OwnedSecret>,
    now: Time,
}

impl Default for In {
    fn default() -> Self {
        In {
            workspace_ready: true,
            outputs_endpoint: None,
            connection: None,
            unchanged: false,
            kubeconfig_secret: None,
            ca_secret: None,
            now: at(0),
        }
    }
}

impl In {
    fn run(&self, observed: Option<&SecretSyncStatus>) -> (SyncOutcome, Plan<()>) {
        let w = SyncWorld {
            workspace_ready: self.workspace_ready,
            outputs_endpoint: self.outputs_endpoint,
            connection: self.connection.as_ref(),
            connection_unchanged: self.unchanged,
            kubeconfig_secret: self.kubeconfig_secret.as_ref(),
            ca_secret: self.ca_secret.as_ref(),
            namespace: NS,
            cluster_name: "alpha",
            owner: owner(),
            now: self.now.clone(),
            token: None,
        };
        let mut plan = Plan::default();
        let out = sync(observed, &w, &mut plan);
        (out, plan)
    }
}

fn events(plan: &Plan<()>) -> Vec<(EventType, &str)> {
    plan.events
        .iter()
        .map(|e| (e.type_, e.reason.as_str()))
        .collect()
}

fn status(
    state: SecretSyncState,
    reason: &str,
    version: Option<&str>,
    since: i64,
) -> SecretSyncStatus {
    SecretSyncStatus {
        state,
        reason: Some(reason.into()),
        message: Some(String::new()),
        observed_secret_version: version.map(str::to_string),
        last_transition_time: Some(at(since)),
        ..Default::default()
    }
}

/// Data hashes of the kubeconfig and CA secrets a Ready sync of `good()` writes.
fn written_hashes() -> (OwnedSecret, OwnedSecret) {
    let (_, plan) = In {
        connection: Some(conn("1", good())),
        ..In::default()
    }
    .run(None);
    let hash = |name: &str| OwnedSecret {
        data_hash: writes(&plan)
            .iter()
            .find(|w| w.name == name)
            .and_then(|w| w.annotations.get(DATA_HASH_ANNOTATION).cloned()),
    };
    (hash("alpha-kubeconfig"), hash("alpha-ca"))
}

const N: EventType = EventType::Normal;
const WARN: EventType = EventType::Warning;

#[test]
fn nothing_is_awaited_before_the_control_plane_is_up() {
    let (out, plan) = In {
        workspace_ready: false,
        ..In::default()
    }
    .run(None);
    assert_eq!(out.status.state, SecretSyncState::WaitingForSecret);
    assert_eq!(out.status.last_transition_time, None);
    assert!(plan.action.timers.is_empty());
    assert!(plan.events.is_empty() && plan.ops.is_empty());
    assert!(!out.kubeconfig_exists);
}

#[test]
fn absent_secret_arms_the_five_minute_timer_then_times_out() {
    // (case, observed, now, state, reason, timer left, events)
    let waiting = status(
        SecretSyncState::WaitingForSecret,
        sr::WAITING_FOR_SECRET,
        None,
        0,
    );
    let table = [
        (
            "first look",
            None,
            0,
            SecretSyncState::WaitingForSecret,
            sr::WAITING_FOR_SECRET,
            Some(300),
            vec![],
        ),
        (
            "two minutes in",
            Some(&waiting),
            120,
            SecretSyncState::WaitingForSecret,
            sr::WAITING_FOR_SECRET,
            Some(180),
            vec![],
        ),
        (
            "at five minutes",
            Some(&waiting),
            300,
            SecretSyncState::Failed,
            sr::SECRET_TIMEOUT,
            None,
            vec![(WARN, sr::SECRET_TIMEOUT)],
        ),
    ];
    for (case, observed, now, state, reason, left, evs) in table {
        let (out, plan) = In {
            now: at(now),
            ..In::default()
        }
        .run(observed);
        assert_eq!(out.status.state, state, "{case}");
        assert_eq!(out.status.reason.as_deref(), Some(reason), "{case}");
        assert_eq!(armed(&plan, SECRET_TIMER), left.map(after), "{case}");
        assert_eq!(cancelled(&plan, SECRET_TIMER), left.is_none(), "{case}");
        assert_eq!(events(&plan), evs, "{case}");
        assert!(plan.ops.is_empty(), "{case}");
    }
}

#[test]
fn valid_secret_is_validated_and_the_capi_secrets_are_planned() {
    let (out, plan) = In {
        connection: Some(conn("1", good())),
        now: at(30),
        ..In::default()
    }
    .run(None);
    assert_eq!(
        events(&plan),
        vec![(N, sr::VALIDATING_SECRET), (N, sr::SECRET_READY)]
    );
    let s = &out.status;
    assert_eq!(s.state, SecretSyncState::Ready);
    assert_eq!(s.reason.as_deref(), Some(sr::SECRET_READY));
    assert_eq!(s.observed_secret_version.as_deref(), Some("1"));
    assert_eq!(s.last_transition_time, Some(at(30)));
    assert!(s.keys.cluster_endpoint && s.keys.cluster_name);
    assert!(!s.keys.karpenter_queue_name);
    assert!(out.validated.is_some());
    assert!(!out.kubeconfig_exists, "not yet written");
    assert!(cancelled(&plan, SECRET_TIMER));

    let w = writes(&plan);
    assert_eq!(w.len(), 2);
    let kc = w
        .iter()
        .find(|w| w.name == "alpha-kubeconfig")
        .expect("kubeconfig");
    assert_eq!(kc.namespace, NS);
    assert_eq!(kc.type_, "cluster.x-k8s.io/secret");
    assert_eq!(kc.data.keys().collect::<Vec<_>>(), vec!["value"]);
    assert_eq!(kc.data["value"], kubeconfig().into_bytes());
    assert_eq!(
        kc.labels,
        BTreeMap::from([(
            "cluster.x-k8s.io/cluster-name".to_string(),
            "alpha".to_string()
        )])
    );
    assert_eq!(kc.owner, owner());
    assert_eq!(kc.owner["controller"], json!(true));
    assert!(kc.annotations.contains_key(DATA_HASH_ANNOTATION));
    assert!(!kc.exists);
    let ca = w.iter().find(|w| w.name == "alpha-ca").expect("ca");
    assert_eq!(ca.type_, "Opaque");
    assert_eq!(
        ca.data.keys().collect::<Vec<_>>(),
        vec!["ca.crt", "tls.crt"]
    );
    assert_eq!(ca.data["ca.crt"], ca_pem().into_bytes());
    assert_eq!(ca.owner, owner());
}

#[test]
fn invalid_secrets_fail_with_their_reason() {
    type Edit = fn(&mut BTreeMap<String, Vec<u8>>);
    let table: [(&str, Edit, &str); 6] = [
        (
            "no kubeconfig",
            |d| {
                d.remove("kubeconfig");
            },
            sr::MISSING_KEY,
        ),
        (
            "no CA",
            |d| {
                d.remove("cluster_certificate_authority_data");
            },
            sr::MISSING_KEY,
        ),
        (
            "unparsable kubeconfig",
            |d| {
                d.insert("kubeconfig".into(), b"clusters: [unterminated".to_vec());
            },
            sr::INVALID_KUBECONFIG,
        ),
        (
            "CA not a certificate",
            |d| {
                d.insert(
                    "cluster_certificate_authority_data".into(),
                    b"bm90IGEgY2VydA==".to_vec(),
                );
            },
            sr::INVALID_CERTIFICATE,
        ),
        (
            "no endpoint",
            |d| {
                d.remove("cluster_endpoint");
            },
            sr::ENDPOINT_NOT_AVAILABLE,
        ),
        (
            "unusable endpoint",
            |d| {
                d.insert("cluster_endpoint".into(), b"ftp://host".to_vec());
            },
            sr::INVALID_ENDPOINT,
        ),
    ];
    for (case, edit, reason) in table {
        let mut data = good();
        edit(&mut data);
        let (out, plan) = In {
            connection: Some(conn("7", data)),
            ..In::default()
        }
        .run(None);
        assert_eq!(out.status.state, SecretSyncState::Failed, "{case}");
        assert_eq!(out.status.reason.as_deref(), Some(reason), "{case}");
        assert_eq!(
            out.status.observed_secret_version.as_deref(),
            Some("7"),
            "{case}"
        );
        assert_eq!(
            events(&plan),
            vec![(N, sr::VALIDATING_SECRET), (WARN, reason)],
            "{case}"
        );
        assert!(
            writes(&plan).is_empty(),
            "{case}: nothing written from a bad secret"
        );
        assert!(out.validated.is_none(), "{case}");
        assert!(cancelled(&plan, SECRET_TIMER), "{case}");
        let msg = out.status.message.clone().unwrap_or_default();
        assert!(!msg.is_empty(), "{case}");
        assert!(!msg.contains("k8s-aws-v1"), "{case}: no secret in {msg}");
    }
}

#[test]
fn ready_steady_state_writes_only_changed_content() {
    let (kc_hash, ca_hash) = written_hashes();
    let ready = status(SecretSyncState::Ready, sr::SECRET_READY, Some("1"), 0);
    // (case, kubeconfig secret, ca secret, written names)
    let table = [
        (
            "both current",
            Some(kc_hash.clone()),
            Some(ca_hash.clone()),
            vec![],
        ),
        (
            "kubeconfig missing",
            None,
            Some(ca_hash.clone()),
            vec![("alpha-kubeconfig", false)],
        ),
        (
            "kubeconfig edited",
            Some(OwnedSecret {
                data_hash: Some("stale".into()),
            }),
            Some(ca_hash.clone()),
            vec![("alpha-kubeconfig", true)],
        ),
        (
            "ca without annotation",
            Some(kc_hash.clone()),
            Some(OwnedSecret::default()),
            vec![("alpha-ca", true)],
        ),
    ];
    for (case, kc, ca, want) in table {
        let kc_exists = kc.is_some();
        let (out, plan) = In {
            connection: Some(conn("1", good())),
            kubeconfig_secret: kc,
            ca_secret: ca,
            now: at(600),
            ..In::default()
        }
        .run(Some(&ready));
        assert_eq!(out.status, ready, "{case}: no transition");
        assert!(plan.events.is_empty(), "{case}");
        let got: Vec<(&str, bool)> = writes(&plan)
            .iter()
            .map(|w| (w.name.as_str(), w.exists))
            .collect();
        assert_eq!(got, want, "{case}");
        assert_eq!(out.kubeconfig_exists, kc_exists, "{case}");
    }
}

#[test]
fn settled_secret_is_not_revisited() {
    let ready = status(SecretSyncState::Ready, sr::SECRET_READY, Some("1"), 0);
    let (out, plan) = In {
        unchanged: true,
        kubeconfig_secret: Some(OwnedSecret::default()),
        ..In::default()
    }
    .run(Some(&ready));
    assert_eq!(out.status, ready);
    assert!(out.kubeconfig_exists);
    assert!(plan.ops.is_empty() && plan.events.is_empty() && plan.action.timers.is_empty());
}

#[test]
fn ready_goes_back_to_waiting_when_the_secret_changes() {
    let (kc_hash, ca_hash) = written_hashes();
    let ready = status(SecretSyncState::Ready, sr::SECRET_READY, Some("1"), 0);
    let mut rotated = good();
    rotated.insert(
        "kubeconfig".into(),
        kubeconfig()
            .replace("k8s-aws-v1.", "k8s-aws-v1.rotated")
            .into_bytes(),
    );
    let mut broken = good();
    broken.remove("kubeconfig");
    // (case, data, final state, events, written)
    let table = [
        (
            "valid change",
            rotated,
            SecretSyncState::Ready,
            vec![
                (N, sr::SECRET_CHANGED),
                (N, sr::VALIDATING_SECRET),
                (N, sr::SECRET_READY),
            ],
            vec![("alpha-kubeconfig", true)],
        ),
        (
            "invalid change",
            broken,
            SecretSyncState::Failed,
            vec![
                (N, sr::SECRET_CHANGED),
                (N, sr::VALIDATING_SECRET),
                (WARN, sr::MISSING_KEY),
            ],
            vec![],
        ),
    ];
    for (case, data, state, evs, want) in table {
        let (out, plan) = In {
            connection: Some(conn("2", data)),
            kubeconfig_secret: Some(kc_hash.clone()),
            ca_secret: Some(ca_hash.clone()),
            now: at(900),
            ..In::default()
        }
        .run(Some(&ready));
        assert_eq!(out.status.state, state, "{case}");
        assert_eq!(
            out.status.observed_secret_version.as_deref(),
            Some("2"),
            "{case}"
        );
        assert_eq!(out.status.last_transition_time, Some(at(900)), "{case}");
        assert_eq!(events(&plan), evs, "{case}");
        let got: Vec<(&str, bool)> = writes(&plan)
            .iter()
            .map(|w| (w.name.as_str(), w.exists))
            .collect();
        assert_eq!(got, want, "{case}: the CA did not change");
    }
}

#[test]
fn ready_goes_back_to_waiting_when_the_secret_is_deleted() {
    let ready = status(SecretSyncState::Ready, sr::SECRET_READY, Some("1"), 0);
    let (out, plan) = In {
        now: at(1000),
        ..In::default()
    }
    .run(Some(&ready));
    assert_eq!(out.status.state, SecretSyncState::WaitingForSecret);
    assert_eq!(out.status.reason.as_deref(), Some(sr::SECRET_DELETED));
    assert_eq!(events(&plan), vec![(WARN, sr::SECRET_DELETED)]);
    assert_eq!(armed(&plan, SECRET_TIMER), Some(after(300)));
    assert!(plan.ops.is_empty());
}

#[test]
fn failed_stays_until_the_secret_changes() {
    let failed = status(SecretSyncState::Failed, sr::MISSING_KEY, Some("1"), 0);
    let mut bad = good();
    bad.remove("kubeconfig");

    let (out, plan) = In {
        connection: Some(conn("1", bad)),
        now: at(600),
        ..In::default()
    }
    .run(Some(&failed));
    assert_eq!(out.status, failed, "same version: not revalidated");
    assert!(plan.events.is_empty() && plan.ops.is_empty());

    let (out, plan) = In {
        connection: Some(conn("2", good())),
        now: at(700),
        ..In::default()
    }
    .run(Some(&failed));
    assert_eq!(out.status.state, SecretSyncState::Ready);
    assert_eq!(
        events(&plan),
        vec![
            (N, sr::SECRET_CHANGED),
            (N, sr::VALIDATING_SECRET),
            (N, sr::SECRET_READY)
        ]
    );
    assert_eq!(writes(&plan).len(), 2);
}

#[test]
fn a_secret_that_appears_after_the_timeout_is_validated() {
    let timed_out = status(SecretSyncState::Failed, sr::SECRET_TIMEOUT, None, 300);
    let (out, plan) = In {
        connection: Some(conn("1", good())),
        now: at(900),
        ..In::default()
    }
    .run(Some(&timed_out));
    assert_eq!(out.status.state, SecretSyncState::Ready);
    assert_eq!(
        events(&plan),
        vec![
            (N, sr::SECRET_CHANGED),
            (N, sr::VALIDATING_SECRET),
            (N, sr::SECRET_READY)
        ]
    );
}

#[test]
fn validating_state_left_by_a_crash_is_finished() {
    let validating = status(
        SecretSyncState::ValidatingSecret,
        sr::VALIDATING_SECRET,
        None,
        0,
    );
    let (out, plan) = In {
        connection: Some(conn("3", good())),
        ..In::default()
    }
    .run(Some(&validating));
    assert_eq!(out.status.state, SecretSyncState::Ready);
    assert_eq!(events(&plan), vec![(N, sr::SECRET_READY)]);

    let (out, plan) = In::default().run(Some(&validating));
    assert_eq!(out.status.state, SecretSyncState::WaitingForSecret);
    assert_eq!(events(&plan), vec![(WARN, sr::SECRET_DELETED)]);
}

#[test]
fn plans_never_print_secret_values() {
    let (out, plan) = In {
        connection: Some(conn("1", good())),
        ..In::default()
    }
    .run(None);
    let printed = format!("{plan:?} {:?} {:?}", out.validated, out.status);
    for secret in [
        crate::reconcile::kubeconfig::tests::TOKEN,
        &STANDARD.encode(ca_pem()),
        &STANDARD.encode(FAKE_DER),
        "TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0",
    ] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
}
