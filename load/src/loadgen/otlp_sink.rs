//! An OTLP/gRPC trace receiver on loopback that counts what the controller exports and keeps
//! nothing: `capt-load run --otlp-sink` points the controller's `OTEL_EXPORTER_OTLP_ENDPOINT` at
//! it, so a run measures the controller with its spans exported (the trace-overhead figures).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

/// What the sink received.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SinkCounts {
    /// Export requests (batches).
    pub batches: u64,
    pub spans: u64,
    /// Distinct trace ids among the spans.
    pub traces: u64,
    /// Spans without a parent.
    pub roots: u64,
    /// Root spans by span name.
    #[serde(default)]
    pub roots_by_name: std::collections::BTreeMap<String, u64>,
}

#[derive(Default)]
struct State {
    counts: SinkCounts,
    traces: HashSet<Vec<u8>>,
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<State>>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut st = self.0.lock().unwrap_or_else(|e| e.into_inner());
        st.counts.batches += 1;
        for rs in &request.get_ref().resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    st.counts.spans += 1;
                    if span.parent_span_id.is_empty() {
                        st.counts.roots += 1;
                        *st.counts
                            .roots_by_name
                            .entry(span.name.clone())
                            .or_default() += 1;
                    }
                    if st.traces.insert(span.trace_id.clone()) {
                        st.counts.traces += 1;
                    }
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The running receiver.
pub struct OtlpSink {
    pub addr: SocketAddr,
    sink: Sink,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpSink {
    /// Listens on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sink = Sink::default();
        let svc = TraceServiceServer::new(sink.clone());
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(incoming)
                .await;
        });
        Ok(Self { addr, sink, task })
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn counts(&self) -> SinkCounts {
        self.sink
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .counts
            .clone()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}
