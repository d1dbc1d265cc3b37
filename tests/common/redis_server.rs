//! A real redis-server for the shared cache tests: a child process on a free port of 127.0.0.1,
//! without persistence, killed when dropped.
//!
//! redis-server must be on PATH (Debian: `apt-get install redis-server`; `.ci/run` installs it).
//! Without it the tests that need it fail with that advice: they are never skipped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::AsyncCommands;

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        // The port is free when asked for, but another process may take it before redis-server
        // binds it: then try another.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut server = RedisServer { port, child: None };
            if server.spawn().await {
                return server;
            }
        }
        panic!("redis-server exited at start three times (ports taken?)");
    }

    /// Starts it again on the same port, empty, and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(
            self.spawn().await,
            "redis-server did not start again on port {}",
            self.port
        );
    }

    /// `false` when the process exited before it answered.
    async fn spawn(&mut self) -> bool {
        let port = self.port.to_string();
        let args = [
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        let child = Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): the shared cache tests need it on PATH; \
                     install it (Debian: apt-get install redis-server), as .ci/run does"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let exited = self.child.as_mut().map(|c| c.try_wait());
            if let Some(Ok(Some(_))) = exited {
                self.child = None;
                return false;
            }
            if let Ok(mut conn) = self.connection().await {
                let pong = redis::cmd("PING").query_async::<String>(&mut conn).await;
                if pong.is_ok() {
                    return true;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await
    }

    /// Every key name with its value's bytes (the members, for sorted sets).
    pub async fn dump(&self) -> Vec<(String, Vec<u8>)> {
        let mut conn = self.connection().await.unwrap();
        let names: Vec<String> = conn.keys("*").await.unwrap();
        let mut out = Vec::new();
        for name in names {
            let kind: String = redis::cmd("TYPE")
                .arg(&name)
                .query_async(&mut conn)
                .await
                .unwrap();
            let value = match kind.as_str() {
                "string" => conn.get(&name).await.unwrap(),
                "zset" => {
                    let members: Vec<String> = conn.zrange(&name, 0, -1).await.unwrap();
                    members.join("\n").into_bytes()
                }
                other => panic!("unexpected {other} at {name}"),
            };
            out.push((name, value));
        }
        out
    }

    /// The names of the cache entries stored.
    pub async fn entry_names(&self) -> Vec<String> {
        let mut conn = self.connection().await.unwrap();
        conn.keys("*:v1:entry:*").await.unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
