//! The HTTP endpoint: `/mon/metrics`, served from the sink's latest publication.

use adapters::prometheus::{Format, PrometheusSink};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The path Prometheus scrapes, as CDS services use.
pub const METRICS_PATH: &str = "/mon/metrics";

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

async fn metrics(State(sink): State<PrometheusSink>, headers: HeaderMap) -> Response {
    let format = negotiate(&headers);

    match sink.render(format) {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "cannot render the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// OpenMetrics when the scraper lists it among the types it accepts (Prometheus does, ahead
/// of the text format), the text format otherwise.
fn negotiate(headers: &HeaderMap) -> Format {
    let accepts_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| accepts(media, "application/openmetrics-text"));

    if accepts_openmetrics {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// Whether one entry of an Accept header names `media_type` with a weight above zero.
fn accepts(entry: &str, media_type: &str) -> bool {
    let mut parts = entry.split(';').map(str::trim);
    let named = parts
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case(media_type));
    let refused = parts.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");

    named && !refused
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn format_for(accept: &str) -> Format {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn prometheus_gets_openmetrics() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
            version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

        assert_eq!(format_for(prometheus), Format::OpenMetrics);
    }

    #[test]
    fn others_get_the_text_format() {
        assert_eq!(negotiate(&HeaderMap::new()), Format::Text);
        assert_eq!(format_for("text/plain"), Format::Text);
        assert_eq!(format_for("*/*"), Format::Text);
        assert_eq!(format_for("application/openmetrics-text;q=0"), Format::Text);
    }
}
