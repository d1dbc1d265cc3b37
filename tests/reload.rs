//! Policy hot reload: a valid file is swapped in whole, an invalid one leaves the old policy
//! serving, file changes and SIGHUP both trigger it, and requests in flight keep the grant they
//! were decided with.

mod common;

use std::sync::Arc;
use std::time::Duration;

use casegate::policy::Reloaded;
use common::*;

const DENY_TEST_CALLER: &str = r#"
[[grant]]
name = "someone-else"
reports = "all"
[grant.who]
sub = "someone-else"
"#;

async fn status(gateway: &TestGateway) -> u16 {
    get(&gateway.url("/getreport?ReportId=10800"))
        .await
        .status
        .as_u16()
}

/// Polls until the gateway answers `want` (file watching is asynchronous), up to 5 s.
async fn eventually(gateway: &TestGateway, want: u16) -> bool {
    for _ in 0..100 {
        if status(gateway).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_valid_file_is_swapped_in_and_an_invalid_one_is_refused() {
    let (_upstream, gateway) = start_pair(default_handler_arc(), "", "").await;
    assert_eq!(status(&gateway).await, 200);
    let path = gateway.dir().join("policy.toml");

    std::fs::write(&path, "[[grant]]\nname = \"broken\"\nreports = [\"ten\"]\n").unwrap();
    let problems = gateway.policy.reload().unwrap_err();
    assert!(
        problems.to_string().contains("policy.toml:3:"),
        "{problems}"
    );
    assert_eq!(status(&gateway).await, 200, "the old policy keeps serving");

    std::fs::write(&path, DENY_TEST_CALLER).unwrap();
    assert_eq!(gateway.policy.reload().unwrap(), Reloaded::Swapped);
    assert_eq!(status(&gateway).await, 403);
    assert_eq!(gateway.policy.reload().unwrap(), Reloaded::Unchanged);
}

#[tokio::test]
async fn a_changed_file_is_picked_up_without_a_signal() {
    let (_upstream, gateway) = start_pair(default_handler_arc(), "", "").await;
    assert_eq!(status(&gateway).await, 200);
    // Replace the file the way editors and config management do: write aside, then rename.
    let aside = gateway.dir().join("policy.toml.new");
    std::fs::write(&aside, DENY_TEST_CALLER).unwrap();
    std::fs::rename(&aside, gateway.dir().join("policy.toml")).unwrap();
    assert!(
        eventually(&gateway, 403).await,
        "the watcher did not reload the policy"
    );
    // And back, in place this time.
    std::fs::write(gateway.dir().join("policy.toml"), POLICY).unwrap();
    assert!(
        eventually(&gateway, 200).await,
        "the watcher did not reload the policy"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_a_file_the_watcher_cannot_see() {
    // policy.toml is a symlink to a file in another folder: changing that file makes no event
    // in the watched folder, so only SIGHUP can bring the change in.
    let elsewhere = tempfile::tempdir().unwrap();
    let real = elsewhere.path().join("real-policy.toml");
    std::fs::write(&real, POLICY).unwrap();
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("policy.toml")).unwrap();
    let gateway =
        TestGateway::start_in_dir(dir, &config_toml(&upstream.base_url(), "", ""), &[]).await;
    assert_eq!(
        status(&gateway).await,
        200,
        "serving, so the SIGHUP handler is installed"
    );
    std::fs::write(&real, DENY_TEST_CALLER).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        status(&gateway).await,
        200,
        "no file event in the watched folder"
    );
    let pid = std::process::id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    assert!(
        eventually(&gateway, 403).await,
        "SIGHUP did not reload the policy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_finish_with_the_policy_they_started_with() {
    let (upstream, gateway) =
        start_pair(slow_on("/getreport", Duration::from_millis(700)), "", "").await;
    let gateway = Arc::new(gateway);
    let in_flight: Vec<_> = (0..50)
        .map(|_| {
            let url = gateway.url("/getreport?ReportId=10800");
            tokio::spawn(async move { get(&url).await.status.as_u16() })
        })
        .collect();
    // Wait until all 50 have passed the policy and reached the (slow) upstream.
    for _ in 0..100 {
        if upstream.getreport_requests().len() == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(upstream.getreport_requests().len(), 50);
    std::fs::write(gateway.dir().join("policy.toml"), DENY_TEST_CALLER).unwrap();
    assert_eq!(gateway.policy.reload().unwrap(), Reloaded::Swapped);
    assert_eq!(
        status(&gateway).await,
        403,
        "new requests get the new policy"
    );
    for request in in_flight {
        assert_eq!(
            request.await.unwrap(),
            200,
            "a request in flight kept its grant"
        );
    }
}
