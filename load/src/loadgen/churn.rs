//! Changes after convergence, each measured until the controller has handled it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use rand::SeedableRng;
use serde_json::json;

use super::objects::{BUMPED_VERSION, cluster_ar, control_plane_ar};
use super::observer::{ClusterState, Observations};
use super::report::Churn;
use super::stats::Dist;

/// `fraction` of `clusters` (name, namespace), picked with `seed`.
pub fn pick(clusters: &[(String, String)], fraction: f64, seed: u64) -> Vec<(String, String)> {
    let k = ((clusters.len() as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut idx: Vec<usize> = rand::seq::index::sample(&mut rng, clusters.len(), k).into_vec();
    idx.sort_unstable();
    idx.into_iter().map(|i| clusters[i].clone()).collect()
}

async fn measure(
    kind: &str,
    picked: &[(String, String)],
    started: Instant,
    obs: &Observations,
    timeout: Duration,
    done: impl Fn(&ClusterState) -> bool,
) -> Churn {
    let mut finished: Vec<Option<f64>> = vec![None; picked.len()];
    let deadline = started + timeout;
    loop {
        for (i, (name, _)) in picked.iter().enumerate() {
            if finished[i].is_none() && obs.get(name).as_ref().is_some_and(&done) {
                finished[i] = Some(started.elapsed().as_secs_f64());
            }
        }
        let n = finished.iter().flatten().count();
        if n == picked.len() || Instant::now() >= deadline {
            eprintln!("churn {kind}: {n}/{} done", picked.len());
            let secs: Vec<f64> = finished.iter().flatten().copied().collect();
            return Churn {
                kind: kind.to_string(),
                clusters: picked.len(),
                completed: n,
                secs: Dist::of(&secs),
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Bump the control plane version; done when its status reports the new version and is Ready.
pub async fn version_bump(
    client: &kube::Client,
    picked: &[(String, String)],
    obs: &Observations,
    timeout: Duration,
) -> anyhow::Result<Churn> {
    let started = Instant::now();
    for (name, ns) in picked {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &control_plane_ar());
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": BUMPED_VERSION}})),
        )
        .await?;
    }
    Ok(measure("version-bump", picked, started, obs, timeout, |s| {
        s.cp_version == BUMPED_VERSION && s.cp_ready
    })
    .await)
}

/// Delete the `<cluster>-kubeconfig` secret; done when capt has written it again.
pub async fn secret_rotation(
    client: &kube::Client,
    picked: &[(String, String)],
    obs: &Observations,
    timeout: Duration,
) -> anyhow::Result<Churn> {
    let started = Instant::now();
    for (name, ns) in picked {
        obs.reset_kubeconfig(name);
        let api: Api<Secret> = Api::namespaced(client.clone(), ns);
        match api
            .delete(&format!("{name}-kubeconfig"), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(
        measure("secret-rotation", picked, started, obs, timeout, |s| {
            s.kubeconfig_seen.is_some()
        })
        .await,
    )
}

/// Delete the CAPI Cluster; done when its CAPTCluster and CAPTControlPlane are gone.
pub async fn delete(
    client: &kube::Client,
    picked: &[(String, String)],
    obs: &Observations,
    timeout: Duration,
) -> anyhow::Result<Churn> {
    let started = Instant::now();
    for (name, ns) in picked {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &cluster_ar());
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(measure("delete", picked, started, obs, timeout, |s| {
        s.cp_gone && s.infra_gone
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_a_seeded_fraction() {
        let all: Vec<(String, String)> = (0..100)
            .map(|i| (format!("c{i}"), "ns".to_string()))
            .collect();
        let a = pick(&all, 0.1, 7);
        assert_eq!(a.len(), 10);
        assert_eq!(a, pick(&all, 0.1, 7));
        assert!(pick(&all, 0.0, 7).is_empty());
    }
}
