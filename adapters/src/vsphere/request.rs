//! Writes SOAP request bodies; every text and attribute value goes through quick-xml's escape.

use quick_xml::escape::escape;

use super::moref::Moref;

/// The prefixed envelope style: `xsi` is declared once for the `xsi:type` of selection
/// specs, which vcsim requires.
const ENVELOPE_START: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#,
    r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
    r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#,
);
const ENVELOPE_END: &str = "</soapenv:Body></soapenv:Envelope>";

/// The body of one vim25 call, written in the order of the WSDL sequences.
#[derive(Debug, Clone)]
pub(crate) struct SoapRequest {
    method: &'static str,
    xml: String,
}

impl SoapRequest {
    /// Opens `<method xmlns="urn:vim25"><_this type="...">...</_this>`.
    pub fn new(method: &'static str, this: &Moref) -> Self {
        let mut xml = String::with_capacity(1024);
        xml.push_str(ENVELOPE_START);
        xml.push('<');
        xml.push_str(method);
        xml.push_str(r#" xmlns="urn:vim25">"#);

        let mut request = Self { method, xml };
        request.moref("_this", this);
        request
    }

    pub fn method(&self) -> &'static str {
        self.method
    }

    /// `<name>value</name>`.
    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.open(name);
        self.xml.push_str(&escape(value));
        self.close(name)
    }

    /// `<name type="Kind">value</name>`.
    pub fn moref(&mut self, name: &str, moref: &Moref) -> &mut Self {
        self.xml.push('<');
        self.xml.push_str(name);
        self.xml.push_str(r#" type=""#);
        self.xml.push_str(&escape(moref.kind.as_str()));
        self.xml.push_str(r#"">"#);
        self.xml.push_str(&escape(moref.value.as_str()));
        self.close(name)
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.xml.push('<');
        self.xml.push_str(name);
        self.xml.push('>');
        self
    }

    /// `<name xsi:type="Type">`, for the polymorphic members of specs.
    pub fn open_typed(&mut self, name: &str, xsi_type: &str) -> &mut Self {
        self.xml.push('<');
        self.xml.push_str(name);
        self.xml.push_str(r#" xsi:type=""#);
        self.xml.push_str(&escape(xsi_type));
        self.xml.push_str(r#"">"#);
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.xml.push_str("</");
        self.xml.push_str(name);
        self.xml.push('>');
        self
    }

    /// Closes the method and the envelope.
    pub fn into_body(mut self) -> String {
        self.close(self.method);
        self.xml.push_str(ENVELOPE_END);
        self.xml
    }
}

#[cfg(test)]
mod tests {
    use super::super::xml::{Envelope, parse_envelope};
    use super::*;

    #[test]
    fn values_are_escaped_and_read_back_unchanged() {
        let password = r#"p<&"'>ä"#;
        let mut request = SoapRequest::new("Login", &Moref::new("SessionManager", "SM"));
        request.text("userName", "a&b").text("password", password);

        let body = request.into_body();

        let Ok(Envelope::Response(login)) = parse_envelope(body.as_bytes()) else {
            panic!("not an envelope: {body}");
        };
        assert_eq!(login.name, "Login");
        assert_eq!(login.child_text("password"), Some(password));
        assert_eq!(login.child_text("userName"), Some("a&b"));
        let this = login.child("_this").and_then(|t| t.moref());
        assert_eq!(this, Some(Moref::new("SessionManager", "SM")));
    }

    #[test]
    fn typed_elements_carry_the_schema_instance_type() {
        let mut request = SoapRequest::new("X", &Moref::new("T", "v"));
        request
            .open_typed("selectSet", "TraversalSpec")
            .close("selectSet");

        let body = request.into_body();

        let Ok(Envelope::Response(x)) = parse_envelope(body.as_bytes()) else {
            panic!("not an envelope: {body}");
        };
        let select = x.child("selectSet").and_then(|s| s.xsi_type.as_deref());
        assert_eq!(select, Some("TraversalSpec"));
    }
}
