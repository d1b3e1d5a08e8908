//! The exporter against the real govmomi simulator: every series and label set of
//! `/mon/metrics` compared with what the launcher computed through the vSphere API, over
//! HTTP and HTTPS, at a few hundred VMs and at 2,000, and through the failures an operator
//! meets: a wrong password, an expired session, vCenter going away and coming back.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod support;

use std::time::Duration;

use support::expectations::{PREFIX, inventory_series};
use support::vcsim::{Vcsim, VcsimOptions};
use support::{Exporter, Exposition};

const PASSWORD: &str = "s3cret-Pa55";

fn up(exposition: &Exposition) -> Option<f64> {
    exposition.single(&format!("{PREFIX}up"))
}

/// The exporter reading `vcsim`, with `extra` options; the password comes from the
/// environment. Without `--resource-pool` in `extra`, the exporter finds govc's default
/// pool, which the launcher's single cluster makes unambiguous.
fn exporter_for(vcsim: &Vcsim, hatchery: &str, extra: &[&str]) -> Exporter {
    let ready = &vcsim.ready;
    let mut args = vec![
        "--vcenter-url",
        &ready.url,
        "--username",
        &ready.username,
        "--hatchery-name",
        hatchery,
    ];
    args.extend_from_slice(extra);
    Exporter::start(&args, &[("CDS_VSPHERE_EXPORTER_PASSWORD", PASSWORD)])
}

fn assert_matches_the_simulator(vms: usize, extra: &[&str], tls: bool) {
    let hatchery = "hatchery-vsphere";
    let vcsim = Vcsim::start(&VcsimOptions {
        vms,
        password: PASSWORD,
        tls,
        ..Default::default()
    });
    let mut exporter = exporter_for(&vcsim, hatchery, extra);

    let exposition = exporter.scrape_until(Duration::from_secs(60), |e| up(e) == Some(1.0));

    let expected = vcsim.ready.expected();
    assert_eq!(inventory_series(&exposition), expected);
    let vm_count = expected
        .iter()
        .find(|(s, _)| s.name.ends_with("pool_total_vm_count"))
        .unwrap()
        .1;
    assert_eq!(*vm_count, vms as f64);
}

#[test]
fn every_series_matches_the_simulator_at_a_few_hundred_vms() {
    let pool = "/DC0/host/DC0_C0/Resources";
    assert_matches_the_simulator(300, &["--interval", "1h", "--resource-pool", pool], false);
}

#[test]
fn every_series_matches_the_simulator_at_two_thousand_vms() {
    assert_matches_the_simulator(2_000, &["--interval", "1h", "--datacenter", "DC0"], false);
}

#[test]
fn https_with_the_simulators_certificate_as_ca_file() {
    let vcsim = Vcsim::start(&VcsimOptions {
        password: PASSWORD,
        tls: true,
        ..Default::default()
    });
    let ca_file = vcsim.ready.ca_file.clone();
    assert!(vcsim.ready.url.starts_with("https://"));
    let mut exporter = exporter_for(
        &vcsim,
        "hatchery-vsphere",
        &["--interval", "1h", "--ca-file", &ca_file],
    );

    let exposition = exporter.scrape_until(Duration::from_secs(60), |e| up(e) == Some(1.0));

    assert_eq!(inventory_series(&exposition), vcsim.ready.expected());
}

#[test]
fn https_insecure_connects_and_says_so() {
    let vcsim = Vcsim::start(&VcsimOptions {
        password: PASSWORD,
        tls: true,
        ..Default::default()
    });
    let mut exporter = exporter_for(
        &vcsim,
        "hatchery-vsphere",
        &["--interval", "1h", "--insecure"],
    );

    let exposition = exporter.scrape_until(Duration::from_secs(60), |e| up(e) == Some(1.0));

    assert_eq!(inventory_series(&exposition), vcsim.ready.expected());
    exporter.wait_for_log("verification", Duration::from_secs(1));
}

#[test]
fn https_with_an_unknown_certificate_is_refused() {
    let vcsim = Vcsim::start(&VcsimOptions {
        password: PASSWORD,
        tls: true,
        ..Default::default()
    });
    let mut exporter = exporter_for(&vcsim, "hatchery-vsphere", &["--interval", "1h"]);

    let exposition = exporter.scrape_until(Duration::from_secs(30), |e| up(e) == Some(0.0));

    assert!(exposition.family(&format!("{PREFIX}vm_count")).is_empty());
    let line = exporter.wait_for_log("collection failed", Duration::from_secs(5));
    assert!(line.contains("tls"), "{line}");
}

#[test]
fn a_wrong_password_is_a_clear_error_and_the_exporter_keeps_serving() {
    let vcsim = Vcsim::start(&VcsimOptions {
        password: "the-right-one",
        ..Default::default()
    });
    let mut exporter = exporter_for(&vcsim, "hatchery-vsphere", &["--interval", "300ms"]);

    let exposition = exporter.scrape_until(Duration::from_secs(30), |e| up(e) == Some(0.0));

    assert!(
        exposition
            .family(&format!("{PREFIX}pool_total_vcpus"))
            .is_empty(),
        "no zero published"
    );
    let line = exporter.wait_for_log("collection failed", Duration::from_secs(5));
    assert!(line.contains("InvalidLogin"), "{line}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        up(&exporter.scrape()),
        Some(0.0),
        "still serving, still down"
    );
    assert!(exporter.logs().iter().all(|line| !line.contains(PASSWORD)));
}

#[test]
fn an_expired_session_is_renewed_without_a_gap() {
    let vcsim = Vcsim::start(&VcsimOptions {
        password: PASSWORD,
        idle_timeout: Some(Duration::from_millis(500)),
        ..Default::default()
    });
    // Collections 1.5 s apart: the session (idle for 0.5 to 1 s at most) expires between
    // any two of them.
    let mut exporter = exporter_for(&vcsim, "hatchery-vsphere", &["--interval", "1500ms"]);
    exporter.scrape_until(Duration::from_secs(30), |e| up(e) == Some(1.0));
    let first = exporter
        .scrape()
        .single(&format!("{PREFIX}last_collect_success_timestamp_seconds"))
        .unwrap();

    let later = exporter.scrape_until(Duration::from_secs(30), |e| {
        e.single(&format!("{PREFIX}last_collect_success_timestamp_seconds"))
            .unwrap()
            > first + 2.5
    });

    assert_eq!(up(&later), Some(1.0));
    assert_eq!(inventory_series(&later), vcsim.ready.expected());
    exporter.wait_for_log("session lost", Duration::from_secs(1));
    let logins = exporter
        .logs()
        .iter()
        .filter(|l| l.contains("logged in to vSphere"))
        .count();
    assert!(
        logins >= 2,
        "one login at start, one after each expiry: {logins}"
    );
    assert!(
        exporter
            .logs()
            .iter()
            .all(|line| !line.contains("collection failed")),
        "{:#?}",
        exporter.logs()
    );
}

#[test]
fn the_simulator_stopped_and_restarted_mid_run() {
    let options = VcsimOptions {
        password: PASSWORD,
        ..Default::default()
    };
    let vcsim = Vcsim::start(&options);
    let address = vcsim.ready.address().to_owned();
    let mut exporter = exporter_for(&vcsim, "hatchery-vsphere", &["--interval", "300ms"]);
    exporter.scrape_until(Duration::from_secs(30), |e| up(e) == Some(1.0));

    vcsim.kill();
    let down = exporter.scrape_until(Duration::from_secs(30), |e| up(e) == Some(0.0));
    assert!(
        !inventory_series(&down).is_empty(),
        "the last good values are kept a while"
    );

    let restarted = Vcsim::start(&VcsimOptions {
        listen: address,
        ..options
    });
    let back = exporter.scrape_until(Duration::from_secs(60), |e| up(e) == Some(1.0));
    assert_eq!(inventory_series(&back), restarted.ready.expected());
}

#[test]
fn credentials_in_the_url_work_and_are_never_shown() {
    let vcsim = Vcsim::start(&VcsimOptions {
        password: PASSWORD,
        ..Default::default()
    });
    let url = vcsim
        .ready
        .url
        .replacen("://", &format!("://user:{PASSWORD}@"), 1);
    let mut exporter = Exporter::start(&["--vcenter-url", &url, "--interval", "1h"], &[]);

    let exposition = exporter.scrape_until(Duration::from_secs(60), |e| up(e) == Some(1.0));

    assert_eq!(inventory_series(&exposition), vcsim.ready.expected());
    let logs = exporter.logs().join("\n");
    assert!(
        logs.contains(&vcsim.ready.url),
        "the URL is logged, without credentials: {logs}"
    );
    assert!(!logs.contains(PASSWORD), "{logs}");
    assert!(!support::http_get(&exporter.url("/mon/metrics")).contains(PASSWORD));
}

/// Waits until every inventory series equals what the simulator holds now, and returns how
/// long that took from `since`.
fn wait_for_simulator(
    exporter: &mut Exporter,
    vcsim: &mut Vcsim,
    since: std::time::Instant,
    what: &str,
) -> Duration {
    let expected = vcsim.expected_now();
    let deadline = since + Duration::from_secs(2);
    loop {
        if inventory_series(&exporter.scrape()) == expected {
            return since.elapsed();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: /mon/metrics did not follow within 2 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn changes_reach_the_metrics_within_two_seconds_through_the_feed() {
    let mut vcsim = Vcsim::start(&VcsimOptions {
        vms: 100,
        password: PASSWORD,
        ..Default::default()
    });
    // An interval of an hour: only the change feed can bring the changes in time.
    let mut exporter = exporter_for(&vcsim, "hatchery-vsphere", &["--interval", "1h"]);
    let first = exporter.scrape_until(Duration::from_secs(60), |e| up(e) == Some(1.0));
    assert_eq!(
        first.single(&format!("{PREFIX}inventory_change_feed")),
        Some(1.0)
    );

    let annotation = |flavor: &str| {
        format!(
            r#"{{"hatchery_name":"hatchery-vsphere","worker_model_path":"shared.infra/debian12","flavor":"{flavor}","model":false,"job_id":"7"}}"#
        )
    };
    let steps = [
        (
            "a worker created",
            format!("create job-worker-1 4 8192 {}", annotation("b2-7")),
        ),
        (
            "its annotation changed",
            format!("annotate job-worker-1 {}", annotation("c2-15")),
        ),
        (
            "renamed to provision-",
            "rename job-worker-1 provision-job-worker-1".to_owned(),
        ),
        (
            "renamed from provision-",
            "rename provision-job-worker-1 job-worker-2".to_owned(),
        ),
        ("resized", "resize job-worker-2 8 16384".to_owned()),
        ("destroyed", "destroy job-worker-2".to_owned()),
    ];
    for (what, command) in steps {
        let since = std::time::Instant::now();
        vcsim.command(&command);

        wait_for_simulator(&mut exporter, &mut vcsim, since, what);
    }

    let last = exporter.scrape();
    assert!(
        last.family(&format!("{PREFIX}worker_vcpus"))
            .iter()
            .all(|(series, _)| !series.labels["worker_name"].contains("job-worker")),
        "the destroyed worker's series are gone"
    );
    assert_eq!(
        last.single(&format!("{PREFIX}vcenter_logins_total")),
        Some(1.0)
    );
}

/// A simulator that hangs (SIGSTOP) while the exporter follows its change feed shows at
/// the next collections, not when the pending wait times out a minute later; once it
/// answers again, the feed is followed again, in the same session.
#[test]
fn a_hung_simulator_is_reported_long_before_the_wait_times_out() {
    let mut vcsim = Vcsim::start(&VcsimOptions {
        password: PASSWORD,
        ..Default::default()
    });
    let options = [
        "--interval",
        "1s",
        "--request-timeout",
        "2s",
        "--stale-after",
        "5m",
    ];
    let mut exporter = exporter_for(&vcsim, "hatchery-vsphere", &options);
    let feed = |e: &Exposition| e.single(&format!("{PREFIX}inventory_change_feed"));
    let following = |e: &Exposition| up(e) == Some(1.0) && feed(e) == Some(1.0);
    let before = exporter.scrape_until(Duration::from_secs(60), following);

    // Quiet past the silence limit (5 s): the simulator is asked the time, and answers.
    std::thread::sleep(Duration::from_secs(7));
    assert!(following(&exporter.scrape()), "still following");
    let failed = |logs: Vec<String>| logs.iter().any(|l| l.contains("collection failed"));
    assert!(!failed(exporter.logs()), "{:#?}", exporter.logs());

    vcsim.freeze();

    // The pending wait would end 62 s from its start (60 s wait, 2 s timeout).
    let down = exporter.scrape_until(Duration::from_secs(30), |e| up(e) == Some(0.0));
    assert_eq!(feed(&down), Some(0.0), "no longer claims to follow");
    assert_eq!(inventory_series(&down), inventory_series(&before));
    assert!(
        exporter.logs().iter().any(|l| l.contains("error=timeout")),
        "{:#?}",
        exporter.logs()
    );

    vcsim.thaw();

    let back = exporter.scrape_until(Duration::from_secs(60), following);
    assert_eq!(inventory_series(&back), inventory_series(&before));
    assert_eq!(
        back.single(&format!("{PREFIX}vcenter_logins_total")),
        Some(1.0)
    );
}

#[test]
fn one_session_over_renewals_and_none_after_sigterm() {
    let mut vcsim = Vcsim::start(&VcsimOptions {
        password: PASSWORD,
        idle_timeout: Some(Duration::from_millis(500)),
        ..Default::default()
    });
    let mut exporter = exporter_for(&vcsim, "hatchery-vsphere", &["--interval", "700ms"]);
    exporter.scrape_until(Duration::from_secs(30), |e| up(e) == Some(1.0));

    let renewed = exporter.scrape_until(Duration::from_secs(30), |e| {
        e.single(&format!("{PREFIX}vcenter_logins_total"))
            .unwrap_or(0.0)
            >= 4.0
    });

    assert_eq!(up(&renewed), Some(1.0));
    assert_eq!(vcsim.sessions(), 1, "one session, whatever was renewed");
    let status = exporter.stop("TERM", Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert_eq!(vcsim.sessions(), 0, "logged out at exit");
}
