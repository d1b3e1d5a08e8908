//! Tests of the options: defaults, precedence, and errors that name the option.

use std::io::Write;

use super::*;

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    let cli =
        Cli::try_parse_from(std::iter::once("cds-vsphere-exporter").chain(args.iter().copied()))
            .expect("valid flags");
    Config::from_cli(cli)
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
    assert_eq!(config.limits, domain::Limits::default());
    assert_eq!(config.source, SourceConfig::Simulator { vms: 60, seed: 1 });
    assert!(!config.once);
}

#[test]
fn flags_set_every_option() {
    let config = parse(&[
        "--listen",
        "0.0.0.0:1234",
        "--hatchery-name",
        "h1",
        "--service-type",
        "hatch",
        "--interval",
        "2m",
        "--max-cpus",
        "64",
        "--max-memory-mb",
        "131072",
        "--resource-pool",
        "/DC0/host/DC0_C0/Resources",
        "--simulator-vms",
        "5",
        "--simulator-seed",
        "9",
        "--once",
    ])
    .unwrap();

    assert_eq!(config.listen.to_string(), "0.0.0.0:1234");
    assert_eq!(config.hatchery_name, "h1");
    assert_eq!(config.service_type, "hatch");
    assert_eq!(config.interval, Duration::from_secs(120));
    assert_eq!(config.limits.max_vcpus, 64);
    assert_eq!(config.limits.max_memory_mb, 131_072);
    assert_eq!(
        config.resource_pool.as_deref(),
        Some("/DC0/host/DC0_C0/Resources")
    );
    assert_eq!(config.source, SourceConfig::Simulator { vms: 5, seed: 9 });
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
