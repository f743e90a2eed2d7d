//! A cluster runs to Ready with every log line and span captured, and its EKS token is refreshed a few
//! times: no secret value of the connection secret or of the kubeconfig and CA secrets, no generated
//! token, presigned URL, signature or secret access key appears in logs, spans, Events or metrics.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as STANDARD_NO_PAD_URL};
use capt::api::CAPTControlPlane;
use capt::reconcile::token_refresh::annotations;
use capt::telemetry::otel;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ListParams};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Values that must never be shown: whole values, their base64 forms, and the long lines inside
/// them (a token or a PEM body line on its own is still a secret).
fn secret_needles(secret: &Secret, keys: &[&str]) -> Vec<(String, String)> {
    let data = secret.data.clone().unwrap_or_default();
    let mut out = Vec::new();
    for key in keys {
        let Some(v) = data.get(*key) else { continue };
        let text = String::from_utf8_lossy(&v.0).into_owned();
        let what = format!("{}/{key}", secret.metadata.name.clone().unwrap_or_default());
        out.push((what.clone(), STANDARD.encode(&v.0)));
        out.push((what.clone(), text.clone()));
        for line in text
            .lines()
            .chain(decoded_lines(&v.0).iter().map(String::as_str))
        {
            if let Some(value) = secret_value(line) {
                out.push((what.clone(), value.to_string()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The decoded lines of a base64 value, if it is one.
fn decoded_lines(v: &[u8]) -> Vec<String> {
    capt::reconcile::endpoint::decode_base64(v)
        .map(|d| {
            String::from_utf8_lossy(&d)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The secret part of one line of a kubeconfig or PEM: credential fields and PEM body lines.
fn secret_value(line: &str) -> Option<&str> {
    const FIELDS: [&str; 5] = [
        "token",
        "certificate-authority-data",
        "client-key-data",
        "client-certificate-data",
        "password",
    ];
    let line = line.trim().trim_start_matches("- ");
    let value = match line.split_once(": ") {
        // Keys and values may be double-quoted (terraform's `yamlencode` style).
        Some((key, value)) => FIELDS
            .contains(&key.trim().trim_matches('"'))
            .then_some(value.trim().trim_matches('"'))?,
        None if !line.starts_with("-----") => line,
        None => return None,
    };
    (value.len() >= 24).then_some(value)
}

/// The generated token's parts: the presigned URL, its signature, and the secret key it was signed with.
fn token_needles(kubeconfig: &Secret) -> Vec<(String, String)> {
    let value = &kubeconfig.data.as_ref().expect("data")["value"].0;
    let text = String::from_utf8_lossy(value);
    let token = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .expect("a token user")
        .trim();
    let url = STANDARD_NO_PAD_URL
        .decode(token.strip_prefix("k8s-aws-v1.").expect("EKS token"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .expect("base64url");
    let signature = url
        .split("X-Amz-Signature=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .expect("signature")
        .to_string();
    [
        ("token", token.to_string()),
        ("presigned URL", url),
        ("signature", signature),
        (
            "secret key",
            capt_load::capisim::FAKE_SECRET_ACCESS_KEY.to_string(),
        ),
    ]
    .into_iter()
    .map(|(w, n)| (w.to_string(), n))
    .collect()
}

fn assert_absent(haystack: &str, needles: &[(String, String)], place: &str) {
    for (what, needle) in needles {
        if let Some(at) = haystack.find(needle.as_str()) {
            let start = haystack[..at]
                .char_indices()
                .rev()
                .nth(200)
                .map_or(0, |(i, _)| i);
            panic!(
                "{what} found in {place}: …{}…",
                &haystack[start..(at + needle.len()).min(haystack.len())]
            );
        }
    }
}

#[test]
fn secret_values_never_reach_logs_spans_or_events() {
    let logs = Buffer::default();
    let writer = logs.clone();
    let exporter = InMemorySpanExporter::default();
    otel::install_propagator();
    let provider = SdkTracerProvider::builder()
        .with_resource(otel::resource())
        .with_simple_exporter(exporter.clone())
        .build();
    // As `capt run` with an OTLP endpoint: trace context is read from and recorded on objects,
    // and mailbox waits are spans built with the global tracer.
    opentelemetry::global::set_tracer_provider(provider.clone());
    otel::set_exporting(true);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(otel::layer(&provider))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        );
    tracing::subscriber::set_global_default(subscriber).expect("global subscriber");

    let (connection, kubeconfig, ca, events, endpoint, metrics_text) =
        capt::actors::block_on(async {
            let tokens = capt::controllers::tokens::TokenConfig::generated(
                capt::credentials::CredentialSource::static_keys(
                    capt_load::capisim::FAKE_ACCESS_KEY_ID,
                    capt_load::capisim::FAKE_SECRET_ACCESS_KEY,
                ),
                std::time::Duration::from_secs(1),
            );
            let cfg = capt::controllers::manager::ManagerConfig {
                tokens: Some(tokens),
                ..Default::default()
            };
            let w = World::start_with(fast_tfsim(), cfg).await;
            for t in TEMPLATES {
                w.apply(t).await;
            }
            w.apply(&cluster_yaml("sec", "1.31")).await;
            let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
            let secrets: Api<Secret> = Api::namespaced(w.client.clone(), "default");
            let cp = eventually(30, "control plane ready with secrets", || async {
                cps.get("sec").await.ok().filter(|c| {
                    c.status
                        .as_ref()
                        .is_some_and(|s| s.ready && s.secrets_ready)
                })
            })
            .await;
            let connection = secrets
                .get("sec-eks-connection")
                .await
                .expect("connection secret");
            let signed_at = |s: &Secret| {
                s.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(annotations::SIGNED_AT).cloned())
            };
            let first = eventually(30, "a generated token", || async {
                secrets
                    .get("sec-kubeconfig")
                    .await
                    .ok()
                    .and_then(|s| signed_at(&s))
            })
            .await;
            let kubeconfig = eventually(30, "a refreshed token", || async {
                secrets
                    .get("sec-kubeconfig")
                    .await
                    .ok()
                    .filter(|s| signed_at(s).is_some_and(|t| t > first))
            })
            .await;
            let metrics_text = w.metrics.encode();
            let ca = secrets.get("sec-ca").await.expect("ca secret");
            let events: Api<Event> = Api::all(w.client.clone());
            let events = events
                .list(&ListParams::default())
                .await
                .expect("events")
                .items;
            w.stop().await;
            let endpoint = cp.status.and_then(|s| s.endpoint).expect("endpoint");
            (connection, kubeconfig, ca, events, endpoint, metrics_text)
        });
    provider.force_flush().expect("flush spans");

    let mut needles = secret_needles(
        &connection,
        &["kubeconfig", "cluster_certificate_authority_data"],
    );
    needles.extend(secret_needles(&kubeconfig, &["value"]));
    needles.extend(secret_needles(&ca, &["ca.crt", "tls.crt"]));
    assert!(
        needles.iter().any(|(_, n)| n.starts_with("k8s-aws-v1.")),
        "the token is among the checked values: {needles:?}"
    );
    assert!(needles.len() > 6, "{needles:?}");
    needles.extend(token_needles(&kubeconfig));
    assert!(
        metrics_text.contains("capt_token_refreshes_total{result=\"signed\"}"),
        "token metrics were exported"
    );
    assert_absent(&metrics_text, &needles, "the metrics");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).expect("utf-8 logs");
    assert!(
        text.contains("secret sync transition"),
        "logs were captured at TRACE"
    );
    assert_absent(&text, &needles, "the logs");

    let spans = exporter.get_finished_spans().expect("spans");
    assert!(!spans.is_empty(), "spans were exported");
    assert!(
        spans.iter().any(|s| s.name == "token refresh"),
        "a span per refresh"
    );
    for span in &spans {
        assert_absent(
            &format!("{span:?}"),
            &needles,
            &format!("span {}", span.name),
        );
    }

    assert!(
        events
            .iter()
            .any(|e| e.message.as_deref().is_some_and(|m| m.contains(&endpoint))),
        "Events were captured, with the (public) endpoint"
    );
    for e in &events {
        let shown = format!(
            "{} {} {}",
            e.reason.clone().unwrap_or_default(),
            e.message.clone().unwrap_or_default(),
            e.action.clone().unwrap_or_default()
        );
        assert_absent(&shown, &needles, "an Event");
    }
}
