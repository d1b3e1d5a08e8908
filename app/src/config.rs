//! Options: by flag, environment variable or TOML file, merged in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use adapters::vsphere::{DEFAULT_FULL_READ_INTERVAL, Password, Url, VsphereConfig};

use crate::web::{WebConfig, WebConfigError};
use clap::Parser;
use serde::Deserialize;

const DEFAULT_LISTEN: &str = "127.0.0.1:9274";
const DEFAULT_HATCHERY_NAME: &str = "hatchery-vsphere";
const DEFAULT_SERVICE_TYPE: &str = "hatchery";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_SIMULATOR_VMS: usize = 60;
const DEFAULT_SIMULATOR_SEED: u64 = 1;
/// Past this many VMs the simulator would only show that memory runs out.
const MAX_SIMULATOR_VMS: usize = 1_000_000;
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// By default the last good values ride out three failed collections: a short outage, not
/// one long enough for anyone to alert on stale data.
const STALE_AFTER_INTERVALS: u32 = 3;

/// The environment variable that may hold the vCenter password; there is no flag for it, so
/// that it never shows in a process list.
pub const PASSWORD_ENV: &str = "CDS_VSPHERE_EXPORTER_PASSWORD";

/// Prometheus exporter of the CPU and memory used by a CDS vSphere hatchery's VMs.
///
/// Every option can also be set by an environment variable (shown below) or by a key of the
/// same name in snake case in the `--config` file; a flag wins over the environment, which
/// wins over the file. With no `--vcenter-url` the exporter reads its built-in simulator.
#[derive(Debug, Parser)]
#[command(name = "cds-vsphere-exporter", version)]
pub struct Cli {
    /// TOML file of options; unknown keys are rejected.
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Collect once, print the exposition on stdout and exit: 0 when the collection
    /// succeeded, 1 when it did not.
    #[arg(long)]
    pub once: bool,

    #[command(flatten)]
    pub options: Options,
}

/// The options that may come from a flag, the environment or the file.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Address to serve /mon/metrics on [default: 127.0.0.1:9274].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Web configuration file (Prometheus exporter toolkit format): TLS certificate and key,
    /// and bcrypt-hashed users for basic authentication of /mon/metrics.
    #[arg(
        long,
        env = "CDS_VSPHERE_EXPORTER_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub web_config_file: Option<PathBuf>,

    /// Name of the hatchery whose VMs are reported; also the service_name label
    /// [default: hatchery-vsphere].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_HATCHERY_NAME", value_name = "NAME")]
    pub hatchery_name: Option<String>,

    /// The service_type label [default: hatchery].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_SERVICE_TYPE", value_name = "TYPE")]
    pub service_type: Option<String>,

    /// Time between two collections, such as 30s or 2m [default: 30s].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_INTERVAL", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "duration")]
    pub interval: Option<Duration>,

    /// How long the last good values are served while reads fail, before their series are
    /// dropped [default: three intervals].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_STALE_AFTER", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "duration")]
    pub stale_after: Option<Duration>,

    /// The hatchery's limit of vCPUs, published as max_vcpus; 0 for none [default: 0].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_MAX_CPUS", value_name = "VCPUS")]
    pub max_cpus: Option<u64>,

    /// The hatchery's limit of memory in MB, published as max_memory_mb; 0 for none
    /// [default: 0].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_MAX_MEMORY_MB", value_name = "MB")]
    pub max_memory_mb: Option<u64>,

    /// Inventory path of the Resource Pool to report, such as /DC0/host/DC0_C0/Resources
    /// [default: the single */Resources pool of the datacenter].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_RESOURCE_POOL", value_name = "PATH")]
    pub resource_pool: Option<String>,

    /// Number of VMs of the built-in simulator [default: 60].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_SIMULATOR_VMS", value_name = "COUNT")]
    pub simulator_vms: Option<usize>,

    /// Random seed of the built-in simulator [default: 1].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_SIMULATOR_SEED", value_name = "SEED")]
    pub simulator_seed: Option<u64>,

    /// vCenter SDK URL, https://host/sdk (http:// for a local simulator); user:password@
    /// inside it is accepted, as govc does. Without it, the built-in simulator is read.
    #[arg(
        long,
        env = "CDS_VSPHERE_EXPORTER_VCENTER_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub vcenter_url: Option<String>,

    /// vCenter user name [default: the URL's].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_USERNAME", value_name = "USER")]
    pub username: Option<String>,

    /// File holding the vCenter password (a trailing newline is ignored); the password may
    /// also come from CDS_VSPHERE_EXPORTER_PASSWORD or the URL.
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Accept any vCenter certificate. Only for a test vCenter: anyone on the path can then
    /// read the password.
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_INSECURE", num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub insecure: Option<bool>,

    /// PEM file of CA certificates trusted on top of the system's.
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Datacenter whose VMs are read [default: every VM of the vCenter].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_DATACENTER", value_name = "NAME")]
    pub datacenter: Option<String>,

    /// Time between two full reads of the inventory, the safety net of vCenter's change
    /// feed [default: 10m].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_FULL_READ_INTERVAL", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "duration")]
    pub full_read_interval: Option<Duration>,

    /// Longest time one vCenter call may take [default: 30s].
    #[arg(long, env = "CDS_VSPHERE_EXPORTER_REQUEST_TIMEOUT", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    #[serde(default, deserialize_with = "duration")]
    pub request_timeout: Option<Duration>,
}

/// Fills every option unset here from `fallback`.
macro_rules! merge {
    ($options:ident, $fallback:ident, $($field:ident),+ $(,)?) => {
        Options { $($field: $options.$field.or($fallback.$field)),+ }
    };
}

impl Options {
    fn or(self, fallback: Options) -> Options {
        merge!(
            self,
            fallback,
            listen,
            web_config_file,
            hatchery_name,
            service_type,
            interval,
            stale_after,
            max_cpus,
            max_memory_mb,
            resource_pool,
            simulator_vms,
            simulator_seed,
            vcenter_url,
            username,
            password_file,
            insecure,
            ca_file,
            datacenter,
            full_read_interval,
            request_timeout,
        )
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("invalid duration {text:?}: {e}")))
}

/// Where the inventory comes from.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Simulator {
        vms: usize,
        seed: u64,
        resource_pool: Option<String>,
    },
    Vcenter(Box<VsphereConfig>),
}

/// The validated configuration the exporter runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// How `/mon/metrics` is protected; nothing by default.
    pub web: WebConfig,
    pub hatchery_name: String,
    pub service_type: String,
    pub interval: Duration,
    /// How long the last good values are served while reads fail.
    pub stale_after: Duration,
    pub limits: domain::Limits,
    pub source: SourceConfig,
    pub once: bool,
}

/// An option is wrong; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("invalid value for {option}: {reason}")]
    Invalid {
        option: &'static str,
        reason: String,
    },
    #[error("invalid value for --web-config-file")]
    Web(#[from] WebConfigError),
    #[error("cannot read {option} {path}")]
    ReadOption {
        option: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Config {
    /// Validates the command line, reading the file it names, if any; the vCenter
    /// password comes from `password_env` when no file or URL gives one.
    pub fn from_cli(cli: Cli, password_env: Option<String>) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => Options::default(),
        };
        let options = cli.options.or(file);

        Config::resolve(options, cli.once, password_env)
    }

    fn resolve(
        options: Options,
        once: bool,
        password_env: Option<String>,
    ) -> Result<Config, ConfigError> {
        let source = source(&options, password_env, once)?;
        let interval = positive("--interval", options.interval.unwrap_or(DEFAULT_INTERVAL))?;
        let default_listen = DEFAULT_LISTEN
            .parse()
            .expect("the default address is valid");
        let config = Config {
            listen: options.listen.unwrap_or(default_listen),
            web: web_config(options.web_config_file.as_deref())?,
            hatchery_name: non_blank(
                "--hatchery-name",
                options.hatchery_name,
                DEFAULT_HATCHERY_NAME,
            )?,
            service_type: non_blank("--service-type", options.service_type, DEFAULT_SERVICE_TYPE)?,
            interval,
            stale_after: options
                .stale_after
                .unwrap_or(interval * STALE_AFTER_INTERVALS),
            limits: domain::Limits {
                max_vcpus: options.max_cpus.unwrap_or(0),
                max_memory_mb: options.max_memory_mb.unwrap_or(0),
            },
            source,
            once,
        };

        Ok(config)
    }
}

/// The vCenter when a URL is given, the simulator otherwise. vCenter options without a
/// URL are refused: silently serving the simulator's figures instead would be a lie.
fn source(
    options: &Options,
    password_env: Option<String>,
    once: bool,
) -> Result<SourceConfig, ConfigError> {
    let Some(url) = &options.vcenter_url else {
        refuse_vcenter_options_without_url(options)?;
        return Ok(SourceConfig::Simulator {
            vms: simulator_vms(options.simulator_vms)?,
            seed: options.simulator_seed.unwrap_or(DEFAULT_SIMULATOR_SEED),
            resource_pool: options.resource_pool.clone(),
        });
    };

    let mut vcenter = VsphereConfig::new(vcenter_url(url)?);
    vcenter.username = options.username.clone().or(vcenter.username);
    vcenter.password = password(options, password_env)?.or(vcenter.password);
    if vcenter.username.is_none() {
        return Err(invalid(
            "--username",
            "required with --vcenter-url, in the flag or the URL",
        ));
    }
    if vcenter.password.is_none() {
        return Err(invalid(
            "--password-file",
            "a password is required: --password-file, CDS_VSPHERE_EXPORTER_PASSWORD or the URL",
        ));
    }
    vcenter.insecure = options.insecure.unwrap_or(false);
    vcenter.ca_file = options.ca_file.clone();
    vcenter.datacenter = options.datacenter.clone();
    vcenter.resource_pool = options.resource_pool.clone();
    vcenter.request_timeout = positive(
        "--request-timeout",
        options.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
    )?;
    vcenter.full_read_interval = positive(
        "--full-read-interval",
        options
            .full_read_interval
            .unwrap_or(DEFAULT_FULL_READ_INTERVAL),
    )?;
    // One read needs no change feed: setting up a collector only to destroy it is waste.
    vcenter.follow_changes = !once;

    Ok(SourceConfig::Vcenter(Box::new(vcenter)))
}

fn refuse_vcenter_options_without_url(options: &Options) -> Result<(), ConfigError> {
    let given = [
        ("--username", options.username.is_some()),
        ("--password-file", options.password_file.is_some()),
        ("--insecure", options.insecure.is_some()),
        ("--ca-file", options.ca_file.is_some()),
        ("--datacenter", options.datacenter.is_some()),
        ("--request-timeout", options.request_timeout.is_some()),
        ("--full-read-interval", options.full_read_interval.is_some()),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((option, _)) => Err(invalid(option, "needs --vcenter-url")),
        None => Ok(()),
    }
}

/// Parses the URL without ever echoing it: it may hold a password.
fn vcenter_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|e| invalid("--vcenter-url", format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(invalid(
            "--vcenter-url",
            "must be https://host/sdk or http://host/sdk",
        ));
    }
    Ok(url)
}

fn password(options: &Options, env: Option<String>) -> Result<Option<Password>, ConfigError> {
    let Some(path) = &options.password_file else {
        return Ok(env.filter(|p| !p.is_empty()).map(Password::new));
    };

    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadOption {
        option: "--password-file",
        path: path.clone(),
        source,
    })?;
    warn_if_readable_by_others(path);

    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(invalid("--password-file", "the file is empty"));
    }
    Ok(Some(Password::new(password)))
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;

    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", mode & 0o777),
            "the password file can be read by other users than its owner; chmod 600 it"
        );
    }
}

fn web_config(path: Option<&Path>) -> Result<WebConfig, ConfigError> {
    let Some(path) = path else {
        return Ok(WebConfig::default());
    };
    let web = WebConfig::read(path)?;

    if let Some((cert, key)) = &web.tls {
        for file in [cert, key] {
            std::fs::metadata(file).map_err(|source| ConfigError::ReadOption {
                option: "--web-config-file",
                path: file.clone(),
                source,
            })?;
        }
    }
    Ok(web)
}

fn invalid(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option,
        reason: reason.into(),
    }
}

fn read_file(path: &Path) -> Result<Options, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;

    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

fn non_blank(
    option: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    if value.trim().is_empty() {
        return Err(ConfigError::Invalid {
            option,
            reason: "must not be empty".into(),
        });
    }
    Ok(value)
}

fn positive(option: &'static str, value: Duration) -> Result<Duration, ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::Invalid {
            option,
            reason: "must be longer than zero".into(),
        });
    }
    Ok(value)
}

fn simulator_vms(value: Option<usize>) -> Result<usize, ConfigError> {
    let vms = value.unwrap_or(DEFAULT_SIMULATOR_VMS);
    if vms > MAX_SIMULATOR_VMS {
        return Err(ConfigError::Invalid {
            option: "--simulator-vms",
            reason: format!("at most {MAX_SIMULATOR_VMS}"),
        });
    }
    Ok(vms)
}

#[cfg(test)]
mod tests;
