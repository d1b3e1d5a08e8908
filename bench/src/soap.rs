//! Raw vim25 SOAP over HTTP, with nothing parsed beyond the few morefs needed: the floor
//! against which the exporter's reads are measured.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};

const ENVELOPE_START: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#,
    r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
    r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#,
);
const ENVELOPE_END: &str = "</soapenv:Body></soapenv:Envelope>";

/// The six paths the exporter reads of each VM.
const VM_PATHS: [&str; 6] = [
    "name",
    "summary.config.numCpu",
    "summary.config.memorySizeMB",
    "config.annotation",
    "summary.config.template",
    "runtime.powerState",
];

/// A logged-in session with a container view of every VM.
#[derive(Debug)]
pub struct RawSession {
    http: reqwest::Client,
    url: String,
    cookie: String,
    property_collector: String,
    view_manager: String,
    session_manager: String,
    view: String,
    /// The narrow request, written once.
    narrow_request: String,
}

impl RawSession {
    /// RetrieveServiceContent, Login, CreateContainerView of `VirtualMachine` from the root
    /// folder: what the exporter does before its reads.
    pub async fn open(
        http: reqwest::Client,
        url: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<RawSession> {
        let mut session = RawSession {
            http,
            url: url.to_owned(),
            cookie: String::new(),
            property_collector: String::new(),
            view_manager: String::new(),
            session_manager: String::new(),
            view: String::new(),
            narrow_request: String::new(),
        };

        let content = session
            .call(r#"<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>"#)
            .await?;
        let root_folder = text_of(&content, "rootFolder")?;
        session.property_collector = text_of(&content, "propertyCollector")?;
        session.view_manager = text_of(&content, "viewManager")?;
        session.session_manager = text_of(&content, "sessionManager")?;

        session.login(user, password).await?;

        let view = session
            .call(&format!(
                r#"<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">{}</_this><container type="Folder">{root_folder}</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>"#,
                session.view_manager
            ))
            .await?;
        session.view = text_of(&view, "returnval")?;
        session.narrow_request = session.narrow_request_body();
        Ok(session)
    }

    /// The narrow `RetrievePropertiesEx`, timed from the request to the last byte of the
    /// answer; returns the time and the body.
    pub async fn narrow_read(&self) -> anyhow::Result<(Duration, Bytes)> {
        let started = Instant::now();
        let body = self.post(self.narrow_request.clone()).await?;
        let elapsed = started.elapsed();

        if !contains(&body, "<returnval>") {
            bail!("the narrow RetrievePropertiesEx answered no object");
        }
        Ok((elapsed, body))
    }

    /// A property collector of our own, with a filter on the view for the six paths, whose
    /// first `WaitForUpdatesEx` (every VM, `enter`) has been read: from there on, each
    /// [`Self::wait_for_updates`] answers with changes only. Returns the collector.
    pub async fn follow(&self) -> anyhow::Result<String> {
        let created = self
            .call(&format!(
                r#"<CreatePropertyCollector xmlns="urn:vim25"><_this type="PropertyCollector">{}</_this></CreatePropertyCollector>"#,
                self.property_collector
            ))
            .await?;
        let collector = text_of(&created, "returnval")?;

        let paths: String = VM_PATHS
            .iter()
            .map(|p| format!("<pathSet>{p}</pathSet>"))
            .collect();
        self.call(&format!(
            concat!(
                "<CreateFilter xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">{pc}</_this>",
                "<spec><propSet><type>VirtualMachine</type>{paths}</propSet>",
                "<objectSet><obj type=\"ContainerView\">{view}</obj><skip>true</skip>",
                "<selectSet xsi:type=\"TraversalSpec\"><name>traverseView</name>",
                "<type>ContainerView</type><path>view</path><skip>false</skip></selectSet>",
                "</objectSet></spec><partialUpdates>false</partialUpdates></CreateFilter>"
            ),
            pc = escape(&collector),
            paths = paths,
            view = escape(&self.view),
        ))
        .await?;

        self.wait_for_updates(&collector, None, 0).await?;
        Ok(collector)
    }

    /// One `WaitForUpdatesEx` on `collector`: `version` from the previous answer (vcsim
    /// always says `-`), or none for the first; answers once there are changes or after
    /// `max_wait_seconds`.
    pub async fn wait_for_updates(
        &self,
        collector: &str,
        version: Option<&str>,
        max_wait_seconds: u32,
    ) -> anyhow::Result<Bytes> {
        let version =
            version.map_or_else(String::new, |v| format!("<version>{}</version>", escape(v)));
        self.post(format!(
            r#"{ENVELOPE_START}<WaitForUpdatesEx xmlns="urn:vim25"><_this type="PropertyCollector">{}</_this>{version}<options><maxWaitSeconds>{max_wait_seconds}</maxWaitSeconds></options></WaitForUpdatesEx>{ENVELOPE_END}"#,
            escape(collector)
        ))
        .await
    }

    pub async fn destroy_collector(&self, collector: &str) -> anyhow::Result<()> {
        self.call(&format!(
            r#"<DestroyPropertyCollector xmlns="urn:vim25"><_this type="PropertyCollector">{}</_this></DestroyPropertyCollector>"#,
            escape(collector)
        ))
        .await?;
        Ok(())
    }

    /// DestroyView and Logout, so that the simulator keeps no session of ours.
    pub async fn close(&self) -> anyhow::Result<()> {
        self.call(&format!(
            r#"<DestroyView xmlns="urn:vim25"><_this type="ContainerView">{}</_this></DestroyView>"#,
            self.view
        ))
        .await?;
        self.call(&format!(
            r#"<Logout xmlns="urn:vim25"><_this type="SessionManager">{}</_this></Logout>"#,
            self.session_manager
        ))
        .await?;
        Ok(())
    }

    async fn login(&mut self, user: &str, password: &str) -> anyhow::Result<()> {
        let body = format!(
            r#"{ENVELOPE_START}<Login xmlns="urn:vim25"><_this type="SessionManager">{}</_this><userName>{}</userName><password>{}</password></Login>{ENVELOPE_END}"#,
            self.session_manager,
            escape(user),
            escape(password)
        );
        let response = self.send(body).await?;
        let cookie = response
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
            .context("Login set no cookie")?;
        response.bytes().await?;
        self.cookie = cookie;
        Ok(())
    }

    /// The request the exporter sends for its full read, in its own envelope style.
    fn narrow_request_body(&self) -> String {
        let paths: String = VM_PATHS
            .iter()
            .map(|p| format!("<pathSet>{p}</pathSet>"))
            .collect();
        format!(
            concat!(
                "{start}<RetrievePropertiesEx xmlns=\"urn:vim25\">",
                "<_this type=\"PropertyCollector\">{pc}</_this><specSet>",
                "<propSet><type>VirtualMachine</type>{paths}</propSet>",
                "<objectSet><obj type=\"ContainerView\">{view}</obj><skip>true</skip>",
                "<selectSet xsi:type=\"TraversalSpec\"><name>traverseView</name>",
                "<type>ContainerView</type><path>view</path><skip>false</skip></selectSet>",
                "</objectSet></specSet><options><maxObjects>1000</maxObjects></options>",
                "</RetrievePropertiesEx>{end}"
            ),
            start = ENVELOPE_START,
            pc = self.property_collector,
            paths = paths,
            view = escape(&self.view),
            end = ENVELOPE_END,
        )
    }

    /// One call whose answer is read whole as text.
    async fn call(&self, method: &str) -> anyhow::Result<String> {
        let body = self
            .post(format!("{ENVELOPE_START}{method}{ENVELOPE_END}"))
            .await?;
        String::from_utf8(body.to_vec()).context("an answer that is not UTF-8")
    }

    async fn post(&self, body: String) -> anyhow::Result<Bytes> {
        let response = self.send(body).await?;
        Ok(response.bytes().await?)
    }

    async fn send(&self, body: String) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, r#"text/xml; charset="utf-8""#)
            .header("SOAPAction", "urn:vim25/6.5")
            .body(body);
        if !self.cookie.is_empty() {
            request = request.header(COOKIE, &self.cookie);
        }
        let response = request.send().await.context("SOAP POST")?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            bail!("SOAP call answered {status}: {}", truncate(&text, 300));
        }
        Ok(response)
    }
}

/// The text of the first element named `name`, whatever its attributes.
fn text_of(xml: &str, name: &str) -> anyhow::Result<String> {
    let open = format!("<{name}");
    let start = xml
        .match_indices(&open)
        .map(|(i, _)| i + open.len())
        .find(|&i| matches!(xml.as_bytes().get(i), Some(b'>' | b' ')))
        .with_context(|| format!("no <{name}> in the answer"))?;
    let content = start + xml[start..].find('>').context("unclosed tag")? + 1;
    let end = content
        + xml[content..]
            .find(&format!("</{name}>"))
            .with_context(|| format!("no </{name}>"))?;
    Ok(unescape(&xml[content..end]))
}

/// Whether `text` occurs in `body`.
pub fn contains(body: &[u8], text: &str) -> bool {
    body.windows(text.len())
        .any(|window| window == text.as_bytes())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_text_is_found_whatever_the_attributes() {
        let xml = r#"<a><rootFolderX>no</rootFolderX><rootFolder type="Folder">group-d1</rootFolder></a>"#;
        assert_eq!(text_of(xml, "rootFolder").ok().as_deref(), Some("group-d1"));
        assert!(text_of(xml, "missing").is_err());
    }
}
