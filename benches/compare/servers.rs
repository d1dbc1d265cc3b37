//! The servers: the sandbox (every GetReport answer 200 ms late), casegate twice (caching, and
//! with `cache_ttl = "0s"` for the misses), a bare hyper server per scenario and nginx with a
//! server per scenario; every cache warmed and every target checked to serve what casegate
//! serves before anything is measured.

use std::path::Path;
use std::time::Duration;

use casegate::sandbox::{REPORT_EXAMPLE, REPORT_HUGE};
use http::HeaderValue;

use crate::support::caller::{write_gateway_config, GatewayConfig, CALLER_SUB};
use crate::support::client::Target;
use crate::support::procs::{casegate, free_port, Server};
use crate::support::sandbox_token::fetch_token;
use crate::support::served::{expect_header, fetch, same_bytes, Body};
use crate::support::{bare, nginx};
use crate::Settings;

/// The miss scenario's upstream time to answer.
pub(crate) const UPSTREAM_DELAY: Duration = Duration::from_millis(200);
const NGINX_CONF: &str = include_str!("nginx.conf");

/// One scenario's targets, each with the name of its server process in the CPU probe.
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) rate: f64,
    pub(crate) targets: Vec<(Target, &'static str)>,
}

/// Every server (kept running while this lives) and the scenarios over them.
pub(crate) struct Started {
    pub(crate) servers: Vec<(&'static str, Server)>,
    pub(crate) scenarios: Vec<Scenario>,
    /// Bytes casegate serves in each scenario, for the table.
    pub(crate) bodies: Vec<(&'static str, usize, String)>,
}

/// The grant: redaction on (one column dropped, the other customer columns masked), answers
/// cached for `ttl` ("0s": never, every request goes to iCasework).
fn policy(ttl: &str) -> String {
    format!(
        "[[grant]]\nname = \"bench\"\nreports = [{REPORT_EXAMPLE}, {REPORT_HUGE}]\n\
         who = {{ sub = \"{CALLER_SUB}\" }}\n[grant.columns]\ndrop = [\"Customer.DateOfBirth\"]\n\
         mask = [\"Customer.*\"]\n[grant.limits]\ncache_ttl = \"{ttl}\"\n"
    )
}

pub(crate) async fn start(
    s: &Settings,
    caller: &HeaderValue,
    dir: &Path,
    pinned: bool,
    lifetime: Duration,
) -> Result<Started, String> {
    let spawn = |name, args: &[&str]| Server::spawn(name, &casegate(), args, pinned, lifetime, dir);
    let addr = |_| free_port();
    let [sandbox_addr, cached_addr, uncached_addr] = [0, 1, 2].map(addr);
    let (sandbox_addr, cached_addr, uncached_addr) = (sandbox_addr?, cached_addr?, uncached_addr?);
    let (listen, huge, delay) = (
        sandbox_addr.to_string(),
        s.xml_bytes.to_string(),
        format!("{}ms", UPSTREAM_DELAY.as_millis()),
    );
    let mut sandbox = spawn(
        "sandbox",
        &[
            "sandbox",
            "--listen",
            &listen,
            "--huge-bytes",
            &huge,
            "--delay",
            &delay,
        ],
    )?;
    let gateway = |name: &'static str, listen, ttl: &str, extra: &str| {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let config = write_gateway_config(
            &dir,
            &GatewayConfig {
                listen,
                sandbox: sandbox_addr,
                log: &s.gateway_log,
                upstream_extra: "",
                policy: &policy(ttl),
                // The admin listener's default port would be taken by the other gateway.
                extra: &format!("[admin]\nlisten = \"127.0.0.1:0\"\n\n{extra}"),
            },
        )?;
        spawn(name, &["serve", "--config", &config.to_string_lossy()])
    };
    let mut cached = gateway("casegate", cached_addr, "1h", "[cache]\nttl = \"1h\"\n")?;
    // Every miss holds an upstream slot for 200 ms: the default cap (32) would queue the
    // latency run's ~40 in flight, which is protection at work, not the cost of a miss.
    let protection = "[upstream.protection]\nmax_concurrent = 1024\n";
    let mut uncached = gateway("casegate-miss", uncached_addr, "0s", protection)?;
    sandbox.wait_ready(sandbox_addr)?;
    cached.wait_ready(cached_addr)?;
    uncached.wait_ready(uncached_addr)?;

    // casegate's answers, which the others must match.
    let json = format!("/getreport?ReportId={REPORT_EXAMPLE}&Format=json");
    let xml = format!("/getreport?ReportId={REPORT_HUGE}&Format=xml");
    let warm_hit = |uri: String| {
        let cached = &cached;
        async move {
            fetch(cached_addr, cached, &uri, caller).await?;
            let hit = fetch(cached_addr, cached, &uri, caller).await?;
            expect_header(&hit, "x-cache", "HIT", cached)?;
            Body::of(hit, "casegate")
        }
    };
    let small = warm_hit(json.clone()).await?;
    let large = warm_hit(xml.clone()).await?;
    let miss = fetch(uncached_addr, &uncached, &json, caller).await?;
    expect_header(&miss, "x-cache", "BYPASS", &uncached)?;
    let miss = Body::of(miss, "casegate")?;

    let bare = |name, body, delay| {
        let addr = free_port()?;
        Ok::<_, String>((
            bare::spawn(
                dir,
                name,
                addr,
                body,
                bare::Pace::delay(delay),
                (pinned, lifetime),
            )?,
            addr,
        ))
    };
    let (bare_small, bare_small_addr) = bare("bare-small", &small, Duration::ZERO)?;
    let (bare_large, bare_large_addr) = bare("bare-large", &large, Duration::ZERO)?;
    let (bare_delay, bare_delay_addr) = bare("bare-delay", &miss, UPSTREAM_DELAY)?;
    for (addr, server, body) in [
        (bare_small_addr, &bare_small, &small),
        (bare_large_addr, &bare_large, &large),
        (bare_delay_addr, &bare_delay, &miss),
    ] {
        same_bytes(
            &fetch(addr, server, &json, caller).await?,
            body,
            "the bare hyper server",
        )?;
    }

    let [nginx_small, nginx_large, nginx_miss] = [0, 1, 2].map(addr);
    let (nginx_small, nginx_large, nginx_miss) = (nginx_small?, nginx_large?, nginx_miss?);
    let sandbox_auth = fetch_token(sandbox_addr).await?;
    let vars = [
        ("LISTEN_SMALL", nginx_small.to_string()),
        ("LISTEN_LARGE", nginx_large.to_string()),
        ("LISTEN_MISS", nginx_miss.to_string()),
        ("BARE_SMALL", bare_small_addr.to_string()),
        ("BARE_LARGE", bare_large_addr.to_string()),
        ("SANDBOX", sandbox_addr.to_string()),
        (
            "SANDBOX_AUTH",
            sandbox_auth.to_str().map_err(|e| e.to_string())?.to_owned(),
        ),
    ];
    let mut nginx = nginx::start(dir, NGINX_CONF, &vars, pinned, lifetime)?;
    nginx.wait_ready(nginx_small)?;
    for (addr, uri, body) in [(nginx_small, &json, &small), (nginx_large, &xml, &large)] {
        fetch(addr, &nginx, uri, caller).await?;
        let hit = fetch(addr, &nginx, uri, caller).await?;
        expect_header(&hit, "x-cache-status", "HIT", &nginx)?;
        same_bytes(&hit, body, "nginx")?;
    }
    // nginx passes the sandbox's report on unredacted: its own length.
    let nginx_miss_len = fetch(nginx_miss, &nginx, &json, caller).await?.body().len();

    let t = |label, addr, uri: &str, len| Target::new(label, addr, uri, Some(caller), len);
    // A hit scenario: the same request and bytes from the bare server, nginx and casegate.
    let hits = |name, rate, uri: &str, len, bare, bare_name, nginx| Scenario {
        name,
        rate,
        targets: vec![
            (t("bare hyper", bare, uri, len), bare_name),
            (
                t("nginx proxy_cache", nginx, uri, len).expecting("x-cache-status", "HIT"),
                "nginx",
            ),
            (
                t("casegate", cached_addr, uri, len).expecting("x-cache", "HIT"),
                "casegate",
            ),
        ],
    };
    let (small_len, large_len) = (small.bytes.len(), large.bytes.len());
    let scenarios = vec![
        hits(
            "hit-json",
            s.hit_json_rate,
            &json,
            small_len,
            bare_small_addr,
            "bare-small",
            nginx_small,
        ),
        hits(
            "hit-xml",
            s.hit_xml_rate,
            &xml,
            large_len,
            bare_large_addr,
            "bare-large",
            nginx_large,
        ),
        Scenario {
            name: "miss",
            rate: s.miss_rate,
            targets: vec![
                (
                    t(
                        "bare hyper, answering after 200 ms",
                        bare_delay_addr,
                        &json,
                        miss.bytes.len(),
                    ),
                    "bare-delay",
                ),
                (
                    t(
                        "nginx, proxy without cache",
                        nginx_miss,
                        &json,
                        nginx_miss_len,
                    ),
                    "nginx",
                ),
                (
                    t(
                        "casegate, cache_ttl 0",
                        uncached_addr,
                        &json,
                        miss.bytes.len(),
                    )
                    .expecting("x-cache", "BYPASS"),
                    "casegate-miss",
                ),
            ],
        },
    ];
    let bodies = vec![
        (
            "hit-json",
            small.bytes.len(),
            small.content_type.to_str().unwrap_or("?").to_owned(),
        ),
        (
            "hit-xml",
            large.bytes.len(),
            large.content_type.to_str().unwrap_or("?").to_owned(),
        ),
        (
            "miss",
            miss.bytes.len(),
            miss.content_type.to_str().unwrap_or("?").to_owned(),
        ),
    ];
    Ok(Started {
        servers: vec![
            ("sandbox", sandbox),
            ("casegate", cached),
            ("casegate-miss", uncached),
            ("bare-small", bare_small),
            ("bare-large", bare_large),
            ("bare-delay", bare_delay),
            ("nginx", nginx),
        ],
        scenarios: scenarios
            .into_iter()
            .filter(|sc| s.scenarios.contains(&sc.name))
            .collect(),
        bodies,
    })
}
