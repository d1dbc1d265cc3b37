//! The two servers: child processes pinned to core 1, each under `timeout` as a safety net.

use super::*;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) wrapped: bool,
    pub(crate) log: PathBuf,
}

impl Server {
    pub(crate) fn spawn(
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

    pub(crate) fn wait_ready(&mut self, addr: SocketAddr) -> Result<(), String> {
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
    pub(crate) fn casegate_pid(&self) -> Option<u32> {
        let pid = self.child.id();
        if !self.wrapped {
            return Some(pid);
        }
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub(crate) fn with_log(&self, error: &str) -> String {
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
pub(crate) fn wait_for_quiet() -> String {
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

pub(crate) fn has_tool(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub(crate) fn pin_self_to_core0() -> bool {
    let pid = std::process::id().to_string();
    Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn free_port() -> Result<SocketAddr, String> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}

pub(crate) const CALLER_ISSUER: &str = "https://idp.bench.casegate";
const CALLER_PUBLIC_KEY: &str = "tests/fixtures/keys/rsa-public.pem";
const CALLER_PRIVATE_KEY: &str = "tests/fixtures/keys/rsa-private.pem";

/// The bench caller's bearer token (RS256, valid for an hour).
pub(crate) fn caller_bearer() -> Result<HeaderValue, String> {
    let pem =
        std::fs::read(CALLER_PRIVATE_KEY).map_err(|e| format!("{CALLER_PRIVATE_KEY}: {e}"))?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let claims = serde_json::json!({
        "iss": CALLER_ISSUER, "aud": "casegate", "sub": "bench-caller", "iat": now, "exp": now + 3600,
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(|e| e.to_string())?;
    HeaderValue::try_from(format!("Bearer {token}")).map_err(|e| e.to_string())
}

pub(crate) fn write_gateway_config(
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
    // Callers authenticate as in production: an RS256 token from an identity provider whose
    // public key the gateway trusts, and a grant for the report.
    let public = std::fs::read_to_string(CALLER_PUBLIC_KEY)
        .map_err(|e| format!("{CALLER_PUBLIC_KEY}: {e}"))?;
    write("caller-public.pem", &public)?;
    write(
        "policy.toml",
        "[[grant]]\nname = \"bench\"\nreports = [10800]\nwho = { sub = \"bench-caller\" }\n",
    )?;
    let pool = s
        .gateway_pool
        .map(|n| format!("pool_max_idle_per_host = {n}\n"))
        .unwrap_or_default();
    let config = format!(
        "policy = \"policy.toml\"\n[server]\nlisten = \"{listen}\"\n\n[upstream]\nenvironment = \"uat\"\naccount = \"{DEMO_ACCOUNT}\"\n\
         base_url = \"http://{sandbox}\"\n{pool}\n[upstream.credential]\napi_key = {{ file = \"api-key\" }}\n\
         secret_key = {{ file = \"secret-key\" }}\n\n[[auth.issuers]]\nissuer = \"{CALLER_ISSUER}\"\n\
         audiences = [\"casegate\"]\nalgorithms = [\"RS256\"]\npem_files = [{{ path = \"caller-public.pem\" }}]\n\n[logging]\nlevel = \"{}\"\n",
        s.gateway_log
    );
    write("casegate.toml", &config)?;
    Ok(dir.join("casegate.toml"))
}
