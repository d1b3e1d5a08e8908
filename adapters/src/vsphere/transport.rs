//! One SOAP exchange over HTTP: POST, session cookie, capped body, typed failures.

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, HeaderValue, SET_COOKIE};
use reqwest::{Response, StatusCode, Url, redirect};
use tracing::debug;

use super::config::VsphereConfig;
use super::error::VsphereError;
use super::record::FlatRecord;
use super::request::SoapRequest;
use super::streaming::read_streamed;
use super::tls::{self, Trust};
use super::xml::{Element, Envelope, Record, read_envelope};

/// The cookie vCenter keys its sessions on; no SOAP header is used with vim25.
const SESSION_COOKIE: &str = "vmware_soap_session";

/// The answer to one call.
#[derive(Debug)]
pub(crate) struct SoapReply {
    /// The element under `Body`, `<MethodResponse>`.
    pub response: Element,
    /// The `vmware_soap_session` cookie value exactly as received, quotes included.
    pub session_cookie: Option<String>,
}

/// The HTTP client for one SDK endpoint.
#[derive(Debug)]
pub(crate) struct SoapTransport {
    http: reqwest::Client,
    url: Url,
    max_response_bytes: u64,
}

impl SoapTransport {
    /// `config` must be validated: its URL carries no credentials.
    pub fn new(config: &VsphereConfig) -> Result<Self, VsphereError> {
        let trust = match (config.url.scheme(), config.insecure) {
            ("http", _) => Trust::Nothing,
            (_, true) => Trust::Anything,
            (_, false) => Trust::Roots {
                ca_file: config.ca_file.as_deref(),
            },
        };
        let tls = tls::client_config(trust)?;

        // Cookies are handled by hand: reqwest's store would not echo a quoted value
        // verbatim, and the session must survive the client's connection pool.
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(config.request_timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("cds-vsphere-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(VsphereError::Client)?;

        Ok(Self {
            http,
            url: config.url.clone(),
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// Posts `request`; `api_version` goes into `SOAPAction` (`urn:vim25/6.5`).
    pub async fn call(
        &self,
        request: SoapRequest,
        api_version: &str,
        cookie: Option<&str>,
    ) -> Result<SoapReply, VsphereError> {
        self.call_within(request, api_version, cookie, None).await
    }

    /// [`Self::call`] with its own time limit instead of the configured one: longer for a
    /// long poll, shorter for the goodbyes at shutdown.
    pub async fn call_within(
        &self,
        request: SoapRequest,
        api_version: &str,
        cookie: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<SoapReply, VsphereError> {
        let call = Call {
            api_version,
            cookie,
            timeout,
        };
        self.call_with_records(request, call, None, |_, _| Ok(()))
            .await
    }

    /// [`Self::call_within`], handing each element of `record` to `on_record` as the
    /// answer is read (see [`read_envelope`]); the reply holds the rest.
    pub async fn call_with_records(
        &self,
        request: SoapRequest,
        call: Call<'_>,
        record: Option<Record>,
        on_record: impl FnMut(&[Element], FlatRecord) -> Result<(), VsphereError>,
    ) -> Result<SoapReply, VsphereError> {
        let method = request.method();
        let started = Instant::now();

        let result = self.exchange(request, call, record, on_record).await;

        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(_) => debug!(method, elapsed_ms, "soap call"),
            Err(error) => debug!(method, elapsed_ms, error = %error, "soap call failed"),
        }
        result
    }

    async fn exchange(
        &self,
        request: SoapRequest,
        call: Call<'_>,
        record: Option<Record>,
        on_record: impl FnMut(&[Element], FlatRecord) -> Result<(), VsphereError>,
    ) -> Result<SoapReply, VsphereError> {
        let method = request.method();
        let response = self.post(request, call).await?;
        let status = response.status();
        let session_cookie = session_cookie(response.headers());
        let limit = self.max_response_bytes;

        // Answers with records are the large ones, read while they arrive.
        let envelope = match record {
            Some(record) => read_streamed(method, response, limit, record, on_record).await,
            None => {
                let body = read_capped(response, limit).await?;
                read_envelope(&body, None, on_record)
            }
        };
        let response = answer(status, envelope)?;
        Ok(SoapReply {
            response,
            session_cookie,
        })
    }

    async fn post(&self, request: SoapRequest, call: Call<'_>) -> Result<Response, VsphereError> {
        let Call {
            api_version,
            cookie,
            timeout,
        } = call;
        let mut builder = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, r#"text/xml; charset="utf-8""#)
            .header("SOAPAction", format!("urn:vim25/{api_version}"));

        if let Some(cookie) = cookie {
            let value = HeaderValue::try_from(format!("{SESSION_COOKIE}={cookie}"))
                .map_err(|_| VsphereError::unexpected("Login", "unusable session cookie"))?;
            builder = builder.header(COOKIE, value);
        }

        // The request's own timeout replaces the client's, and covers the body as well.
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }

        builder
            .body(request.into_body())
            .send()
            .await
            .map_err(classify)
    }
}

/// What goes with a request besides its body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// Sent in `SOAPAction` (`urn:vim25/6.5`).
    pub api_version: &'a str,
    pub cookie: Option<&'a str>,
    /// Replaces the configured request timeout when set.
    pub timeout: Option<Duration>,
}

/// vCenter answers faults with status 500, but a fault is a fault whatever the status.
/// An answer that is not SOAP says no more than its status; what a record said against
/// the answer is said as it is.
fn answer(
    status: StatusCode,
    envelope: Result<Envelope, VsphereError>,
) -> Result<Element, VsphereError> {
    match envelope {
        Ok(Envelope::Fault(fault)) => Err(VsphereError::Fault(fault)),
        Ok(Envelope::Response(response)) if status == StatusCode::OK => Ok(response),
        Err(error) if status == StatusCode::OK || !matches!(error, VsphereError::Xml(_)) => {
            Err(error)
        }
        _ => Err(VsphereError::HttpStatus {
            status: status.as_u16(),
        }),
    }
}

/// Reads the body chunk by chunk and stops past `limit`: `Content-Length` may be absent
/// (chunked answers) or wrong.
pub(super) async fn read_capped(
    mut response: Response,
    limit: u64,
) -> Result<Vec<u8>, VsphereError> {
    let too_large = VsphereError::BodyTooLarge { limit };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large);
    }

    let expected = response.content_length().unwrap_or(0).min(limit);
    let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }

    Ok(body)
}

/// The value of `vmware_soap_session` among the `Set-Cookie` headers, verbatim.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|cookie| cookie.split(';').next())
        .find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name.trim() == SESSION_COOKIE).then(|| value.trim().to_owned())
        })
}

pub(super) fn classify(error: reqwest::Error) -> VsphereError {
    if error.is_timeout() {
        VsphereError::Timeout(error)
    } else if caused_by_tls(&error) {
        VsphereError::Tls(error)
    } else if error.is_connect() {
        VsphereError::Connect(error)
    } else {
        VsphereError::Http(error)
    }
}

/// rustls errors reach us wrapped in `io::Error`s, whose `source()` skips the wrapped
/// error itself, so each `io::Error` of the chain is opened down to what it wraps.
fn caused_by_tls(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if is_tls(error) {
            return true;
        }
        next = error.source();
    }
    false
}

fn is_tls(mut error: &(dyn StdError + 'static)) -> bool {
    loop {
        if error.is::<rustls::Error>() {
            return true;
        }
        let wrapped = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        match wrapped {
            Some(inner) => error = inner,
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(SET_COOKIE, HeaderValue::from_str(value).expect("header"));
        }
        headers
    }

    #[test]
    fn the_session_cookie_is_kept_verbatim() {
        let vcsim = headers(&["vmware_soap_session=8c826521-8b50; HttpOnly"]);
        let vcenter = headers(&[
            "other=1; Path=/",
            r#"vmware_soap_session="52d3a1f0-aa"; Path=/; HttpOnly; Secure"#,
        ]);

        assert_eq!(session_cookie(&vcsim).as_deref(), Some("8c826521-8b50"));
        assert_eq!(
            session_cookie(&vcenter).as_deref(),
            Some(r#""52d3a1f0-aa""#)
        );
        assert_eq!(session_cookie(&headers(&["x=y"])), None);
    }

    #[test]
    fn a_500_without_a_fault_is_an_http_error() {
        let error = answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            read_envelope(b"<html>oops</html>", None, |_, _| Ok(())),
        );

        assert!(matches!(
            error,
            Err(VsphereError::HttpStatus { status: 500 })
        ));
    }

    #[test]
    fn a_fault_is_an_error_even_with_status_200() {
        let body = concat!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>"#,
            "<s:Fault><faultcode>ServerFaultCode</faultcode><faultstring>x</faultstring>",
            "</s:Fault></s:Body></s:Envelope>"
        );

        let error = answer(
            StatusCode::OK,
            read_envelope(body.as_bytes(), None, |_, _| Ok(())),
        );

        let error = error.expect_err("a fault");
        assert_eq!(error.reason(), "ServerFaultCode");
    }
}
