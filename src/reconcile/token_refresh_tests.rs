//! Table tests of the token refresh decision, and of the secret sync with generated tokens: one write per
//! refresh, none in between, rotation re-signs, a failed signing keeps the last good kubeconfig.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::*;
use crate::credentials::{TokenRequest, fake_credentials, sign_token};
use crate::reconcile::kubeconfig::tests::token_kubeconfig as connection_kubeconfig;
use crate::reconcile::plan::{Plan, SecretWrite};

#[path = "decision_test_support.rs"]
#[allow(clippy::duplicate_mod)]
mod support;
use crate::reconcile::secret_sync::{ConnectionSecret, OwnedSecret, SyncWorld, sync};
use crate::reconcile::secrets::validate_connection_secret;
use support::secret_writes as writes;

const KEY: &str = "ns/alpha";
const T0: i64 = 1_740_823_200;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(T0 + secs).expect("timestamp")
}

fn token_at(secs: i64) -> EksToken {
    let at = UNIX_EPOCH + Duration::from_secs((T0 + secs) as u64);
    let req = TokenRequest {
        cluster: "alpha",
        region: "us-west-2",
    };
    sign_token(&fake_credentials(), &req, at).expect("token")
}

fn ca_pem(der_last: u8) -> String {
    let der = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, der_last];
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(der)
    )
}

fn connection(host: &str, ca: u8) -> BTreeMap<String, Vec<u8>> {
    [
        (
            "kubeconfig",
            connection_kubeconfig(&format!("https://{host}")),
        ),
        (
            "cluster_certificate_authority_data",
            STANDARD.encode(ca_pem(ca)),
        ),
        ("cluster_endpoint", format!("https://{host}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_bytes()))
    .collect()
}

fn validated(host: &str, ca: u8) -> ValidatedSecret {
    validate_connection_secret(&connection(host, ca), None).expect("valid")
}

const HOST: &str = "ABCD.gr7.us-west-2.eks.amazonaws.com";

fn world(issued: Option<Issued>, fresh: Option<Result<EksToken, CredentialsError>>) -> TokenWorld {
    TokenWorld {
        settings: RefreshSettings::default(),
        key: KEY.into(),
        issued,
        fresh,
    }
}

fn issued_at(secs: i64, v: &ValidatedSecret) -> Issued {
    Issued::of(&token_at(secs), source_hash(v)).expect("issued")
}

#[test]
fn jitter_is_bounded_deterministic_and_spread() {
    let interval = DEFAULT_INTERVAL;
    let keys: Vec<String> = (0..1000).map(|i| format!("ns/cluster-{i}")).collect();
    let jitters: Vec<Duration> = keys.iter().map(|k| jitter(k, interval)).collect();
    assert!(jitters.iter().all(|j| *j < interval / 10));
    assert_eq!(jitters[7], jitter(&keys[7], interval), "deterministic");
    let distinct: std::collections::BTreeSet<u64> = jitters.iter().map(|j| j.as_secs()).collect();
    assert!(
        distinct.len() > 50,
        "spread over the tenth: {}",
        distinct.len()
    );
}

#[test]
fn refresh_time_follows_interval_jitter_and_expiry_margin() {
    let v = validated(HOST, 2);
    let i = issued_at(0, &v);
    let j = SignedDuration::try_from(jitter(KEY, DEFAULT_INTERVAL)).expect("jitter");
    assert_eq!(refresh_at(KEY, DEFAULT_INTERVAL, &i), ts(600) - j);
    // An interval past the lifetime is cut to leave the margin.
    let long = Duration::from_secs(20 * 60);
    assert!(refresh_at(KEY, long, &i) <= ts(15 * 60 - 120));
    // (issued, now, due)
    let table = [
        (None, ts(0), true),
        (Some(i.clone()), ts(1), false),
        (
            Some(i.clone()),
            ts(600) - j - SignedDuration::from_secs(1),
            false,
        ),
        (Some(i.clone()), ts(600) - j, true),
        (Some(i), ts(900), true),
    ];
    for (n, (issued, now, want)) in table.into_iter().enumerate() {
        assert_eq!(world(issued, None).due(now), want, "row {n}");
    }
    let mut terraform = world(None, None);
    terraform.settings.mode = TokenMode::TerraformOutput;
    assert!(!terraform.due(ts(0)), "terraform-output never signs");
}

#[test]
fn annotations_round_trip() {
    let v = validated(HOST, 2);
    let i = issued_at(0, &v);
    assert_eq!(Issued::from_annotations(&i.annotations()), Some(i.clone()));
    assert_eq!(
        i.annotations()
            .get(annotations::EXPIRES_AT)
            .map(String::as_str),
        Some("2025-03-01T10:15:00Z")
    );
    assert_eq!(Issued::from_annotations(&BTreeMap::new()), None);
}

/// (case, issued, fresh token, secret exists, now, what is written, outcome)
type Row = (
    &'static str,
    Option<Issued>,
    Option<Result<EksToken, CredentialsError>>,
    bool,
    i64,
    Option<&'static str>,
    &'static str,
);

#[test]
fn kubeconfig_choice() {
    let v = validated(HOST, 2);
    let fresh = || Some(Ok(token_at(700)));
    let no_creds = || Some(Err(CredentialsError::NoCredentials("none found".into())));
    let rotated_source = issued_at(0, &validated("EFGH.gr7.us-west-2.eks.amazonaws.com", 3));
    let table: Vec<Row> = vec![
        (
            "first",
            None,
            fresh(),
            false,
            700,
            Some("generated"),
            "signed",
        ),
        (
            "fresh enough",
            Some(issued_at(0, &v)),
            fresh(),
            true,
            300,
            None,
            "kept",
        ),
        (
            "due",
            Some(issued_at(0, &v)),
            fresh(),
            true,
            700,
            Some("generated"),
            "signed",
        ),
        (
            "secret deleted",
            Some(issued_at(0, &v)),
            fresh(),
            false,
            300,
            Some("generated"),
            "signed",
        ),
        (
            "rotated",
            Some(rotated_source),
            fresh(),
            true,
            300,
            Some("generated"),
            "signed",
        ),
        (
            "no creds, last good",
            Some(issued_at(0, &v)),
            no_creds(),
            true,
            700,
            None,
            "NoCredentials",
        ),
        (
            "no creds, expired",
            Some(issued_at(0, &v)),
            no_creds(),
            true,
            901,
            Some("terraform"),
            "NoCredentials",
        ),
        (
            "no creds, none yet",
            None,
            no_creds(),
            false,
            700,
            Some("terraform"),
            "NoCredentials",
        ),
        (
            "not signed",
            None,
            None,
            false,
            700,
            Some("terraform"),
            reasons::NOT_SIGNED,
        ),
    ];
    for (case, issued, fresh, exists, now, writes, outcome) in table {
        let tw = world(issued, fresh);
        let c = choose_kubeconfig(Some(&tw), &v, "alpha", exists, ts(now));
        let got_writes = c.data.as_ref().map(|d| {
            if *d == v.kubeconfig {
                "terraform"
            } else {
                "generated"
            }
        });
        assert_eq!(got_writes, writes, "{case}");
        let got = match c.outcome.as_ref().expect(case) {
            TokenOutcome::Signed(_) => "signed",
            TokenOutcome::Kept => "kept",
            TokenOutcome::Failed { reason, .. } => reason,
        };
        assert_eq!(got, outcome, "{case}");
        assert_eq!(
            c.annotations.contains_key(annotations::EXPIRES_AT),
            writes == Some("generated"),
            "{case}: only a generated token is annotated"
        );
        if let Some(d) = c.data.as_ref().filter(|_| writes == Some("generated")) {
            let text = String::from_utf8_lossy(d);
            assert!(
                !text.contains("c2VjcmV0"),
                "{case}: the terraform token is replaced"
            );
        }
    }
    let terraform = TokenWorld {
        settings: RefreshSettings {
            mode: TokenMode::TerraformOutput,
            interval: DEFAULT_INTERVAL,
        },
        ..world(None, None)
    };
    let c = choose_kubeconfig(Some(&terraform), &v, "alpha", true, ts(0));
    assert_eq!(c.data.as_deref(), Some(v.kubeconfig.as_slice()));
    assert_eq!(c.outcome, None);
}

#[test]
fn generated_kubeconfig_carries_the_token_server_and_ca() {
    let v = validated(HOST, 2);
    let tok = token_at(0);
    let kc = token_kubeconfig(&v, "alpha", tok.expose()).expect("kubeconfig");
    let valid = crate::reconcile::kubeconfig::parse_and_validate(&kc).expect("valid");
    assert_eq!(valid.server, format!("https://{HOST}"));
    let parsed = crate::reconcile::kubeconfig::parse(&kc).expect("parse");
    assert_eq!(parsed.users[0].user.token.as_deref(), Some(tok.expose()));
    assert_eq!(
        parsed.clusters[0]
            .cluster
            .certificate_authority_data
            .as_deref(),
        Some(STANDARD.encode(&v.ca_pem).as_str())
    );
}

#[test]
fn report_conditions_and_timers() {
    let v = validated(HOST, 2);
    let i = issued_at(0, &v);
    let next = until(ts(60), refresh_at(KEY, DEFAULT_INTERVAL, &i));
    let failed = TokenOutcome::Failed {
        reason: "RegionUnknown",
        message: "STS region unknown".into(),
    };
    // (case, issued, outcome, now, condition (status, reason), wake after)
    let table = [
        (
            "signed",
            None,
            Some(TokenOutcome::Signed(i.clone())),
            60,
            Some((true, reasons::REFRESHED)),
            Some(next),
        ),
        (
            "kept",
            Some(i.clone()),
            Some(TokenOutcome::Kept),
            60,
            Some((true, reasons::REFRESHED)),
            Some(next),
        ),
        (
            "not revisited",
            Some(i.clone()),
            None,
            60,
            Some((true, reasons::REFRESHED)),
            Some(next),
        ),
        (
            "overdue, not revisited",
            Some(i.clone()),
            None,
            800,
            Some((true, reasons::REFRESHED)),
            Some(RETRY_AFTER),
        ),
        (
            "failed",
            Some(i.clone()),
            Some(failed),
            60,
            Some((false, "RegionUnknown")),
            Some(RETRY_AFTER),
        ),
        ("nothing yet", None, None, 60, None, None),
    ];
    for (case, issued, outcome, now, cond, wake) in table {
        let r = report(&world(issued, None), outcome.as_ref(), ts(now));
        assert_eq!(
            r.condition.as_ref().map(|(s, r, _)| (*s, *r)),
            cond,
            "{case}"
        );
        assert_eq!(r.wake_after, wake, "{case}");
    }
    let mut terraform = world(Some(i), None);
    terraform.settings.mode = TokenMode::TerraformOutput;
    let r = report(&terraform, None, ts(0));
    assert_eq!(
        r.condition.map(|(s, r, _)| (s, r)),
        Some((false, reasons::TERRAFORM_OUTPUT))
    );
    assert_eq!(r.wake_after, None);
}

fn owned_from(w: &SecretWrite) -> OwnedSecret {
    OwnedSecret {
        data_hash: w
            .annotations
            .get(crate::reconcile::ownership::DATA_HASH_ANNOTATION)
            .cloned(),
    }
}

struct Step {
    conn: ConnectionSecret,
    unchanged: bool,
    kubeconfig: Option<SecretWrite>,
    ca: Option<SecretWrite>,
    status: Option<crate::api::SecretSyncStatus>,
}

impl Step {
    /// One sync at `now` with `fresh`; the written secrets become the next step's cache.
    fn run(&mut self, now: i64, fresh: Option<Result<EksToken, CredentialsError>>) -> Vec<String> {
        let issued = self
            .kubeconfig
            .as_ref()
            .and_then(|w| Issued::from_annotations(&w.annotations));
        let tw = world(issued, fresh);
        let (kc, ca) = (
            self.kubeconfig.as_ref().map(owned_from),
            self.ca.as_ref().map(owned_from),
        );
        let w = SyncWorld {
            workspace_ready: true,
            outputs_endpoint: None,
            connection: Some(&self.conn),
            connection_unchanged: self.unchanged,
            kubeconfig_secret: kc.as_ref(),
            ca_secret: ca.as_ref(),
            namespace: "ns",
            cluster_name: "alpha",
            owner: json!({"kind": "CAPTControlPlane", "name": "alpha"}),
            now: Time(ts(now)),
            token: Some(&tw),
        };
        let mut plan = Plan::<()>::default();
        let out = sync(self.status.as_ref(), &w, &mut plan);
        self.unchanged = out.status.state == crate::api::SecretSyncState::Ready;
        self.status = Some(out.status);
        let mut names = vec![];
        for wr in writes(&plan) {
            names.push(wr.name.clone());
            match wr.name.as_str() {
                "alpha-kubeconfig" => self.kubeconfig = Some(wr.clone()),
                _ => self.ca = Some(wr.clone()),
            }
        }
        names
    }
}

#[test]
fn one_write_per_refresh_and_rotation_moves_both_secrets() {
    let mut s = Step {
        conn: ConnectionSecret {
            resource_version: "1".into(),
            data: connection(HOST, 2),
        },
        unchanged: false,
        kubeconfig: None,
        ca: None,
        status: None,
    };
    let both = vec!["alpha-kubeconfig".to_string(), "alpha-ca".to_string()];
    assert_eq!(s.run(0, Some(Ok(token_at(0)))), both, "first sync");
    let mut refreshes = 0;
    let mut writes_seen = 0;
    // Reconciles every 30 s for an hour: writes only when due, one each.
    for t in (30..3600).step_by(30) {
        let due = world(
            s.kubeconfig
                .as_ref()
                .and_then(|w| Issued::from_annotations(&w.annotations)),
            None,
        )
        .due(ts(t));
        let fresh = due.then(|| Ok(token_at(t)));
        let written = s.run(t, fresh);
        refreshes += usize::from(due);
        writes_seen += written.len();
        assert_eq!(written.len(), usize::from(due), "t={t}: {written:?}");
        let expires = s
            .kubeconfig
            .as_ref()
            .and_then(|w| Issued::from_annotations(&w.annotations));
        assert!(
            expires.is_some_and(|i| i.expires_at > ts(t + 120)),
            "t={t}: never near expiry"
        );
    }
    assert_eq!(writes_seen, refreshes);
    assert!(
        (6..=7).contains(&refreshes),
        "about one per 10 minutes: {refreshes}"
    );

    // A new endpoint and CA: both secrets follow in the same reconcile, with a new token.
    s.conn = ConnectionSecret {
        resource_version: "2".into(),
        data: connection("EFGH.gr7.us-west-2.eks.amazonaws.com", 3),
    };
    s.unchanged = false;
    assert_eq!(s.run(3610, Some(Ok(token_at(3610)))), both, "rotation");
    let kc = s.kubeconfig.as_ref().expect("kubeconfig");
    assert!(String::from_utf8_lossy(&kc.data["value"]).contains("EFGH"));

    // An invalid new secret keeps the last good kubeconfig and reports it.
    let mut broken = connection(HOST, 2);
    broken.remove("cluster_certificate_authority_data");
    s.conn = ConnectionSecret {
        resource_version: "3".into(),
        data: broken,
    };
    s.unchanged = false;
    assert!(s.run(3620, Some(Ok(token_at(3620)))).is_empty());
    let st = s.status.as_ref().expect("status");
    assert_eq!(st.state, crate::api::SecretSyncState::Failed);
    assert_eq!(st.reason.as_deref(), Some("MissingKey"));
}

#[test]
fn apply_warns_once_and_arms_the_named_timer() {
    use crate::reconcile::outcome::EventType;
    use crate::reconcile::outcome::TimerCmd;
    let now = Time(ts(60));
    let mut terraform = world(None, None);
    terraform.settings.mode = TokenMode::TerraformOutput;
    let mut conditions = vec![];
    let mut plan = Plan::<()>::default();
    apply(&terraform, None, &mut conditions, &mut plan, &now, Some(1));
    let warnings: Vec<_> = plan
        .events
        .iter()
        .filter(|e| e.type_ == EventType::Warning)
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(warnings, [reasons::TERRAFORM_OUTPUT]);
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0].status, "False");
    assert_eq!(
        plan.action.timers,
        [TimerCmd::Cancel(TOKEN_TIMER)],
        "nothing to refresh"
    );
    let mut again = Plan::<()>::default();
    apply(&terraform, None, &mut conditions, &mut again, &now, Some(1));
    assert!(again.events.is_empty(), "warned once");

    let v = validated(HOST, 2);
    let i = issued_at(0, &v);
    let mut plan = Plan::<()>::default();
    let generated = world(None, None);
    let outcome = TokenOutcome::Signed(i.clone());
    apply(
        &generated,
        Some(&outcome),
        &mut conditions,
        &mut plan,
        &now,
        Some(1),
    );
    assert!(plan.events.is_empty(), "a refresh is not an Event");
    assert_eq!(conditions[0].status, "True");
    assert!(
        conditions[0].message.contains("2025-03-01T10:15:00Z"),
        "{}",
        conditions[0].message
    );
    assert!(!conditions[0].message.contains("k8s-aws-v1."));
    assert_eq!(
        plan.action.timers,
        [TimerCmd::Arm {
            name: TOKEN_TIMER,
            after: until(ts(60), refresh_at(KEY, DEFAULT_INTERVAL, &i)),
        }]
    );
}
