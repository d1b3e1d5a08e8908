//! The HTTP endpoint: `/mon/metrics`, served from the sink's latest publication.

use adapters::prometheus::PrometheusSink;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The path Prometheus scrapes, as CDS services use.
pub const METRICS_PATH: &str = "/mon/metrics";

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves until `shutdown` is cancelled, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    sink: PrometheusSink,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(METRICS_PATH, get(metrics))
        .with_state(sink);

    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn metrics(State(sink): State<PrometheusSink>) -> Response {
    match sink.render() {
        Ok(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "cannot render the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
