//! Plain-HTTP requests on loopback: the HTTP client, timed scrapes of `/mon/metrics`, and
//! reading samples out of the exposition.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustls::crypto::ring;

/// What Prometheus 2.x/3.x sends, so that the exporter serves what it would serve it.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
     application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// An HTTP/1.1 client that keeps its connections alive. reqwest is built with rustls and
/// no crypto provider, and wants a TLS configuration even for plain HTTP: one that trusts
/// nothing will do, since every address here is `http://127.0.0.1`.
pub fn client() -> anyhow::Result<reqwest::Client> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(120))
        .build()
        .context("cannot build the HTTP client")
}

/// A scrape: how long it took, the exposition, and the bytes that crossed the wire.
#[derive(Debug)]
pub struct Scrape {
    pub elapsed: Duration,
    pub exposition: String,
    pub wire_bytes: usize,
}

/// One scrape, timed from the request to the last byte of the body, with the `Accept` and
/// `Accept-Encoding: gzip` headers Prometheus sends.
pub async fn scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<Scrape> {
    let fetched = fetch(client, url).await?;

    // Uncompressed and checked as UTF-8 after the clock stops: the client's own work is
    // not the exporter's.
    let mut exposition = String::new();
    if fetched.gzip {
        flate2::read::GzDecoder::new(&fetched.body[..])
            .read_to_string(&mut exposition)
            .context("an exposition not in gzip, or not in UTF-8")?;
    } else {
        exposition =
            String::from_utf8(fetched.body.to_vec()).context("an exposition not in UTF-8")?;
    }
    Ok(Scrape {
        elapsed: fetched.elapsed,
        exposition,
        wire_bytes: fetched.body.len(),
    })
}

/// A scrape's body as it came off the wire.
#[derive(Debug)]
pub struct Fetched {
    pub elapsed: Duration,
    pub gzip: bool,
    pub body: bytes::Bytes,
}

/// [`scrape`] without reading the body: for clients scraping at once, whose
/// uncompressing would take the CPUs from the exporter they time.
pub async fn fetch(client: &reqwest::Client, url: &str) -> anyhow::Result<Fetched> {
    let started = Instant::now();
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT, PROMETHEUS_ACCEPT)
        .header(reqwest::header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    let gzip = response
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .is_some_and(|encoding| encoding == "gzip");
    let body = response.bytes().await?;

    Ok(Fetched {
        elapsed: started.elapsed(),
        gzip,
        body,
    })
}

/// Scrapes until `ready` holds for the exposition, at most `timeout`; polls every `every`.
pub async fn scrape_until(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    every: Duration,
    ready: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let body = scrape(client, url).await?.exposition;
        if ready(&body) {
            return Ok(body);
        }
        if Instant::now() > deadline {
            bail!("{url} not as expected after {timeout:?}");
        }
        tokio::time::sleep(every).await;
    }
}

/// The value of the first sample of `cds_hatchery_vsphere_<name>`, whatever its labels.
pub fn sample(exposition: &str, name: &str) -> Option<f64> {
    let full = format!("cds_hatchery_vsphere_{name}");
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(&full)?;
        let rest = match rest.chars().next()? {
            '{' => &rest[rest.find('}')? + 1..],
            ' ' => rest,
            _ => return None,
        };
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// How many samples of `cds_hatchery_vsphere_<name>` there are.
pub fn count(exposition: &str, name: &str) -> usize {
    let prefix = format!("cds_hatchery_vsphere_{name}{{");
    exposition
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .count()
}

/// Whether a sample of `cds_hatchery_vsphere_<name>` has every label of `labels`.
pub fn has_series(exposition: &str, name: &str, labels: &[(&str, &str)]) -> bool {
    let prefix = format!("cds_hatchery_vsphere_{name}{{");
    let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    exposition
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .any(|line| wanted.iter().all(|label| line.contains(label.as_str())))
}

/// Whether the exporter says its last collection read the inventory.
pub fn is_up(exposition: &str) -> bool {
    sample(exposition, "up") == Some(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE cds_hatchery_vsphere_up gauge\n\
        cds_hatchery_vsphere_up{service_name=\"h\"} 1\n\
        cds_hatchery_vsphere_vm_count_total{service_name=\"h\"} 9\n\
        cds_hatchery_vsphere_vm_count{service_name=\"h\"} 4\n\
        cds_hatchery_vsphere_worker_vcpus{worker_name=\"a\",flavor=\"b2-7\"} 2\n\
        cds_hatchery_vsphere_worker_vcpus{worker_name=\"b\",flavor=\"\"} 3\n";

    #[test]
    fn samples_are_found_by_exact_name() {
        assert_eq!(sample(TEXT, "vm_count"), Some(4.0));
        assert_eq!(sample(TEXT, "up"), Some(1.0));
        assert_eq!(sample(TEXT, "vm"), None);
        assert!(is_up(TEXT));
    }

    #[test]
    fn series_are_counted_and_matched_by_labels() {
        assert_eq!(count(TEXT, "worker_vcpus"), 2);
        assert!(has_series(
            TEXT,
            "worker_vcpus",
            &[("worker_name", "a"), ("flavor", "b2-7")]
        ));
        assert!(!has_series(
            TEXT,
            "worker_vcpus",
            &[("worker_name", "b"), ("flavor", "b2-7")]
        ));
    }
}
