//! The `/mon/metrics` endpoint as an operator exposes it: over TLS with basic
//! authentication from a web configuration file, and without a secret in sight.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{Exporter, binary};

const USER: &str = "prometheus";
const PASSWORD: &str = "scrape-Pa55";

/// A certificate for 127.0.0.1 and its key, and a web configuration file naming them with
/// one user, all in `dir`.
fn web_config(dir: &Path) -> std::path::PathBuf {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(dir.join("server.pem"), certified.cert.pem()).unwrap();
    std::fs::write(
        dir.join("server.key"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let config = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
         basic_auth_users:\n  {USER}: '{hash}'\n"
    );
    let path = dir.join("web.yml");
    std::fs::write(&path, config).unwrap();
    path
}

/// curl's HTTP status for `url`, trusting `ca`, with `user` credentials if any.
fn curl_status(url: &str, ca: &Path, user: Option<&str>) -> String {
    let mut curl = Command::new("curl");
    curl.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(ca)
        .arg(url);
    if let Some(user) = user {
        curl.args(["-u", user]);
    }
    let output = curl.output().expect("curl is installed");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn tls_and_basic_auth_protect_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_config(dir.path());
    let exporter = Exporter::start(
        &[
            "--interval",
            "1h",
            "--web-config-file",
            web.to_str().unwrap(),
        ],
        &[],
    );
    let url = format!("https://{}/mon/metrics", exporter.address);
    let ca = dir.path().join("server.pem");

    assert_eq!(
        curl_status(&url, &ca, Some(&format!("{USER}:{PASSWORD}"))),
        "200"
    );
    assert_eq!(curl_status(&url, &ca, None), "401");
    assert_eq!(
        curl_status(&url, &ca, Some(&format!("{USER}:wrong"))),
        "401"
    );
    assert_eq!(
        curl_status(&url, &ca, Some(&format!("intruder:{PASSWORD}"))),
        "401"
    );

    let body = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&ca)
        .args(["-u", &format!("{USER}:{PASSWORD}"), &url])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&body.stdout).contains("cds_hatchery_vsphere_up"));

    let plain = std::net::TcpStream::connect(exporter.address).and_then(|mut stream| {
        use std::io::{Read, Write};
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"GET /mon/metrics HTTP/1.0\r\n\r\n")?;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        Ok(answer)
    });
    assert!(
        !String::from_utf8_lossy(&plain.unwrap()).contains("cds_hatchery_vsphere"),
        "no plain HTTP"
    );
}

#[test]
fn a_bad_web_configuration_exits_2_and_names_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  alice: not-a-hash\n").unwrap();

    let output = binary()
        .args(["--web-config-file", web.to_str().unwrap()])
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--web-config-file") && stderr.contains("alice"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-a-hash"), "{stderr}");
}

#[test]
fn help_shows_no_secret_from_the_environment() {
    let output = binary()
        .arg("--help")
        .env("CDS_VSPHERE_EXPORTER_PASSWORD", "pw-from-env")
        .env(
            "CDS_VSPHERE_EXPORTER_VCENTER_URL",
            "https://admin:pw-in-url@vc.example/sdk",
        )
        .output()
        .unwrap();

    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(help.contains("--vcenter-url"), "{help}");
    assert!(
        !help.contains("pw-from-env") && !help.contains("pw-in-url"),
        "{help}"
    );
}

#[test]
fn a_password_file_others_can_read_draws_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "file-secret\n").unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o644)).unwrap();
    let args = [
        "--vcenter-url",
        "http://127.0.0.1:9/sdk",
        "--username",
        "u",
        "--interval",
        "1h",
        "--password-file",
        password.to_str().unwrap(),
    ];

    let mut exporter = Exporter::start(&args, &[]);

    let line = exporter.wait_for_log("chmod 600", Duration::from_secs(5));
    assert!(line.contains("644"), "{line}");
    assert!(
        exporter
            .logs()
            .iter()
            .all(|line| !line.contains("file-secret"))
    );
}
