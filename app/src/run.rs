//! Wiring and lifecycle: build the source and sink, then collect once or serve until a
//! signal.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use adapters::prometheus::{Encoding, Format, PrometheusSink, ServiceLabels};
use adapters::simulator::{Simulator, SimulatorConfig};
use adapters::vsphere::{VsphereConfig, VsphereSource};
use anyhow::Context;
use ports::{InventorySource, ResourcePoolSource};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::collection::Collector;
use crate::config::{Config, SourceConfig};
use crate::{schedule, server};

/// How long the goodbyes to vCenter (destroying the view, logging out) may take at exit.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(3);

pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;

    runtime.block_on(async {
        if config.once {
            collect_once(&config).await
        } else {
            serve(&config).await.map(|()| ExitCode::SUCCESS)
        }
    })
}

/// The inventory and Resource Pool sources, which one adapter provides together.
struct Sources {
    inventory: Arc<dyn InventorySource>,
    resource_pool: Arc<dyn ResourcePoolSource>,
    /// `simulator` or `vcenter`, for the start line.
    kind: &'static str,
    /// Where the vCenter is, without credentials; `none` for the simulator.
    url: String,
    /// The vCenter session to close at exit, if any.
    vcenter: Option<Arc<VsphereSource>>,
}

impl Sources {
    async fn close(&self) {
        let Some(vcenter) = &self.vcenter else {
            return;
        };
        if tokio::time::timeout(LOGOUT_TIMEOUT, vcenter.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(timeout = ?LOGOUT_TIMEOUT, "vCenter did not answer the logout in time");
        }
    }
}

fn sources(config: &Config) -> anyhow::Result<Sources> {
    let sources = match &config.source {
        SourceConfig::Simulator {
            vms,
            seed,
            resource_pool,
        } => {
            let simulator = Arc::new(Simulator::new(&SimulatorConfig {
                vms: *vms,
                seed: *seed,
                hatchery_name: config.hatchery_name.clone(),
                resource_pool: resource_pool.clone(),
            }));
            Sources {
                inventory: simulator.clone(),
                resource_pool: simulator,
                kind: "simulator",
                url: "none".into(),
                vcenter: None,
            }
        }
        SourceConfig::Vcenter(vcenter) => {
            let source = Arc::new(VsphereSource::new(VsphereConfig::clone(vcenter))?);
            Sources {
                inventory: source.clone(),
                resource_pool: source.clone(),
                kind: "vcenter",
                url: vcenter.redacted_url().to_string(),
                vcenter: Some(source),
            }
        }
    };
    Ok(sources)
}

fn sink(config: &Config) -> PrometheusSink {
    PrometheusSink::new(ServiceLabels {
        name: config.hatchery_name.clone(),
        kind: config.service_type.clone(),
    })
}

fn collector(config: &Config, sources: &Sources, sink: &PrometheusSink) -> Collector {
    Collector::new(
        Arc::clone(&sources.inventory),
        Arc::clone(&sources.resource_pool),
        Arc::new(sink.clone()),
        config.hatchery_name.clone(),
        config.limits,
        config.stale_after,
    )
}

async fn collect_once(config: &Config) -> anyhow::Result<ExitCode> {
    let sources = sources(config)?;
    let sink = sink(config);

    let outcome = collector(config, &sources, &sink).collect().await;
    sources.close().await;
    let exposition = sink.render(Format::Text, Encoding::Identity)?;
    std::io::Write::write_all(&mut std::io::stdout(), &exposition)?;

    let complete = outcome.inventory_read && outcome.resource_pool_read;
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let sources = sources(config)?;
    let sink = sink(config);
    tracing::info!(
        source = sources.kind,
        vcenter = %sources.url,
        address = %address,
        path = server::METRICS_PATH,
        hatchery = %config.hatchery_name,
        interval = %humantime::format_duration(config.interval),
        "serving metrics"
    );

    let shutdown = CancellationToken::new();
    let collecting = tokio::spawn(schedule::collect_forever(
        collector(config, &sources, &sink),
        Arc::clone(&sources.inventory),
        config.interval,
        shutdown.clone(),
    ));
    tokio::spawn(cancel_on_signal(shutdown.clone()));

    server::serve(listener, sink, &config.web, shutdown.clone()).await?;
    shutdown.cancel();
    collecting.await.context("the collection task panicked")?;
    sources.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for SIGTERM");
                return;
            }
        };

    tokio::select! {
        _ = interrupt => tracing::info!(signal = "SIGINT", "shutting down"),
        _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
    }
    shutdown.cancel();
}
