//! Probe and metrics endpoints: plain HTTP, and TLS with TokenReview/SubjectAccessReview checks
//! against a fake API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use capt::telemetry::health::{self, BoundServer, ServeOptions};
use capt::telemetry::{Metrics, Readiness};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, ring, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore};

struct Reply {
    status: u16,
    body: String,
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    path: &str,
    token: Option<&str>,
) -> Reply {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw).await {
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
    let text = String::from_utf8(raw).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Reply { status, body }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    exchange(TcpStream::connect(addr).await.unwrap(), path, None).await
}

async fn get_tls(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    path: &str,
    token: Option<&str>,
) -> Reply {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(config).connect(name, tcp).await.unwrap();
    exchange(tls, path, token).await
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn start(server: BoundServer) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    stop
}

#[tokio::test]
async fn probes_and_plain_metrics() {
    let metrics = Metrics::new();
    let readiness = Readiness::new();
    let opts = ServeOptions {
        probe_addr: local(),
        metrics_addr: local(),
        secure: false,
        cert_dir: None,
    };
    let server = health::bind(&opts, metrics.clone(), readiness.clone(), None)
        .await
        .unwrap();
    let (probe, metrics_addr) = (server.probe_addr(), server.metrics_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    assert_eq!(get(probe, "/healthz").await.status, 200);

    let not_ready = get(probe, "/readyz").await;
    assert_eq!(not_ready.status, 503);
    assert!(
        not_ready.body.contains("caches-synced"),
        "{}",
        not_ready.body
    );
    assert!(
        not_ready.body.contains("leader-known"),
        "{}",
        not_ready.body
    );

    readiness.set_caches_synced(true);
    let half = get(probe, "/readyz").await;
    assert_eq!(half.status, 503);
    assert!(!half.body.contains("[-]caches-synced"), "{}", half.body);
    assert!(half.body.contains("[-]leader-known"), "{}", half.body);

    readiness.set_leader_known(true);
    assert_eq!(get(probe, "/readyz").await.status, 200);

    metrics.set_leader(true);
    let scrape = get(metrics_addr, "/metrics").await;
    assert_eq!(scrape.status, 200);
    assert!(scrape.body.contains("capt_leader 1"), "{}", scrape.body);
    assert_eq!(get(probe, "/metrics").await.status, 404);

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), task)
        .await
        .expect("server stops after shutdown")
        .unwrap()
        .unwrap();
}

#[derive(Default)]
struct FakeApi {
    token_reviews: AtomicUsize,
    access_reviews: AtomicUsize,
}

async fn token_review(State(api): State<Arc<FakeApi>>, Json(review): Json<Value>) -> Json<Value> {
    api.token_reviews.fetch_add(1, Ordering::SeqCst);
    let token = review["spec"]["token"].as_str().unwrap_or_default();
    let status = match token {
        "scraper-token" => json!({"authenticated": true,
            "user": {"username": "system:serviceaccount:monitoring:prometheus", "groups": ["system:serviceaccounts"]}}),
        "intruder-token" => json!({"authenticated": true,
            "user": {"username": "system:serviceaccount:default:intruder", "groups": ["system:serviceaccounts"]}}),
        _ => json!({"authenticated": false, "error": "invalid bearer token"}),
    };
    Json(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "metadata": {}, "spec": review["spec"], "status": status,
    }))
}

async fn access_review(State(api): State<Arc<FakeApi>>, Json(review): Json<Value>) -> Json<Value> {
    api.access_reviews.fetch_add(1, Ordering::SeqCst);
    let spec = &review["spec"];
    let allowed = spec["user"] == "system:serviceaccount:monitoring:prometheus"
        && spec["nonResourceAttributes"]["path"] == "/metrics"
        && spec["nonResourceAttributes"]["verb"] == "get";
    Json(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "metadata": {}, "spec": spec, "status": {"allowed": allowed},
    }))
}

async fn fake_api_server() -> (kube::Client, Arc<FakeApi>) {
    let api = Arc::new(FakeApi::default());
    let app = axum::Router::new()
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            post(token_review),
        )
        .route(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            post(access_review),
        )
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind(local()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    (kube::Client::try_from(config).unwrap(), api)
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn secure_metrics_authenticate_and_authorize() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = temp_dir("metrics-certs");
    std::fs::write(
        dir.join(health::CERT_FILE),
        pem("CERTIFICATE", cert.cert.der()),
    )
    .unwrap();
    std::fs::write(
        dir.join(health::KEY_FILE),
        pem("PRIVATE KEY", &cert.signing_key.serialize_der()),
    )
    .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client_config = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );

    let (kube_client, api) = fake_api_server().await;
    let opts = ServeOptions {
        probe_addr: local(),
        metrics_addr: local(),
        secure: true,
        cert_dir: Some(dir.clone()),
    };
    let metrics = Metrics::new();
    metrics.api_request("get", "secrets", 200);
    let server = health::bind(&opts, metrics, Readiness::new(), Some(kube_client))
        .await
        .unwrap();
    let addr = server.metrics_addr();
    let stop = start(server);

    let anonymous = get_tls(addr, client_config.clone(), "/metrics", None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(api.token_reviews.load(Ordering::SeqCst), 0);

    let bad = get_tls(addr, client_config.clone(), "/metrics", Some("nonsense")).await;
    assert_eq!(bad.status, 401);

    let denied = get_tls(
        addr,
        client_config.clone(),
        "/metrics",
        Some("intruder-token"),
    )
    .await;
    assert_eq!(denied.status, 403);
    assert!(denied.body.contains("intruder"), "{}", denied.body);

    let allowed = get_tls(
        addr,
        client_config.clone(),
        "/metrics",
        Some("scraper-token"),
    )
    .await;
    assert_eq!(allowed.status, 200);
    assert!(
        allowed
            .body
            .contains("capt_api_requests_total{verb=\"get\",resource=\"secrets\",code=\"200\"} 1"),
        "{}",
        allowed.body
    );

    let reviews = (
        api.token_reviews.load(Ordering::SeqCst),
        api.access_reviews.load(Ordering::SeqCst),
    );
    assert_eq!(reviews, (3, 2));
    let again = get_tls(addr, client_config, "/metrics", Some("scraper-token")).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        (
            api.token_reviews.load(Ordering::SeqCst),
            api.access_reviews.load(Ordering::SeqCst)
        ),
        reviews,
        "decisions are cached"
    );

    let _ = stop.send(());
    let _ = std::fs::remove_dir_all(dir);
}

#[derive(Debug)]
struct AcceptAnyCert(CryptoProvider);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[tokio::test]
async fn secure_metrics_with_generated_certificate() {
    let (kube_client, _api) = fake_api_server().await;
    let opts = ServeOptions {
        probe_addr: local(),
        metrics_addr: local(),
        secure: true,
        cert_dir: None,
    };
    let server = health::bind(&opts, Metrics::new(), Readiness::new(), Some(kube_client))
        .await
        .unwrap();
    let addr = server.metrics_addr();
    let stop = start(server);
    let client_config = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(ring::default_provider())))
            .with_no_client_auth(),
    );
    assert_eq!(
        get_tls(addr, client_config.clone(), "/metrics", None)
            .await
            .status,
        401
    );
    assert_eq!(
        get_tls(addr, client_config, "/metrics", Some("scraper-token"))
            .await
            .status,
        200
    );
    let _ = stop.send(());
}

#[tokio::test]
async fn secure_metrics_need_a_client() {
    let opts = ServeOptions {
        probe_addr: local(),
        metrics_addr: local(),
        secure: true,
        cert_dir: None,
    };
    let err = health::bind(&opts, Metrics::new(), Readiness::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, health::ServeError::SecureNeedsClient));
}
