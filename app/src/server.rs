//! The HTTP endpoint: `/mon/metrics`, served from the sink's latest publication.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use adapters::prometheus::{Encoding, Format, PrometheusSink};
use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::web::{BasicAuth, WebConfig, require_basic_auth};

/// The path Prometheus scrapes, as CDS services use.
pub const METRICS_PATH: &str = "/mon/metrics";

/// How long requests in flight may take to finish once shutdown is asked.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves until `shutdown` is cancelled, then lets requests in flight finish; over TLS and
/// behind basic authentication when `web` says so.
pub async fn serve(
    listener: TcpListener,
    sink: PrometheusSink,
    web: &WebConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = router(sink, web);

    let Some((cert, key)) = &web.tls else {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        return Ok(());
    };

    let tls = RustlsConfig::from_config(Arc::new(tls_config(cert, key)?));
    let handle = axum_server::Handle::new();
    tokio::spawn({
        let handle = handle.clone();
        async move {
            shutdown.cancelled().await;
            handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
        }
    });
    axum_server::from_tcp_rustls(listener.into_std()?, tls)?
        .handle(handle)
        .serve(app.into_make_service())
        .await?;
    Ok(())
}

fn router(sink: PrometheusSink, web: &WebConfig) -> Router {
    let router = Router::new()
        .route(METRICS_PATH, get(metrics))
        .with_state(sink);
    if web.users.is_empty() {
        return router;
    }

    let auth = Arc::new(BasicAuth::new(web.users.clone()));
    router.layer(middleware::from_fn_with_state(auth, require_basic_auth))
}

/// The server's certificate chain and key, with the ring provider the vCenter client uses
/// too; HTTP/1.1 only, all a scraper needs.
fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificates of {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the private key of {}", key.display()))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate does not match its key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

async fn metrics(State(sink): State<PrometheusSink>, headers: HeaderMap) -> Response {
    let format = negotiate(&headers);
    let encoding = negotiate_encoding(&headers);

    match sink.render(format, encoding) {
        Ok(body) => {
            let mut response = body.into_response();
            let response_headers = response.headers_mut();
            response_headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            if encoding == Encoding::Gzip {
                response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Err(error) => {
            tracing::error!(error = %error, "cannot render the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// OpenMetrics when the scraper lists it among the types it accepts (Prometheus does, ahead
/// of the text format), the text format otherwise.
fn negotiate(headers: &HeaderMap) -> Format {
    if listed(headers, header::ACCEPT, "application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// gzip when the scraper accepts it, as Prometheus does; nothing else is offered.
fn negotiate_encoding(headers: &HeaderMap) -> Encoding {
    if listed(headers, header::ACCEPT_ENCODING, "gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// Whether a header of `name` lists `value` with a weight above zero.
fn listed(headers: &HeaderMap, name: header::HeaderName, value: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .flat_map(|header| header.split(','))
        .any(|entry| accepts(entry, value))
}

/// Whether one entry of an Accept or Accept-Encoding header names `value` with a weight
/// above zero.
fn accepts(entry: &str, value: &str) -> bool {
    let mut parts = entry.split(';').map(str::trim);
    let named = parts.next().is_some_and(|m| m.eq_ignore_ascii_case(value));
    let refused = parts.any(|parameter| {
        parameter.split_once('=').is_some_and(|(name, weight)| {
            name.trim().eq_ignore_ascii_case("q")
                && weight.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
        })
    });

    named && !refused
}

#[cfg(test)]
mod tests {
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

    fn encoding_for(accept_encoding: &str) -> Encoding {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(accept_encoding).unwrap();
        headers.insert(header::ACCEPT_ENCODING, value);
        negotiate_encoding(&headers)
    }

    #[test]
    fn gzip_goes_to_those_who_accept_it() {
        assert_eq!(encoding_for("gzip"), Encoding::Gzip);
        assert_eq!(encoding_for("deflate, GZIP;q=0.5"), Encoding::Gzip);

        assert_eq!(negotiate_encoding(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(encoding_for("identity"), Encoding::Identity);
        assert_eq!(encoding_for("br, deflate"), Encoding::Identity);
        assert_eq!(encoding_for("gzip;q=0"), Encoding::Identity);
        assert_eq!(encoding_for("gzip; q=0.000"), Encoding::Identity);
    }
}
