//! Tests of the options: defaults, precedence, and errors that name the option.

use std::io::Write;

use std::path::Path;

use super::*;

/// A command line written as one string, for options whose values have no spaces.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    parse_with_password(args, None)
}

fn parse_with_password(args: &[&str], password: Option<&str>) -> Result<Config, ConfigError> {
    let cli =
        Cli::try_parse_from(std::iter::once("cds-vsphere-exporter").chain(args.iter().copied()))
            .expect("valid flags");
    Config::from_cli(cli, password.map(str::to_owned))
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn defaults_run_the_simulator_on_the_documented_address() {
    let config = parse(&[]).unwrap();

    assert_eq!(config.listen.to_string(), "127.0.0.1:9274");
    assert_eq!(config.hatchery_name, "hatchery-vsphere");
    assert_eq!(config.service_type, "hatchery");
    assert_eq!(config.interval, Duration::from_secs(30));
    assert_eq!(config.stale_after, Duration::from_secs(90));
    assert_eq!(config.limits, domain::Limits::default());
    assert!(matches!(
        config.source,
        SourceConfig::Simulator {
            vms: 60,
            seed: 1,
            resource_pool: None
        }
    ));
    assert!(!config.once);
}

#[test]
fn flags_set_every_option() {
    let config = parse(&words(
        "--listen 0.0.0.0:1234 --hatchery-name h1 --service-type hatch --interval 2m \
         --stale-after 10m --max-cpus 64 --max-memory-mb 131072 --resource-pool /DC0/host/DC0_C0/Resources \
         --simulator-vms 5 --simulator-seed 9 --once",
    ))
    .unwrap();

    assert_eq!(config.listen.to_string(), "0.0.0.0:1234");
    assert_eq!(config.hatchery_name, "h1");
    assert_eq!(config.service_type, "hatch");
    assert_eq!(config.interval, Duration::from_secs(120));
    assert_eq!(config.stale_after, Duration::from_secs(600));
    assert_eq!(config.limits.max_vcpus, 64);
    assert_eq!(config.limits.max_memory_mb, 131_072);
    let SourceConfig::Simulator {
        vms,
        seed,
        resource_pool,
    } = config.source
    else {
        panic!("the simulator without a vCenter URL");
    };
    assert_eq!((vms, seed), (5, 9));
    assert_eq!(resource_pool.as_deref(), Some("/DC0/host/DC0_C0/Resources"));
    assert!(config.once);
}

#[test]
fn the_file_sets_options_and_flags_win_over_it() {
    let file = file(
        r#"
        hatchery_name = "from-file"
        service_type = "file-type"
        interval = "45s"
        max_cpus = 8
        "#,
    );
    let path = file.path().to_str().unwrap();

    let config = parse(&["--config", path, "--hatchery-name", "from-flag"]).unwrap();

    assert_eq!(config.hatchery_name, "from-flag");
    assert_eq!(config.service_type, "file-type");
    assert_eq!(config.interval, Duration::from_secs(45));
    assert_eq!(
        config.stale_after,
        Duration::from_secs(135),
        "three intervals"
    );
    assert_eq!(config.limits.max_vcpus, 8);
}

#[test]
fn an_unknown_key_in_the_file_is_named() {
    let file = file("hatchery_nmae = \"typo\"\n");

    let error = parse(&["--config", file.path().to_str().unwrap()]).unwrap_err();

    assert!(matches!(error, ConfigError::Parse { .. }));
    assert!(format!("{:#}", anyhow::Error::from(error)).contains("unknown field `hatchery_nmae`"));
}

#[test]
fn a_bad_duration_in_the_file_is_named() {
    let file = file("interval = \"soon\"\n");

    let error = parse(&["--config", file.path().to_str().unwrap()]).unwrap_err();

    let message = format!("{:#}", anyhow::Error::from(error));
    assert!(message.contains("interval"), "{message}");
    assert!(message.contains("invalid duration \"soon\""), "{message}");
}

#[test]
fn a_missing_file_is_an_error() {
    let error = parse(&["--config", "/nonexistent/exporter.toml"]).unwrap_err();

    assert!(matches!(error, ConfigError::Read { .. }));
}

#[test]
fn invalid_values_name_their_option() {
    let cases: [(&[&str], &str); 4] = [
        (&["--interval", "0s"], "--interval"),
        (&["--hatchery-name", " "], "--hatchery-name"),
        (&["--service-type", ""], "--service-type"),
        (&["--simulator-vms", "2000000"], "--simulator-vms"),
    ];

    for (args, option) in cases {
        let error = parse(args).unwrap_err();
        assert!(error.to_string().contains(option), "{args:?}: {error}");
    }
}

#[test]
fn malformed_flags_are_refused_by_the_parser() {
    for args in [
        ["--interval", "30 parsecs"],
        ["--listen", "localhost"],
        ["--max-cpus", "-1"],
        ["--unknown", "1"],
    ] {
        let cli = Cli::try_parse_from(std::iter::once("cds-vsphere-exporter").chain(args));
        assert_eq!(cli.unwrap_err().exit_code(), 2, "{args:?}");
    }
}

fn vcenter(config: Config) -> VsphereConfig {
    match config.source {
        SourceConfig::Vcenter(vcenter) => *vcenter,
        other => panic!("not a vCenter: {other:?}"),
    }
}

#[test]
fn a_vcenter_url_selects_the_vcenter_with_its_options() {
    let password = file("s3cret\n");
    let line = format!(
        "--vcenter-url https://vc.example/sdk --username svc-cds --password-file {} \
         --ca-file /etc/ca.pem --datacenter DC1 --resource-pool /DC1/host/C1/Resources \
         --request-timeout 10s --full-read-interval 5m",
        password.path().display()
    );

    let config = parse(&words(&line)).unwrap();

    let vcenter = vcenter(config);
    assert_eq!(vcenter.url.as_str(), "https://vc.example/sdk");
    assert_eq!(vcenter.username.as_deref(), Some("svc-cds"));
    assert_eq!(
        vcenter.password.as_ref().map(|p| p.expose()),
        Some("s3cret")
    );
    assert!(!vcenter.insecure);
    assert_eq!(vcenter.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
    assert_eq!(vcenter.datacenter.as_deref(), Some("DC1"));
    assert_eq!(
        vcenter.resource_pool.as_deref(),
        Some("/DC1/host/C1/Resources")
    );
    assert_eq!(vcenter.request_timeout, Duration::from_secs(10));
    assert_eq!(vcenter.full_read_interval, Duration::from_secs(300));
    assert!(vcenter.follow_changes);
}

#[test]
fn credentials_in_the_url_are_taken_out_of_it_and_never_printed() {
    let config = parse(&[
        "--vcenter-url",
        "https://admin:p%40ss@vc.example/sdk",
        "--insecure",
    ])
    .unwrap();

    let printed = format!("{config:?}");
    let vcenter = vcenter(config);
    assert_eq!(vcenter.username.as_deref(), Some("admin"));
    assert_eq!(vcenter.password.as_ref().map(|p| p.expose()), Some("p@ss"));
    assert!(vcenter.insecure);
    assert!(
        !printed.contains("p@ss") && !printed.contains("p%40ss"),
        "{printed}"
    );
}

#[test]
fn the_password_may_come_from_the_environment() {
    let config = parse_with_password(
        &["--vcenter-url", "https://vc.example/sdk", "--username", "u"],
        Some("from-env"),
    )
    .unwrap();

    assert_eq!(vcenter(config).password.unwrap().expose(), "from-env");
}

#[test]
fn a_vcenter_without_credentials_is_refused_naming_what_is_missing() {
    let no_user = parse_with_password(&["--vcenter-url", "https://vc.example/sdk"], Some("p"));
    let no_password = parse(&["--vcenter-url", "https://vc.example/sdk", "--username", "u"]);

    assert!(no_user.unwrap_err().to_string().contains("--username"));
    assert!(
        no_password
            .unwrap_err()
            .to_string()
            .contains("--password-file")
    );
}

#[test]
fn a_bad_password_file_is_named() {
    let empty = file("\n");
    let missing = parse(&[
        "--vcenter-url",
        "https://u@vc/sdk",
        "--password-file",
        "/nonexistent",
    ]);
    let blank = parse(&[
        "--vcenter-url",
        "https://u@vc/sdk",
        "--password-file",
        empty.path().to_str().unwrap(),
    ]);

    assert!(missing.unwrap_err().to_string().contains("--password-file"));
    assert!(blank.unwrap_err().to_string().contains("--password-file"));
}

#[test]
fn a_bad_url_is_named_without_echoing_it() {
    for url in [
        "not a url with s3cret",
        "ftp://u:s3cret@vc/sdk",
        "https://u:s3cret@/sdk",
    ] {
        let error = parse(&["--vcenter-url", url]).unwrap_err();

        let message = format!("{:#}", anyhow::Error::from(error));
        assert!(message.contains("--vcenter-url"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}

#[test]
fn vcenter_options_without_a_url_are_refused() {
    for args in [
        &["--username", "u"][..],
        &["--insecure"],
        &["--datacenter", "DC0"],
        &["--ca-file", "/etc/ca.pem"],
    ] {
        let error = parse(args).unwrap_err();

        assert!(error.to_string().contains(args[0]), "{args:?}: {error}");
        assert!(
            error.to_string().contains("--vcenter-url"),
            "{args:?}: {error}"
        );
    }
}

#[test]
fn the_sample_configuration_file_is_valid() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/config.toml");

    let options = read_file(&sample).unwrap();

    assert_eq!(
        options.hatchery_name.as_deref(),
        Some("my-hatchery-vsphere")
    );
    assert_eq!(options.interval, Some(Duration::from_secs(30)));
    assert!(options.vcenter_url.is_some() && options.password_file.is_some());
}

#[test]
fn once_reads_without_the_change_feed() {
    let config = parse_with_password(
        &["--vcenter-url", "https://u@vc.example/sdk", "--once"],
        Some("p"),
    )
    .unwrap();

    let vcenter = vcenter(config);
    assert!(!vcenter.follow_changes);
    assert_eq!(vcenter.full_read_interval, Duration::from_secs(600));
}
