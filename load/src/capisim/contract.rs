//! Which Cluster API contract a referenced kind implements, read from its CustomResourceDefinition.
//!
//! Cluster API v1.11 (contract v1beta2, compatible with v1beta1) finds the CRD of a referenced kind by name,
//! `<plural of lowercased kind>.<group>`, and reads its labels `cluster.x-k8s.io/v1beta2` then
//! `cluster.x-k8s.io/v1beta1`: the first present, non-empty one wins; its value lists the CRD versions
//! implementing that contract, separated by `_`, and the latest of them (Kubernetes version order) is the
//! version the object is read at. A CRD without either label is refused. The object is always read at that
//! version, whatever version the Cluster's reference names.

use std::cmp::Ordering;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;

use super::cluster::GROUP;

/// The contract versions Cluster API v1.11 accepts, newest first.
const CONTRACTS: [Contract; 2] = [Contract::V1Beta2, Contract::V1Beta1];

/// A Cluster API contract version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contract {
    V1Beta1,
    V1Beta2,
}

impl Contract {
    fn label(self) -> String {
        format!("{GROUP}/{}", self.as_str())
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Contract::V1Beta1 => "v1beta1",
            Contract::V1Beta2 => "v1beta2",
        }
    }
}

/// A referenced kind, resolved through its CRD.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub ar: ApiResource,
    pub namespaced: bool,
    pub contract: Contract,
}

/// A referenced kind that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ContractError {
    #[error("invalid apiVersion {0:?} in reference")]
    ApiVersion(String),
    #[error("failed to get object from ref: CustomResourceDefinition {0:?} not found")]
    CrdNotFound(String),
    #[error(
        "cannot find any versions matching contract versions [v1beta2 v1beta1] for CRD {0} as contract version label(s) are either missing or empty"
    )]
    NoContractLabel(String),
    #[error("CRD {crd} does not serve version {version} named by its contract label")]
    VersionNotServed { crd: String, version: String },
}

/// English plural of a kind, lowercased (Cluster API uses a pluralisation library; these rules cover the
/// kinds providers use: `y` → `ies`; `s`, `x`, `ch`, `sh` → `+es`; otherwise `+s`).
pub(crate) fn plural_of(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if let Some(stem) = k.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if k.ends_with('s') || k.ends_with('x') || k.ends_with("ch") || k.ends_with("sh") {
        return format!("{k}es");
    }
    format!("{k}s")
}

/// `(group, version)` of an apiVersion (`v1` → `("", "v1")`).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Name of the CRD Cluster API looks up for `group`/`kind`.
pub(crate) fn crd_name(group: &str, kind: &str) -> String {
    format!("{}.{group}", plural_of(kind))
}

/// Kubernetes version order: GA > beta > alpha, then by major, then by minor (`v2 > v1 > v1beta2 > v1alpha1`);
/// strings that are not Kubernetes versions sort before all others, alphabetically.
pub(crate) fn compare_kube_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u64, u8, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major: u64 = rest[..digits].parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((major, 2, 0));
        }
        let (stage, minor) = if let Some(m) = tail.strip_prefix("beta") {
            (1, m)
        } else if let Some(m) = tail.strip_prefix("alpha") {
            (0, m)
        } else {
            return None;
        };
        Some((major, stage, minor.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some((ma, sa, na)), Some((mb, sb, nb))) => {
            // GA of any major outranks pre-releases; otherwise major, then stage, then minor.
            sa.cmp(&sb)
                .then(ma.cmp(&mb))
                .then(na.cmp(&nb))
                .then_with(|| a.cmp(b))
        }
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}

/// The contract and API version a CRD declares, by Cluster API's rule.
pub(crate) fn contract_of(
    crd: &CustomResourceDefinition,
) -> Result<(Contract, String), ContractError> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let labels = crd.metadata.labels.clone().unwrap_or_default();
    for contract in CONTRACTS {
        let Some(value) = labels.get(&contract.label()).filter(|v| !v.is_empty()) else {
            continue;
        };
        let latest = value
            .split('_')
            .max_by(|a, b| compare_kube_versions(a, b))
            .unwrap_or_default()
            .to_string();
        return Ok((contract, latest));
    }
    Err(ContractError::NoContractLabel(name))
}

/// Resolves a reference (`apiVersion`, `kind`) through its CRD. Without a contract label the CRD is refused
/// when `require_label`; otherwise the reference's own version is used under the v1beta1 contract.
pub(crate) fn resolve(
    crd: &CustomResourceDefinition,
    ref_api_version: &str,
    kind: &str,
    require_label: bool,
) -> Result<Resolved, ContractError> {
    let (group, ref_version) = split_api_version(ref_api_version);
    let crd_name = crd.metadata.name.clone().unwrap_or_default();
    let (contract, version) = match contract_of(crd) {
        Ok(found) => found,
        Err(e) if require_label => return Err(e),
        Err(_) => (Contract::V1Beta1, ref_version.to_string()),
    };
    if !crd
        .spec
        .versions
        .iter()
        .any(|v| v.name == version && v.served)
    {
        return Err(ContractError::VersionNotServed {
            crd: crd_name,
            version,
        });
    }
    let gvk = GroupVersionKind::gvk(group, &version, kind);
    Ok(Resolved {
        ar: ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural),
        namespaced: crd.spec.scope == "Namespaced",
        contract,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(labels: &[(&str, &str)], versions: &[&str]) -> CustomResourceDefinition {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect();
        let versions: Vec<_> = versions
            .iter()
            .map(|v| serde_json::json!({ "name": v, "served": true, "storage": false }))
            .collect();
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "things.example.io", "labels": labels },
            "spec": { "group": "example.io", "scope": "Namespaced",
                      "names": { "kind": "Thing", "plural": "things" }, "versions": versions }
        }))
        .expect("crd")
    }

    #[test]
    fn plurals() {
        assert_eq!(plural_of("CAPTCluster"), "captclusters");
        assert_eq!(plural_of("Policy"), "policies");
        assert_eq!(plural_of("Gateway"), "gateways");
        assert_eq!(plural_of("Ingress"), "ingresses");
        assert_eq!(plural_of("Box"), "boxes");
        assert_eq!(
            crd_name("infrastructure.cluster.x-k8s.io", "CAPTCluster"),
            "captclusters.infrastructure.cluster.x-k8s.io"
        );
    }

    #[test]
    fn kube_version_order() {
        let mut v = vec![
            "v1beta1", "v2", "v1alpha3", "v1", "v1beta2", "foo", "v10beta1",
        ];
        v.sort_by(|a, b| compare_kube_versions(a, b));
        assert_eq!(
            v,
            [
                "foo", "v1alpha3", "v1beta1", "v1beta2", "v10beta1", "v1", "v2"
            ]
        );
    }

    #[test]
    fn contract_label_rules() {
        let c = crd(&[("cluster.x-k8s.io/v1beta2", "v1beta1")], &["v1beta1"]);
        assert_eq!(
            contract_of(&c),
            Ok((Contract::V1Beta2, "v1beta1".to_string()))
        );
        let c = crd(
            &[
                ("cluster.x-k8s.io/v1beta1", "v1alpha4_v1beta1"),
                ("cluster.x-k8s.io/v1beta2", ""),
            ],
            &["v1alpha4", "v1beta1"],
        );
        assert_eq!(
            contract_of(&c),
            Ok((Contract::V1Beta1, "v1beta1".to_string()))
        );
        let c = crd(&[("cluster.x-k8s.io/provider", "x")], &["v1beta1"]);
        assert!(matches!(
            contract_of(&c),
            Err(ContractError::NoContractLabel(_))
        ));
        let r = resolve(&c, "example.io/v1beta1", "Thing", false).expect("lenient");
        assert_eq!(r.contract, Contract::V1Beta1);
        assert_eq!(r.ar.api_version, "example.io/v1beta1");
        assert!(resolve(&c, "example.io/v1beta1", "Thing", true).is_err());
        let c = crd(&[("cluster.x-k8s.io/v1beta2", "v1beta3")], &["v1beta1"]);
        assert!(matches!(
            resolve(&c, "example.io/v1beta1", "Thing", true),
            Err(ContractError::VersionNotServed { .. })
        ));
    }
}
