//! The Cluster API kubeconfig for a generated EKS token: the validated connection kubeconfig's server and the
//! connection secret's CA, with one user that carries the token inline (the Cluster API controllers can run no
//! exec plugin). `Debug` of nothing here prints the token.

use base64::Engine;
use serde_yaml::{Mapping, Value};

use super::kubeconfig::{KubeconfigError, parse_and_validate};
use super::secrets::ValidatedSecret;

fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Mapping(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect::<Mapping>(),
    )
}

/// A kubeconfig for `cluster` at the validated server, trusting the validated CA, authenticating with `token`.
pub fn token_kubeconfig(
    v: &ValidatedSecret,
    cluster: &str,
    token: &str,
) -> Result<Vec<u8>, KubeconfigError> {
    let server = parse_and_validate(&v.kubeconfig)?.server;
    let ca = base64::engine::general_purpose::STANDARD.encode(&v.ca_pem);
    let user = format!("{cluster}-capt");
    let doc = map([
        ("apiVersion", Value::from("v1")),
        ("kind", Value::from("Config")),
        (
            "clusters",
            Value::Sequence(vec![map([
                ("name", Value::from(cluster)),
                (
                    "cluster",
                    map([
                        ("server", Value::from(server)),
                        ("certificate-authority-data", Value::from(ca)),
                    ]),
                ),
            ])]),
        ),
        (
            "users",
            Value::Sequence(vec![map([
                ("name", Value::from(user.as_str())),
                ("user", map([("token", Value::from(token))])),
            ])]),
        ),
        (
            "contexts",
            Value::Sequence(vec![map([
                ("name", Value::from(user.as_str())),
                (
                    "context",
                    map([
                        ("cluster", Value::from(cluster)),
                        ("user", Value::from(user.as_str())),
                    ]),
                ),
            ])]),
        ),
        ("current-context", Value::from(user.as_str())),
    ]);
    serde_yaml::to_string(&doc)
        .map(String::into_bytes)
        .map_err(|_| KubeconfigError::Serialize)
}
