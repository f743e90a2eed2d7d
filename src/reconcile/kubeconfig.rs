//! Minimal kubeconfig model: parsing, validation and server rewriting.
//!
//! Only the fields capt inspects are modelled; everything else is ignored when parsing and kept verbatim by
//! [`with_server`]. Errors and `Debug` output never contain credentials or raw YAML: errors name the missing piece
//! and, where useful, the (non-secret) cluster, user or context name.

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

/// Longest name echoed back in an error message.
const MAX_NAME_IN_ERROR: usize = 64;

#[derive(Serialize, Deserialize, Clone, Default, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<NamedUser>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub contexts: Vec<NamedContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct NamedCluster {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cluster: ClusterEntry,
}

#[derive(Serialize, Deserialize, Clone, Default, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct NamedUser {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: UserEntry,
}

#[derive(Serialize, Deserialize, Clone, Default, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct UserEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, rename = "tokenFile", skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// Exec credential plugin configuration, kept as an opaque value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct NamedContext {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub context: ContextEntry,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ContextEntry {
    #[serde(default, deserialize_with = "null_as_default")]
    pub cluster: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `null` (e.g. `cluster:` with nothing after it) reads as the default value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

fn present(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.trim().is_empty())
}

impl std::fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubeconfig")
            .field("clusters", &self.clusters)
            .field("users", &self.users)
            .field("contexts", &self.contexts)
            .field("current_context", &self.current_context)
            .finish()
    }
}

impl std::fmt::Debug for ClusterEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterEntry")
            .field("server", &self.server)
            .field(
                "certificate_authority_data",
                &present(&self.certificate_authority_data),
            )
            .field("certificate_authority", &self.certificate_authority)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .finish()
    }
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("token", &present(&self.token).then_some("<redacted>"))
            .field("token_file", &self.token_file)
            .field(
                "client_certificate_data",
                &present(&self.client_certificate_data).then_some("<redacted>"),
            )
            .field("client_certificate", &self.client_certificate)
            .field(
                "client_key_data",
                &present(&self.client_key_data).then_some("<redacted>"),
            )
            .field("client_key", &self.client_key)
            .field("exec", &self.exec.is_some().then_some("<redacted>"))
            .finish()
    }
}

/// How the validated user authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserKind {
    /// Bearer token, inline or from `tokenFile`.
    Token,
    /// Client certificate and key (inline data or file paths).
    ClientCertificate,
    /// Exec credential plugin.
    Exec,
}

/// Facts about a kubeconfig that passed [`validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidKubeconfig {
    /// `server` of the selected cluster, verbatim.
    pub server: String,
    /// The selected cluster names a CA (inline data or file). Always true for a validated kubeconfig.
    pub has_ca: bool,
    pub user_kind: UserKind,
    /// Name of the selected cluster entry.
    pub cluster: String,
    /// Name of the selected user entry.
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeconfigError {
    #[error("kubeconfig is empty")]
    Empty,
    /// The YAML is malformed or does not have the kubeconfig shape. Only the location is kept: parser messages can
    /// quote the offending value.
    #[error("kubeconfig is not a valid kubeconfig document{}", location_suffix(*.line, *.column))]
    Malformed {
        line: Option<usize>,
        column: Option<usize>,
    },
    #[error("kubeconfig current-context {name:?} does not exist")]
    ContextNotFound { name: String },
    #[error("kubeconfig has no current-context and more than one context")]
    AmbiguousContext,
    #[error("kubeconfig cluster {name:?} does not exist")]
    ClusterNotFound { name: String },
    #[error("kubeconfig has no cluster entry")]
    NoCluster,
    #[error("kubeconfig does not select a cluster (no current-context and more than one cluster)")]
    AmbiguousCluster,
    #[error("kubeconfig cluster {cluster:?} has no server")]
    MissingServer { cluster: String },
    #[error("kubeconfig cluster {cluster:?} has no certificate authority")]
    MissingCertificateAuthority { cluster: String },
    #[error("kubeconfig cluster {cluster:?} disables TLS verification (insecure-skip-tls-verify)")]
    InsecureSkipTlsVerify { cluster: String },
    #[error("kubeconfig user {name:?} does not exist")]
    UserNotFound { name: String },
    #[error("kubeconfig has no user entry")]
    NoUser,
    #[error("kubeconfig does not select a user (no current-context and more than one user)")]
    AmbiguousUser,
    #[error(
        "kubeconfig user {user:?} has no credentials (token, client certificate and key, or exec)"
    )]
    MissingCredentials { user: String },
    #[error("kubeconfig user {user:?} has a client {present} but no client {missing}")]
    IncompleteClientCertificate {
        user: String,
        present: &'static str,
        missing: &'static str,
    },
    #[error("kubeconfig user {user:?} has an exec plugin without a command")]
    ExecWithoutCommand { user: String },
    #[error("kubeconfig could not be written back")]
    Serialize,
}

fn location_suffix(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (at line {l} column {c})"),
        (Some(l), None) => format!(" (at line {l})"),
        _ => String::new(),
    }
}

fn malformed(e: &serde_yaml::Error) -> KubeconfigError {
    let loc = e.location();
    KubeconfigError::Malformed {
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
    }
}

fn name_for_error(name: &str) -> String {
    name.chars().take(MAX_NAME_IN_ERROR).collect()
}

/// Parse kubeconfig YAML (or JSON).
pub fn parse(bytes: &[u8]) -> Result<Kubeconfig, KubeconfigError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(KubeconfigError::Empty);
    }
    serde_yaml::from_slice(bytes).map_err(|e| malformed(&e))
}

/// Names of the cluster and user selected by the current context, or the only cluster / user when there is no
/// current context.
fn selection(k: &Kubeconfig) -> Result<(Option<&str>, Option<&str>), KubeconfigError> {
    let current = k.current_context.as_deref().filter(|s| !s.is_empty());
    let context = match current {
        Some(name) => Some(k.contexts.iter().find(|c| c.name == name).ok_or_else(|| {
            KubeconfigError::ContextNotFound {
                name: name_for_error(name),
            }
        })?),
        None => match k.contexts.as_slice() {
            [] => None,
            [only] => Some(only),
            _ => return Err(KubeconfigError::AmbiguousContext),
        },
    };
    Ok(match context {
        Some(c) => (
            Some(c.context.cluster.as_str()),
            Some(c.context.user.as_str()),
        ),
        None => (None, None),
    })
}

fn select_cluster<'a>(
    k: &'a Kubeconfig,
    name: Option<&str>,
) -> Result<&'a NamedCluster, KubeconfigError> {
    match name {
        Some(name) => k.clusters.iter().find(|c| c.name == name).ok_or_else(|| {
            KubeconfigError::ClusterNotFound {
                name: name_for_error(name),
            }
        }),
        None => match k.clusters.as_slice() {
            [] => Err(KubeconfigError::NoCluster),
            [only] => Ok(only),
            _ => Err(KubeconfigError::AmbiguousCluster),
        },
    }
}

fn select_user<'a>(
    k: &'a Kubeconfig,
    name: Option<&str>,
) -> Result<&'a NamedUser, KubeconfigError> {
    match name {
        Some(name) => {
            k.users
                .iter()
                .find(|u| u.name == name)
                .ok_or_else(|| KubeconfigError::UserNotFound {
                    name: name_for_error(name),
                })
        }
        None => match k.users.as_slice() {
            [] => Err(KubeconfigError::NoUser),
            [only] => Ok(only),
            _ => Err(KubeconfigError::AmbiguousUser),
        },
    }
}

fn user_kind(user: &NamedUser) -> Result<UserKind, KubeconfigError> {
    let u = &user.user;
    let name = || name_for_error(&user.name);
    if present(&u.token) || present(&u.token_file) {
        return Ok(UserKind::Token);
    }
    let cert = present(&u.client_certificate_data) || present(&u.client_certificate);
    let key = present(&u.client_key_data) || present(&u.client_key);
    match (cert, key) {
        (true, true) => return Ok(UserKind::ClientCertificate),
        (true, false) => {
            return Err(KubeconfigError::IncompleteClientCertificate {
                user: name(),
                present: "certificate",
                missing: "key",
            });
        }
        (false, true) => {
            return Err(KubeconfigError::IncompleteClientCertificate {
                user: name(),
                present: "key",
                missing: "certificate",
            });
        }
        (false, false) => {}
    }
    match &u.exec {
        Some(Value::Null) | None => Err(KubeconfigError::MissingCredentials { user: name() }),
        Some(exec) => {
            let has_command = exec
                .get("command")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.trim().is_empty());
            if has_command {
                Ok(UserKind::Exec)
            } else {
                Err(KubeconfigError::ExecWithoutCommand { user: name() })
            }
        }
    }
}

/// Check that the kubeconfig selects a cluster with a server and a CA (TLS verification not disabled) and a user
/// with a token, a client certificate and key, or an exec plugin.
///
/// Selection: the current context's cluster and user; without a current context, the only context; without
/// contexts, the only cluster and the only user.
pub fn validate(k: &Kubeconfig) -> Result<ValidKubeconfig, KubeconfigError> {
    let (cluster_name, user_name) = selection(k)?;
    let cluster = select_cluster(k, cluster_name)?;
    let entry = &cluster.cluster;
    let server = entry
        .server
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| KubeconfigError::MissingServer {
            cluster: name_for_error(&cluster.name),
        })?;
    if entry.insecure_skip_tls_verify == Some(true) {
        return Err(KubeconfigError::InsecureSkipTlsVerify {
            cluster: name_for_error(&cluster.name),
        });
    }
    let has_ca =
        present(&entry.certificate_authority_data) || present(&entry.certificate_authority);
    if !has_ca {
        return Err(KubeconfigError::MissingCertificateAuthority {
            cluster: name_for_error(&cluster.name),
        });
    }
    let user = select_user(k, user_name)?;
    let user_kind = user_kind(user)?;
    Ok(ValidKubeconfig {
        server: server.to_string(),
        has_ca,
        user_kind,
        cluster: cluster.name.clone(),
        user: user.name.clone(),
    })
}

/// [`parse`] then [`validate`].
pub fn parse_and_validate(bytes: &[u8]) -> Result<ValidKubeconfig, KubeconfigError> {
    validate(&parse(bytes)?)
}

/// Rewrite the `server` of the selected cluster (same selection as [`validate`]) to `server_url`.
///
/// The document is edited as a generic YAML value, so fields capt does not model are kept; comments and the
/// original formatting are not.
pub fn with_server(k: &[u8], server_url: &str) -> Result<Vec<u8>, KubeconfigError> {
    let model = parse(k)?;
    let (cluster_name, _) = selection(&model)?;
    let selected = select_cluster(&model, cluster_name)?.name.clone();

    let mut doc: Value = serde_yaml::from_slice(k).map_err(|e| malformed(&e))?;
    let clusters = doc
        .get_mut("clusters")
        .and_then(Value::as_sequence_mut)
        .ok_or(KubeconfigError::NoCluster)?;
    let entry = clusters
        .iter_mut()
        .find(|c| c.get("name").and_then(Value::as_str).unwrap_or("") == selected)
        .ok_or_else(|| KubeconfigError::ClusterNotFound {
            name: name_for_error(&selected),
        })?;
    let Some(entry) = entry.as_mapping_mut() else {
        return Err(KubeconfigError::Malformed {
            line: None,
            column: None,
        });
    };
    let cluster = entry
        .entry(Value::from("cluster"))
        .or_insert_with(|| Value::Mapping(Default::default()));
    if cluster.is_null() {
        *cluster = Value::Mapping(Default::default());
    }
    let Some(cluster) = cluster.as_mapping_mut() else {
        return Err(KubeconfigError::Malformed {
            line: None,
            column: None,
        });
    };
    cluster.insert(Value::from("server"), Value::from(server_url));
    serde_yaml::to_string(&doc)
        .map(String::into_bytes)
        .map_err(|_| KubeconfigError::Serialize)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const TOKEN: &str = "k8s-aws-v1.c2VjcmV0LXRva2VuLXZhbHVl";
    pub(crate) const KEY_DATA: &str = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tc2VjcmV0a2V5";

    pub(crate) fn token_kubeconfig(server: &str) -> String {
        format!(
            r#"apiVersion: v1
kind: Config
preferences: {{}}
clusters:
- name: demo.ap-northeast-1.eksctl.io
  cluster:
    server: {server}
    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0
    extensions:
    - name: custom
      extension: {{ keep: me }}
contexts:
- name: ctx
  context:
    cluster: demo.ap-northeast-1.eksctl.io
    user: admin@demo
    namespace: kube-system
current-context: ctx
users:
- name: admin@demo
  user:
    token: {TOKEN}
"#
        )
    }

    fn kc(yaml: &str) -> Kubeconfig {
        parse(yaml.as_bytes()).expect("test kubeconfig parses")
    }

    #[test]
    fn parses_and_validates_token_kubeconfig() {
        let k = kc(&token_kubeconfig("https://abc.eks.amazonaws.com"));
        let v = validate(&k).expect("valid");
        assert_eq!(
            v,
            ValidKubeconfig {
                server: "https://abc.eks.amazonaws.com".into(),
                has_ca: true,
                user_kind: UserKind::Token,
                cluster: "demo.ap-northeast-1.eksctl.io".into(),
                user: "admin@demo".into(),
            }
        );
        assert_eq!(
            k.contexts[0].context.namespace.as_deref(),
            Some("kube-system")
        );
    }

    #[test]
    fn validate_table() {
        let base_cluster = "clusters:\n- name: c\n  cluster:\n    server: https://h\n    certificate-authority-data: Q0E=\n";
        let ctx = "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";
        let cases: Vec<(String, Result<UserKind, KubeconfigError>)> = vec![
            (
                format!("{base_cluster}{ctx}users:\n- name: u\n  user: {{token: t}}\n"),
                Ok(UserKind::Token),
            ),
            (
                format!("{base_cluster}{ctx}users:\n- name: u\n  user: {{tokenFile: /var/run/t}}\n"),
                Ok(UserKind::Token),
            ),
            (
                format!(
                    "{base_cluster}{ctx}users:\n- name: u\n  user: {{client-certificate-data: Y2VydA==, client-key-data: a2V5}}\n"
                ),
                Ok(UserKind::ClientCertificate),
            ),
            (
                format!(
                    "{base_cluster}{ctx}users:\n- name: u\n  user: {{client-certificate: /c.pem, client-key: /k.pem}}\n"
                ),
                Ok(UserKind::ClientCertificate),
            ),
            (
                format!(
                    "{base_cluster}{ctx}users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [eks, get-token]\n"
                ),
                Ok(UserKind::Exec),
            ),
            (
                format!("{base_cluster}{ctx}users:\n- name: u\n  user: {{exec: {{args: [x]}}}}\n"),
                Err(KubeconfigError::ExecWithoutCommand { user: "u".into() }),
            ),
            (
                format!("{base_cluster}{ctx}users:\n- name: u\n  user: {{}}\n"),
                Err(KubeconfigError::MissingCredentials { user: "u".into() }),
            ),
            (
                format!("{base_cluster}{ctx}users:\n- name: u\n  user: {{token: \"  \"}}\n"),
                Err(KubeconfigError::MissingCredentials { user: "u".into() }),
            ),
            (
                format!("{base_cluster}{ctx}users:\n- name: u\n  user: {{client-certificate-data: Y2VydA==}}\n"),
                Err(KubeconfigError::IncompleteClientCertificate {
                    user: "u".into(),
                    present: "certificate",
                    missing: "key",
                }),
            ),
            (
                format!("{base_cluster}{ctx}users:\n- name: u\n  user: {{client-key: /k}}\n"),
                Err(KubeconfigError::IncompleteClientCertificate {
                    user: "u".into(),
                    present: "key",
                    missing: "certificate",
                }),
            ),
            (
                format!("{base_cluster}{ctx}users:\n- name: other\n  user: {{token: t}}\n"),
                Err(KubeconfigError::UserNotFound { name: "u".into() }),
            ),
            (
                format!("{base_cluster}current-context: nope\nusers:\n- name: u\n  user: {{token: t}}\n"),
                Err(KubeconfigError::ContextNotFound {
                    name: "nope".into(),
                }),
            ),
            (
                "clusters:\n- name: c\n  cluster:\n    certificate-authority-data: Q0E=\nusers:\n- name: u\n  user: {token: t}\n".into(),
                Err(KubeconfigError::MissingServer { cluster: "c".into() }),
            ),
            (
                "clusters:\n- name: c\n  cluster:\n    server: https://h\nusers:\n- name: u\n  user: {token: t}\n".into(),
                Err(KubeconfigError::MissingCertificateAuthority { cluster: "c".into() }),
            ),
            (
                "clusters:\n- name: c\n  cluster:\n    server: https://h\n    certificate-authority: /etc/ca.crt\nusers:\n- name: u\n  user: {token: t}\n".into(),
                Ok(UserKind::Token),
            ),
            (
                "clusters:\n- name: c\n  cluster:\n    server: https://h\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user: {token: t}\n".into(),
                Err(KubeconfigError::InsecureSkipTlsVerify { cluster: "c".into() }),
            ),
            (
                "clusters:\n- name: c\n  cluster:\n    server: https://h\n    certificate-authority-data: Q0E=\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user: {token: t}\n".into(),
                Err(KubeconfigError::InsecureSkipTlsVerify { cluster: "c".into() }),
            ),
            (
                "users:\n- name: u\n  user: {token: t}\n".into(),
                Err(KubeconfigError::NoCluster),
            ),
            (
                format!("{base_cluster}- name: d\n  cluster: {{server: https://d}}\nusers:\n- name: u\n  user: {{token: t}}\n"),
                Err(KubeconfigError::AmbiguousCluster),
            ),
            (
                base_cluster.to_string(),
                Err(KubeconfigError::NoUser),
            ),
            (
                format!("{base_cluster}users:\n- name: u\n  user: {{token: t}}\n- name: v\n  user: {{token: t}}\n"),
                Err(KubeconfigError::AmbiguousUser),
            ),
            (
                format!(
                    "{base_cluster}contexts:\n- name: x\n  context: {{cluster: c, user: u}}\n- name: y\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user: {{token: t}}\n"
                ),
                Err(KubeconfigError::AmbiguousContext),
            ),
            (
                format!(
                    "{base_cluster}contexts:\n- name: x\n  context: {{cluster: missing, user: u}}\nusers:\n- name: u\n  user: {{token: t}}\n"
                ),
                Err(KubeconfigError::ClusterNotFound {
                    name: "missing".into(),
                }),
            ),
        ];
        for (yaml, want) in cases {
            let got = validate(&kc(&yaml)).map(|v| v.user_kind);
            assert_eq!(got, want, "kubeconfig:\n{yaml}");
        }
    }

    #[test]
    fn parse_errors_do_not_echo_content() {
        assert_eq!(parse(b""), Err(KubeconfigError::Empty));
        assert_eq!(parse(b" \n"), Err(KubeconfigError::Empty));
        let secretish = format!("users: \"{TOKEN}\"\n");
        let err = parse(secretish.as_bytes()).expect_err("users must be a list");
        assert!(matches!(err, KubeconfigError::Malformed { .. }));
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(TOKEN), "{text}");
        }
        let err = parse(b"clusters: [\n  {name: x\n").expect_err("unterminated");
        assert!(
            err.to_string()
                .starts_with("kubeconfig is not a valid kubeconfig document")
        );
        assert!(parse(&[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn debug_redacts_credentials() {
        let mut k = kc(&token_kubeconfig("https://h"));
        k.users[0].user.client_key_data = Some(KEY_DATA.into());
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(TOKEN), "{dbg}");
        assert!(!dbg.contains(KEY_DATA), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn with_server_rewrites_selected_cluster_and_keeps_unknown_fields() {
        let yaml = token_kubeconfig("https://old.example.com");
        let out = with_server(yaml.as_bytes(), "https://new.example.com:443").expect("rewrite");
        let k = kc(std::str::from_utf8(&out).expect("utf-8"));
        assert_eq!(
            validate(&k).expect("still valid").server,
            "https://new.example.com:443"
        );
        let doc: Value = serde_yaml::from_slice(&out).expect("yaml");
        assert_eq!(doc.get("kind").and_then(Value::as_str), Some("Config"));
        let ext = &doc["clusters"][0]["cluster"]["extensions"][0]["extension"]["keep"];
        assert_eq!(ext.as_str(), Some("me"));
        assert_eq!(doc["users"][0]["user"]["token"].as_str(), Some(TOKEN));
    }

    #[test]
    fn with_server_picks_current_context_cluster() {
        let yaml = "clusters:\n- name: a\n  cluster: {server: https://a}\n- name: b\n  cluster: {server: https://b}\ncontexts:\n- name: x\n  context: {cluster: b, user: u}\ncurrent-context: x\n";
        let out = with_server(yaml.as_bytes(), "https://z").expect("rewrite");
        let k = kc(std::str::from_utf8(&out).expect("utf-8"));
        assert_eq!(k.clusters[0].cluster.server.as_deref(), Some("https://a"));
        assert_eq!(k.clusters[1].cluster.server.as_deref(), Some("https://z"));

        let yaml = "clusters:\n- name: only\n  cluster:\n";
        let out = with_server(yaml.as_bytes(), "https://z").expect("rewrite null cluster");
        let k = kc(std::str::from_utf8(&out).expect("utf-8"));
        assert_eq!(k.clusters[0].cluster.server.as_deref(), Some("https://z"));

        assert_eq!(
            with_server(b"clusters: []\n", "https://z"),
            Err(KubeconfigError::NoCluster)
        );
        assert_eq!(with_server(b"", "https://z"), Err(KubeconfigError::Empty));
    }
}
