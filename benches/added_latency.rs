//! The latency casegate adds over calling the sandbox directly: GetReport 10800 as JSON over 64
//! keep-alive HTTP/1.1 connections on loopback, first at a fixed offered rate (open loop, latency
//! from each request's *scheduled* send time, so a slow response cannot hide the ones queued
//! behind it), then as fast as possible (closed loop) for throughput.
//!
//! `cargo bench --bench added_latency`; environment: `RATE` (req/s, default 2000), `DURATION`
//! (measured seconds per path, default 10), `CONNECTIONS` (default 64), and for investigations
//! `GATEWAY_LOG` (casegate's `logging.level`, default `warn`) and `GATEWAY_POOL_MAX_IDLE`
//! (`upstream.pool_max_idle_per_host`, default casegate's). Arguments are ignored (cargo passes
//! `--bench`). See `benches/README.md`.
//!
//! The load generator (this process: a current-thread tokio runtime and a pacer thread) runs on
//! core 0; the sandbox and the gateway share core 1, each with one worker thread. Both are
//! wrapped in `timeout`, so they stop by themselves even if this process is killed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use casegate::sandbox::{DEMO_ACCOUNT, DEMO_API_KEY, DEMO_SECRET_KEY, REPORT_EXAMPLE};
use hdrhistogram::Histogram;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const WARMUP: Duration = Duration::from_secs(2);
const THROUGHPUT_RAMP: Duration = Duration::from_secs(1);
const THROUGHPUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Other processes' CPU (% of one core) above which a measurement is called disturbed.
const DISTURBED: f64 = 10.0;
/// How long before a request is due the pacer stops sleeping and starts yielding.
const SPIN: Duration = Duration::from_micros(60);

fn main() -> ExitCode {
    // cargo passes `--bench` (and criterion-style filters): nothing here takes arguments.
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("added_latency: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before any thread exists, so the runtime and the pacer inherit core 0.
    let pinned = cores() >= 2 && pin_self_to_core0();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(&settings, pinned)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(errors) => {
            eprintln!("\n!!!! added_latency: {errors} request(s) FAILED; the figures above are NOT valid !!!!");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("added_latency: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Settings {
    rate: f64,
    duration: Duration,
    connections: usize,
    /// For investigations: casegate's `logging.level` and `upstream.pool_max_idle_per_host`.
    gateway_log: String,
    gateway_pool: Option<u32>,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        fn var<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={v:?} is not valid")),
                Err(_) => Ok(None),
            }
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let (rate, duration) = (
            var("RATE")?.unwrap_or(2000.0),
            var("DURATION")?.unwrap_or(10.0),
        );
        if !positive(rate) || !positive(duration) {
            return Err("RATE and DURATION must be positive numbers".to_owned());
        }
        let s = Self {
            rate,
            duration: Duration::from_secs_f64(duration),
            connections: var("CONNECTIONS")?.unwrap_or(64),
            gateway_log: var("GATEWAY_LOG")?.unwrap_or_else(|| "warn".to_owned()),
            gateway_pool: var("GATEWAY_POOL_MAX_IDLE")?,
        };
        if s.connections == 0 {
            return Err("CONNECTIONS must be positive".to_owned());
        }
        if !s
            .gateway_log
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_,=:.".contains(&b))
        {
            return Err(format!(
                "GATEWAY_LOG={:?}: a level or a RUST_LOG-style filter",
                s.gateway_log
            ));
        }
        Ok(s)
    }

    /// The command line that reproduces this run, every setting spelled out.
    fn command(&self) -> String {
        let mut env = format!(
            "RATE={} DURATION={} ",
            self.rate,
            self.duration.as_secs_f64()
        );
        if self.connections != 64 {
            let _ = write!(env, "CONNECTIONS={} ", self.connections);
        }
        if self.gateway_log != "warn" {
            let _ = write!(env, "GATEWAY_LOG={} ", self.gateway_log);
        }
        if let Some(n) = self.gateway_pool {
            let _ = write!(env, "GATEWAY_POOL_MAX_IDLE={n} ");
        }
        format!("{env}cargo bench --bench added_latency")
    }
}

async fn run(s: &Settings, pinned: bool) -> Result<u64, String> {
    let quiet = wait_for_quiet();
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let (sandbox_addr, gateway_addr) = (free_port()?, free_port()?);
    let lifetime =
        2 * (WARMUP + s.duration + THROUGHPUT_RAMP + THROUGHPUT) + Duration::from_secs(90);
    let sandbox_listen = sandbox_addr.to_string();
    let mut sandbox = Server::spawn(
        "sandbox",
        &["sandbox", "--listen", &sandbox_listen],
        pinned,
        lifetime,
        dir.path(),
    )?;
    let config = write_gateway_config(dir.path(), s, gateway_addr, sandbox_addr)?;
    let config = config.to_string_lossy();
    let mut gateway = Server::spawn(
        "casegate",
        &["serve", "--config", &config],
        pinned,
        lifetime,
        dir.path(),
    )?;
    sandbox.wait_ready(sandbox_addr)?;
    gateway.wait_ready(gateway_addr)?;

    // The same query the gateway sends upstream (canonical order, `db` first), with a token.
    let token = fetch_token(sandbox_addr).await?;
    let direct_uri = format!("/getreport?db={DEMO_ACCOUNT}&Format=json&ReportId={REPORT_EXAMPLE}");
    let gateway_uri = format!("/getreport?ReportId={REPORT_EXAMPLE}&Format=json");
    let direct_body = get_body(sandbox_addr, &direct_uri, Some(&token)).await?;
    let via_body = get_body(gateway_addr, &gateway_uri, None)
        .await
        .map_err(|e| gateway.with_log(&e))?;
    if direct_body != via_body {
        return Err(gateway.with_log(&format!(
            "the gateway's body ({} bytes) differs from the sandbox's ({} bytes)",
            via_body.len(),
            direct_body.len()
        )));
    }
    let target = |label, addr: SocketAddr, uri: &str, auth: Option<&HeaderValue>| Target {
        label,
        addr,
        host: HeaderValue::from_str(&addr.to_string()).expect("host header"),
        uri: uri.parse().expect("uri"),
        authorization: auth.cloned(),
        expected_len: direct_body.len(),
    };
    let direct = target("direct (sandbox)", sandbox_addr, &direct_uri, Some(&token));
    let via = target("via casegate", gateway_addr, &gateway_uri, None);
    let probe = Probe {
        sandbox: sandbox.casegate_pid(),
        gateway: gateway.casegate_pid(),
    };

    eprintln!(
        "added_latency: open loop at {} req/s: {} s warm-up + {} s per path",
        s.rate,
        WARMUP.as_secs(),
        s.duration.as_secs_f64()
    );
    let open = [
        open_loop(&direct, s, &probe).await?,
        open_loop(&via, s, &probe).await?,
    ];
    eprintln!(
        "added_latency: closed loop, {} connections, {} s per path",
        s.connections,
        THROUGHPUT.as_secs()
    );
    let closed = [
        closed_loop(&direct, s, &probe).await?,
        closed_loop(&via, s, &probe).await?,
    ];

    print_report(s, pinned, &quiet, direct_body.len(), &open, &closed);
    let errors: u64 = open
        .iter()
        .chain(&closed)
        .map(|r| r.stats.error_count())
        .sum();
    if errors > 0 {
        for (name, server) in [("sandbox", &sandbox), ("casegate", &gateway)] {
            eprintln!("--- {name} log (tail) ---\n{}", server.log_tail());
        }
    }
    Ok(errors)
}

// ---------------------------------------------------------------------------------------------
// The two servers: child processes pinned to core 1, each under `timeout` as a safety net.

struct Server {
    child: Child,
    wrapped: bool,
    log: PathBuf,
}

impl Server {
    fn spawn(
        name: &str,
        args: &[&str],
        pinned: bool,
        lifetime: Duration,
        dir: &Path,
    ) -> Result<Self, String> {
        let mut argv: Vec<String> = Vec::new();
        let wrapped = has_tool("timeout", "--version");
        if wrapped {
            // --foreground: Ctrl-C still reaches the server; TERM is forwarded, KILL 5 s later.
            argv.extend(["timeout", "--foreground", "--kill-after=5s"].map(String::from));
            argv.push(format!("{}s", lifetime.as_secs()));
        }
        if pinned {
            argv.extend(["taskset", "-c", "1"].map(String::from));
        }
        argv.push(env!("CARGO_BIN_EXE_casegate").to_owned());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).map_err(|e| format!("{name} log: {e}"))?;
        let err = file.try_clone().map_err(|e| format!("{name} log: {e}"))?;
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            // RUST_LOG would override the configured level and log every request.
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", argv.join(" ")))?;
        Ok(Self {
            child,
            wrapped,
            log,
        })
    }

    fn wait_ready(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.with_log(&format!("exited early ({status})")));
            }
            if StdStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(self.with_log(&format!("not listening on {addr} after 15 s")))
    }

    /// The casegate process itself (under `timeout` it is the child's child), for CPU accounting.
    fn casegate_pid(&self) -> Option<u32> {
        let pid = self.child.id();
        if !self.wrapped {
            return Some(pid);
        }
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn with_log(&self, error: &str) -> String {
        format!(
            "{error}\n--- {} ---\n{}",
            self.log.display(),
            self.log_tail()
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // TERM lets casegate drain; `timeout` forwards it. KILL only if that does not work.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to two minutes) until other processes leave the CPUs alone for three seconds in a
/// row: builds and tests on the same machine would otherwise show up as latency.
fn wait_for_quiet() -> String {
    let probe = Probe {
        sandbox: None,
        gateway: None,
    };
    let (started, mut quiet_for, mut last) = (Instant::now(), 0, 0.0);
    while started.elapsed() < Duration::from_secs(120) {
        let before = probe.snapshot();
        std::thread::sleep(Duration::from_secs(1));
        let after = probe.snapshot();
        last = CpuUse::between(&before, &after, 1).foreign.unwrap_or(0.0);
        quiet_for = if last <= DISTURBED { quiet_for + 1 } else { 0 };
        if quiet_for == 3 {
            return format!(
                "quiet after {:.0} s (other processes {last:.0} % of a core).",
                started.elapsed().as_secs_f64()
            );
        }
    }
    format!(
        "NOT quiet after 120 s (other processes {last:.0} % of a core); figures may be disturbed."
    )
}

fn has_tool(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn pin_self_to_core0() -> bool {
    let pid = std::process::id().to_string();
    Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> Result<SocketAddr, String> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}

fn write_gateway_config(
    dir: &Path,
    s: &Settings,
    listen: SocketAddr,
    sandbox: SocketAddr,
) -> Result<PathBuf, String> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("api-key", DEMO_API_KEY)?;
    write("secret-key", DEMO_SECRET_KEY)?;
    let pool = s
        .gateway_pool
        .map(|n| format!("pool_max_idle_per_host = {n}\n"))
        .unwrap_or_default();
    let config = format!(
        "[server]\nlisten = \"{listen}\"\n\n[upstream]\nenvironment = \"uat\"\naccount = \"{DEMO_ACCOUNT}\"\n\
         base_url = \"http://{sandbox}\"\n{pool}\n[upstream.credential]\napi_key = {{ file = \"api-key\" }}\n\
         secret_key = {{ file = \"secret-key\" }}\n\n[logging]\nlevel = \"{}\"\n",
        s.gateway_log
    );
    write("casegate.toml", &config)?;
    Ok(dir.join("casegate.toml"))
}

// ---------------------------------------------------------------------------------------------
// HTTP: raw hyper http1 connections, one request at a time each (keep-alive, no pipelining).

async fn handshake<B>(addr: SocketAddr) -> Result<SendRequest<B>, String>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A direct call needs what the gateway has: an OAuth access token from the sandbox.
async fn fetch_token(sandbox: SocketAddr) -> Result<HeaderValue, String> {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        aud: &'a str,
        iat: u64,
        exp: u64,
    }
    let path = format!("/token?db={DEMO_ACCOUNT}");
    let aud = format!("http://{sandbox}{path}");
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        iss: DEMO_API_KEY,
        aud: &aud,
        iat,
        exp: iat + 3600,
    };
    let key = jsonwebtoken::EncodingKey::from_secret(DEMO_SECRET_KEY.as_bytes());
    let jwt = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
        .map_err(|e| e.to_string())?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", &jwt)
        .finish();
    let mut sender = handshake::<Full<Bytes>>(sandbox).await?;
    let request = Request::post(path)
        .header(HOST, sandbox.to_string())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("token: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("token response ({status}): {e}"))?;
    let token = json["access_token"]
        .as_str()
        .ok_or(format!("no access_token in the token response ({status})"))?;
    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())
}

async fn get_body(
    addr: SocketAddr,
    uri: &str,
    auth: Option<&HeaderValue>,
) -> Result<Bytes, String> {
    let mut sender = handshake::<Empty<Bytes>>(addr).await?;
    let mut request = Request::get(uri).header(HOST, addr.to_string());
    if let Some(auth) = auth {
        request = request.header(AUTHORIZATION, auth);
    }
    let response = sender
        .send_request(request.body(Empty::new()).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(format!(
            "GET http://{addr}{uri}: {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(body)
}

/// Where a path's requests go and what a correct answer looks like.
#[derive(Clone)]
struct Target {
    label: &'static str,
    addr: SocketAddr,
    host: HeaderValue,
    uri: Uri,
    authorization: Option<HeaderValue>,
    expected_len: usize,
}

/// One keep-alive connection; reconnects after a failure so one error does not end the run.
struct Conn {
    target: Target,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Conn {
    async fn open(target: &Target) -> Result<Self, String> {
        let sender = Some(handshake(target.addr).await?);
        Ok(Self {
            target: target.clone(),
            sender,
        })
    }

    async fn request(&mut self) -> Result<(), String> {
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, self.try_request()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no complete response within {REQUEST_TIMEOUT:?}")),
        };
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn try_request(&mut self) -> Result<(), String> {
        if self.sender.is_none() {
            self.sender = Some(handshake(self.target.addr).await?);
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let mut request =
            Request::get(self.target.uri.clone()).header(HOST, self.target.host.clone());
        if let Some(auth) = &self.target.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status();
        let mut body = response.into_body();
        let mut len = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("body: {e}"))?;
            len += frame.data_ref().map_or(0, Bytes::len);
        }
        if status != StatusCode::OK {
            return Err(format!("status {status}"));
        }
        if len != self.target.expected_len {
            return Err(format!(
                "body of {len} bytes, expected {}",
                self.target.expected_len
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Results and CPU accounting.

/// Latency in microseconds (1 µs to 60 s, 3 significant digits) and failures by kind.
struct Stats {
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

impl Stats {
    fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            errors: BTreeMap::new(),
        }
    }

    fn record(&mut self, result: Result<(), String>, latency: Duration) {
        match result {
            Ok(()) => self
                .latency
                .saturating_record(latency.as_micros().max(1) as u64),
            Err(e) => *self.errors.entry(e).or_default() += 1,
        }
    }

    fn merge(&mut self, other: &Self) {
        self.latency.add(&other.latency).expect("same bounds");
        for (e, n) in &other.errors {
            *self.errors.entry(e.clone()).or_default() += n;
        }
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Milliseconds at `q`.
    fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Reads CPU use from /proc: idle time per core (exact under NO_HZ, unlike the busy counters,
/// which are sampled at each tick and miss short bursts), and the exact run time of this process
/// and of the two servers.
#[derive(Clone)]
struct Probe {
    sandbox: Option<u32>,
    gateway: Option<u32>,
}

struct CpuSnapshot {
    at: Instant,
    /// Per core: idle + iowait, steal (clock ticks of 10 ms).
    cores: Vec<(u64, u64)>,
    /// Run time in ns: this process, the sandbox, casegate.
    ours: [Option<u64>; 3],
    /// TCP connections opened on the host (`ActiveOpens`): shows connection churn.
    tcp_opens: Option<u64>,
}

impl Probe {
    fn snapshot(&self) -> CpuSnapshot {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cores = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                let get = |i: usize| v.get(i).copied().unwrap_or(0);
                (get(3) + get(4), get(7))
            })
            .collect();
        CpuSnapshot {
            at: Instant::now(),
            cores,
            ours: [Some(std::process::id()), self.sandbox, self.gateway]
                .map(|p| p.and_then(run_time_ns)),
            tcp_opens: tcp_active_opens(),
        }
    }
}

/// The sum of the process's threads' run time (the first field of each thread's schedstat).
fn run_time_ns(pid: u32) -> Option<u64> {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for thread in threads.flatten() {
        let stat = std::fs::read_to_string(thread.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

fn tcp_active_opens() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let i = names.split_whitespace().position(|n| n == "ActiveOpens")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// What the CPUs did between two snapshots, `requests` completed in between.
struct CpuUse {
    /// Per core, % busy (including loopback TCP work in softirq and time stolen by the host).
    core_busy: Vec<f64>,
    steal: f64,
    /// CPU µs per request: load generator, sandbox, casegate.
    per_request: [Option<f64>; 3],
    /// Busy CPU not used by our three processes, in % of one core.
    foreign: Option<f64>,
    tcp_opens_per_1k: Option<f64>,
}

impl CpuUse {
    fn between(a: &CpuSnapshot, b: &CpuSnapshot, requests: u64) -> Self {
        let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
        let pct = |ticks: u64| ticks as f64 / wall; // 100 ticks a second: ticks/s is %
        let cores: Vec<(f64, f64)> = a
            .cores
            .iter()
            .zip(&b.cores)
            .map(|(x, y)| ((100.0 - pct(y.0 - x.0)).max(0.0), pct(y.1 - x.1)))
            .collect();
        let ours: Vec<Option<u64>> = a
            .ours
            .iter()
            .zip(&b.ours)
            .map(|(x, y)| Some(y.as_ref()? - x.as_ref()?))
            .collect();
        let requests = requests.max(1) as f64;
        let ours_pct = ours
            .iter()
            .try_fold(0.0, |sum, ns| Some(sum + (*ns)? as f64 / 1e7 / wall));
        Self {
            core_busy: cores.iter().map(|c| c.0).collect(),
            steal: cores.iter().map(|c| c.1).sum(),
            per_request: [0, 1, 2].map(|i| ours[i].map(|ns| ns as f64 / 1e3 / requests)),
            foreign: ours_pct.map(|o| (cores.iter().map(|c| c.0).sum::<f64>() - o).max(0.0)),
            tcp_opens_per_1k: a
                .tcp_opens
                .zip(b.tcp_opens)
                .map(|(x, y)| y.saturating_sub(x) as f64 * 1000.0 / requests),
        }
    }

    fn describe(&self) -> String {
        let opt =
            |v: Option<f64>, unit: &str| v.map_or("n/a".to_owned(), |v| format!("{v:.1}{unit}"));
        let busy: Vec<String> = self
            .core_busy
            .iter()
            .enumerate()
            .map(|(i, b)| format!("core {i} {b:.0} %"))
            .collect();
        format!(
            "CPU per request: load generator {}, sandbox {}, casegate {}. Busy: {} (steal {:.1} %; other processes {} of a core). New TCP connections per 1,000 requests: {}.",
            opt(self.per_request[0], " µs"),
            opt(self.per_request[1], " µs"),
            opt(self.per_request[2], " µs"),
            busy.join(", "),
            self.steal,
            opt(self.foreign, " %"),
            opt(self.tcp_opens_per_1k, ""),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The two measurements.

struct RunResult {
    label: &'static str,
    stats: Stats,
    /// Completed requests per second in the measured window.
    rate: f64,
    cpu: CpuUse,
    /// Open loop only: how late the pacer dispatched requests (µs); a floor in both paths.
    lateness: Option<Histogram<u64>>,
}

/// Open loop: a pacer thread hands each connection its requests' scheduled times, round robin;
/// latency runs from the scheduled time to the end of the body, so queueing behind a slow
/// response counts (no coordinated omission). Tokio's timer has 1 ms ticks, too coarse to pace
/// with, hence a thread sleeping with `nanosleep`.
async fn open_loop(target: &Target, s: &Settings, probe: &Probe) -> Result<RunResult, String> {
    let mut senders = Vec::with_capacity(s.connections);
    let mut tasks = Vec::with_capacity(s.connections);
    let start = Instant::now() + Duration::from_millis(100);
    let measure_from = start + WARMUP;
    let end = measure_from + s.duration;
    for _ in 0..s.connections {
        let mut conn = Conn::open(target).await?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
        senders.push(tx);
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            while let Some(scheduled) = rx.recv().await {
                let result = conn.request().await;
                if scheduled >= measure_from {
                    stats.record(result, scheduled.elapsed());
                }
            }
            stats
        }));
    }
    let (rate, probe) = (s.rate, probe.clone());
    let pacer = std::thread::spawn(move || {
        let mut lateness =
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
        let mut before = None;
        for k in 0u64.. {
            let scheduled = start + Duration::from_secs_f64(k as f64 / rate);
            if scheduled >= end {
                break;
            }
            if scheduled >= measure_from && before.is_none() {
                before = Some(probe.snapshot());
            }
            // nanosleep overshoots by the timer slack (~50 µs): sleep short, then yield until due.
            let now = Instant::now();
            if scheduled > now + SPIN {
                std::thread::sleep(scheduled - now - SPIN);
            }
            while Instant::now() < scheduled {
                std::thread::yield_now();
            }
            if scheduled >= measure_from {
                lateness.saturating_record(scheduled.elapsed().as_micros().max(1) as u64);
            }
            // A closed channel means its task panicked; the missing answers show as a low rate.
            let _ = senders[k as usize % senders.len()].send(scheduled);
        }
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        (
            lateness,
            before.unwrap_or_else(|| probe.snapshot()),
            probe.snapshot(),
        )
    });
    let mut stats = Stats::new();
    for task in tasks {
        stats.merge(&task.await.map_err(|e| format!("connection task: {e}"))?);
    }
    let (lateness, before, after) = pacer
        .join()
        .map_err(|_| "the pacer thread panicked".to_owned())?;
    let done = stats.latency.len() + stats.error_count();
    Ok(RunResult {
        label: target.label,
        rate: stats.latency.len() as f64 / s.duration.as_secs_f64(),
        cpu: CpuUse::between(&before, &after, done),
        stats,
        lateness: Some(lateness),
    })
}

/// Closed loop: every connection sends its next request as soon as the last one is complete.
/// Only requests sent and completed inside the measured window count.
async fn closed_loop(target: &Target, s: &Settings, probe: &Probe) -> Result<RunResult, String> {
    let start = Instant::now();
    let measure_from = start + THROUGHPUT_RAMP;
    let end = measure_from + THROUGHPUT;
    let mut tasks = Vec::with_capacity(s.connections);
    for _ in 0..s.connections {
        let mut conn = Conn::open(target).await?;
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return stats;
                }
                let result = conn.request().await;
                if sent >= measure_from && Instant::now() <= end {
                    stats.record(result, sent.elapsed());
                }
            }
        }));
    }
    let probe = probe.clone();
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = probe.snapshot();
        tokio::time::sleep_until(end.into()).await;
        (before, probe.snapshot())
    });
    let mut stats = Stats::new();
    for task in tasks {
        stats.merge(&task.await.map_err(|e| format!("connection task: {e}"))?);
    }
    let (before, after) = cpu.await.map_err(|e| e.to_string())?;
    let done = stats.latency.len() + stats.error_count();
    Ok(RunResult {
        label: target.label,
        rate: stats.latency.len() as f64 / THROUGHPUT.as_secs_f64(),
        cpu: CpuUse::between(&before, &after, done),
        stats,
        lateness: None,
    })
}

// ---------------------------------------------------------------------------------------------
// The report: a markdown table for the README, then the notes that say how far to trust it.

fn print_report(
    s: &Settings,
    pinned: bool,
    quiet: &str,
    body_len: usize,
    open: &[RunResult; 2],
    closed: &[RunResult; 2],
) {
    const QS: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 1.0];
    let mut out = String::new();
    let _ = writeln!(out, "\n### casegate added latency: GetReport {REPORT_EXAMPLE} as JSON ({body_len} bytes), {} keep-alive connections, loopback\n", s.connections);
    let _ = writeln!(out, "Command: `{}`\n", s.command());
    let _ = writeln!(out, "| path | offered | achieved | p50 | p90 | p99 | p99.9 | max | throughput (closed loop) | server CPU per request (closed loop) |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let us = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} µs"));
    for (i, (o, c)) in open.iter().zip(closed).enumerate() {
        let cells: Vec<String> = QS
            .iter()
            .map(|&q| format!("{:.3} ms", o.stats.ms(q)))
            .collect();
        let [_, sandbox, gateway] = c.cpu.per_request;
        let cpu = if i == 0 {
            format!("sandbox {}", us(sandbox))
        } else {
            format!("casegate {} + sandbox {}", us(gateway), us(sandbox))
        };
        let _ = writeln!(
            out,
            "| {} | {:.0}/s | {:.0}/s | {} | {:.0}/s | {cpu} |",
            o.label,
            s.rate,
            o.rate,
            cells.join(" | "),
            c.rate
        );
    }
    let added: Vec<f64> = QS
        .iter()
        .map(|&q| open[1].stats.ms(q) - open[0].stats.ms(q))
        .collect();
    let cells: Vec<String> = added.iter().map(|a| format!("**{a:+.3} ms**")).collect();
    let _ = writeln!(
        out,
        "| **added by casegate** | | | {} | {:+.0} % | |",
        cells.join(" | "),
        100.0 * (closed[1].rate / closed[0].rate - 1.0)
    );
    let verdict = |v: f64, t: f64| if v <= t { "met" } else { "MISSED" };
    let _ = writeln!(
        out,
        "\nTargets: added p50 {:+.3} ms ≤ 0.3 ms: **{}**; added p99 {:+.3} ms ≤ 1 ms: **{}**.",
        added[0],
        verdict(added[0], 0.3),
        added[2],
        verdict(added[2], 1.0)
    );

    let _ = writeln!(out, "\nNotes:");
    if pinned {
        let _ = writeln!(out, "- Pinned: load generator on core 0 (one tokio thread + a pacer thread); sandbox and casegate on core 1, one worker thread each. Via casegate, the two servers SHARE core 1, so the added figures include the gateway competing with the sandbox for that core; direct, the sandbox has it alone.");
    } else {
        let _ = writeln!(out, "- NOT pinned (taskset missing or fewer than 2 cores): load generator and servers compete for all cores; figures are noisier.");
    }
    let _ = writeln!(out, "- Latency is from each request's scheduled send time (open loop, {} req/s round robin over {} connections, {} s warm-up discarded, {} s measured), to the last body byte. Added = via − direct, percentile by percentile (not a percentile of per-request differences).", s.rate, s.connections, WARMUP.as_secs(), s.duration.as_secs_f64());
    let tail = (open[0].stats.latency.len() as f64 * 0.01).round();
    let _ = writeln!(out, "- p99 rests on the slowest ~{tail:.0} requests of each path, p99.9 and max on a handful: they are shaped by millisecond stalls of this VM (see the pacer's max lateness) that hit either path at random. Compare p99 over several runs or a longer DURATION; do not read p99.9 or max as a gateway property.");
    for r in open {
        let label = r.label;
        if let Some(l) = &r.lateness {
            let _ = writeln!(out, "- Pacer lateness, {label}: p50 {} µs, p99 {} µs, max {} µs; a floor included in both paths' latency.", l.value_at_quantile(0.5), l.value_at_quantile(0.99), l.max());
        }
    }
    for (r, label) in open
        .iter()
        .zip(["open loop, direct", "open loop, via casegate"])
        .chain(
            closed
                .iter()
                .zip(["closed loop, direct", "closed loop, via casegate"]),
        )
    {
        let _ = writeln!(out, "- {label}: {}", r.cpu.describe());
    }
    let _ = writeln!(out, "- Direct requests carry an OAuth bearer token from the sandbox and the query casegate sends upstream (`db=sandbox&Format=json&ReportId=...`); casegate logs at `{}` (RUST_LOG removed from its environment), upstream pool_max_idle_per_host {}. Every response is checked: 200 and {body_len} bytes.", s.gateway_log, s.gateway_pool.map_or("casegate's default".to_owned(), |n| n.to_string()));
    let _ = writeln!(out, "- Before the run: {quiet}");
    let disturbed = open
        .iter()
        .chain(closed)
        .filter_map(|r| r.cpu.foreign)
        .fold(0.0, f64::max);
    if disturbed > DISTURBED {
        let _ = writeln!(out, "- **DISTURBED: other processes used up to {disturbed:.0} % of a core during a measurement; rerun on a quiet machine before trusting these figures.**");
    }
    let all = open.iter().chain(closed);
    let errors: u64 = all.clone().map(|r| r.stats.error_count()).sum();
    if errors == 0 {
        let _ = writeln!(out, "- Errors: none.");
    } else {
        let _ = writeln!(out, "- **ERRORS: {errors}**");
        for (r, label) in all.zip(["open/direct", "open/via", "closed/direct", "closed/via"]) {
            for (e, n) in &r.stats.errors {
                let _ = writeln!(out, "  - {label}: {n} × {e}");
            }
        }
    }
    print!("{out}");
}
