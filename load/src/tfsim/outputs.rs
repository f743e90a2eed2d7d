//! Terraform outputs and how provider-terraform publishes them.
//!
//! provider-terraform reads `terraform output -json` and
//! - writes every non-sensitive output to `status.atProvider.outputs` as its JSON value;
//! - writes every output, sensitive or not, to the connection secret: outputs of type `string` as the raw
//!   string, all others (number, bool, list, tuple, map, object) as JSON text (Go `json.Marshal`: keys sorted,
//!   `<`, `>`, `&` escaped, integral numbers without a fraction).
//!
//! Outputs whose value is null are not in terraform's state, so they appear nowhere.

use std::collections::BTreeMap;

use serde_json::Value;

use super::encode;
use super::faults::FaultKind;
use super::kubeconfig;

/// Annotation overriding whether the account has the EC2 Spot service-linked role (`"true"` / `"false"`).
pub const ROLE_EXISTS_ANNOTATION: &str = "tfsim.capt.dev/role-exists";
/// Region used when the module sets none (no `provider "aws"` region, no `region` variable).
pub const DEFAULT_REGION: &str = "us-west-2";
/// Kubernetes version of an EKS cluster whose module sets none.
pub const DEFAULT_KUBERNETES_VERSION: &str = "1.31";

/// One terraform output.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Output {
    /// The value as `terraform output -json` prints it.
    pub value: Value,
    pub sensitive: bool,
}

/// All outputs of a Workspace by name.
pub(crate) type Outputs = BTreeMap<String, Output>;

/// Applies the faults that remove outputs: `secret-no-endpoint` drops `cluster_endpoint` and `kubeconfig`.
pub(crate) fn apply_fault(out: &mut Outputs, fault: Option<FaultKind>) {
    if fault == Some(FaultKind::SecretNoEndpoint) {
        out.remove("cluster_endpoint");
        out.remove("kubeconfig");
    }
}

/// The non-sensitive outputs, as provider-terraform writes them to `status.atProvider.outputs`.
pub(crate) fn status_outputs(out: &Outputs) -> serde_json::Map<String, Value> {
    out.iter()
        .filter(|(_, o)| !o.sensitive)
        .map(|(k, o)| (k.clone(), o.value.clone()))
        .collect()
}

/// One output as connection-secret bytes: a string raw, anything else as Go-encoded JSON.
pub(crate) fn secret_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        other => encode::go_json(other).into_bytes(),
    }
}

/// All outputs as connection-secret data, after the secret faults.
pub(crate) fn secret_data(out: &Outputs, fault: Option<FaultKind>) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = out
        .iter()
        .map(|(k, o)| (k.clone(), secret_bytes(&o.value)))
        .collect();
    match fault {
        Some(FaultKind::SecretMissingKubeconfig) => {
            data.remove("kubeconfig");
        }
        Some(FaultKind::SecretMissingCa) => {
            data.remove("cluster_certificate_authority_data");
        }
        Some(FaultKind::SecretInvalidKubeconfig) => {
            data.insert("kubeconfig".into(), kubeconfig::INVALID.as_bytes().to_vec());
        }
        _ => {}
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outs() -> Outputs {
        Outputs::from([
            (
                "s".to_string(),
                Output {
                    value: json!("a<b"),
                    sensitive: false,
                },
            ),
            (
                "n".to_string(),
                Output {
                    value: json!(3),
                    sensitive: false,
                },
            ),
            (
                "b".to_string(),
                Output {
                    value: json!(true),
                    sensitive: true,
                },
            ),
            (
                "m".to_string(),
                Output {
                    value: json!({"z": [1, "x&y"], "a": null}),
                    sensitive: false,
                },
            ),
        ])
    }

    #[test]
    fn status_has_non_sensitive_json_values() {
        let s = status_outputs(&outs());
        assert_eq!(s.get("s"), Some(&json!("a<b")));
        assert_eq!(s.get("n"), Some(&json!(3)));
        assert!(!s.contains_key("b"));
    }

    #[test]
    fn secret_has_raw_strings_and_go_json() {
        let d = secret_data(&outs(), None);
        assert_eq!(d["s"], b"a<b");
        assert_eq!(d["n"], b"3");
        assert_eq!(d["b"], b"true");
        assert_eq!(d["m"], br#"{"a":null,"z":[1,"x\u0026y"]}"#);
    }
}
