//! Leader election against the in-memory API server: one leader at a time, and a released lease
//! is taken over well before it would have expired.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capt::actors::block_on;
use capt::actors::leader::{LeaderElector, LeaseSettings};
use capt_load::kubesim;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

const LEASE: Duration = Duration::from_secs(10);

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        lease_duration: LEASE,
        renew_deadline: Duration::from_secs(8),
        retry_period: Duration::from_millis(200),
        ..LeaseSettings::new("default", "capt-test-leader", identity)
    }
}

#[derive(Debug)]
struct Term {
    who: String,
    acquired: Instant,
    released: Instant,
}

async fn lead_once(
    e: LeaderElector,
    leading: Arc<AtomicBool>,
    terms: Arc<Mutex<Vec<Term>>>,
    hold_for: Duration,
) {
    e.acquire().await;
    let acquired = Instant::now();
    assert!(
        !leading.swap(true, Ordering::SeqCst),
        "{} leads while another replica leads",
        e.identity()
    );
    tokio::select! {
        _ = e.hold() => panic!("{} lost the lease while renewing it", e.identity()),
        _ = tokio::time::sleep(hold_for) => {}
    }
    leading.store(false, Ordering::SeqCst);
    let released = Instant::now();
    e.release().await;
    terms.lock().unwrap().push(Term {
        who: e.identity().to_owned(),
        acquired,
        released,
    });
}

#[test]
fn one_leader_at_a_time_and_release_hands_over() {
    block_on(async {
        let sim = kubesim::start(kubesim::Config::default()).await.unwrap();
        let leading = Arc::new(AtomicBool::new(false));
        let terms = Arc::new(Mutex::new(Vec::new()));
        let hold = Duration::from_millis(1500);
        let a = tokio::spawn(lead_once(
            LeaderElector::new(sim.client(), settings("replica-a")),
            leading.clone(),
            terms.clone(),
            hold,
        ));
        let b = tokio::spawn(lead_once(
            LeaderElector::new(sim.client(), settings("replica-b")),
            leading.clone(),
            terms.clone(),
            hold,
        ));
        tokio::time::timeout(Duration::from_secs(12), async {
            a.await.unwrap();
            b.await.unwrap();
        })
        .await
        .expect("both replicas led once");

        let terms = std::mem::take(&mut *terms.lock().unwrap());
        assert_eq!(terms.len(), 2);
        let (first, second) = (&terms[0], &terms[1]);
        assert_ne!(first.who, second.who);
        assert!(
            second.acquired >= first.released,
            "terms overlap: {terms:?}"
        );
        let handover = second.acquired - first.released;
        assert!(
            handover < LEASE / 2,
            "the successor waited {handover:?}: the release did not free the lease"
        );

        let lease = Api::<Lease>::namespaced(sim.client(), "default")
            .get("capt-test-leader")
            .await
            .unwrap();
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity, None, "the last leader released too");
        assert_eq!(spec.lease_transitions, Some(1));
        sim.shutdown().await;
    });
}
