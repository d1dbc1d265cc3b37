//! A TCP-level fault proxy between the gateway and a fake iCasework: it reads each connection's
//! request head, asks a rule which [`Fault`] to apply to it, and then refuses nothing, resets,
//! cuts, stalls or trickles the upstream's answer at a chosen byte. Connect refusal is a mode of
//! the whole proxy (its listener is closed).
//!
//! No maintained crate does this in-process for Rust (toxiproxy is a Go server, not packaged
//! for Debian), and the faults need only a few dozen lines of tokio.
//!
//! One request per connection is assumed: the gateways under test set
//! `pool_max_idle_per_host = 0`, so every request to iCasework opens a connection and meets the
//! rule for it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Where in the upstream's answer a fault starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Before the first byte of the response head.
    Start,
    /// After the response head and this many bytes of the body (as sent: chunk framing counts).
    Body(usize),
}

/// What happens to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Relayed untouched.
    Pass,
    /// The gateway's side is reset (RST, SO_LINGER 0) at the point.
    Reset(At),
    /// The gateway's side is closed cleanly (FIN) at the point: a truncated answer.
    Cut(At),
    /// Nothing more is relayed after the point; the connection stays open until the gateway
    /// gives up on it.
    Stall(At),
    /// From the point on, one byte per interval.
    Trickle(At, Duration),
}

/// The request line and headers the gateway sent, lowercased header names.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// Chooses the fault for a connection, and optionally a gate: a fault at `At::Body` waits for
/// it to open before it strikes (the test opens it once the caller has the response head, so
/// the fault certainly comes after casegate has started its answer).
pub type Rule = Arc<dyn Fn(&Head) -> (Fault, Option<Arc<Notify>>) + Send + Sync>;

/// The proxy. Dropping it stops accepting; connections in progress end with their tasks.
pub struct FaultProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    rule: Rule,
    accepting: Mutex<Option<JoinHandle<()>>>,
}

impl FaultProxy {
    /// A proxy on 127.0.0.1:0 in front of `upstream`, applying `rule` to every connection.
    pub async fn start(upstream: SocketAddr, rule: Rule) -> Self {
        let listener = bind("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        let proxy = Self {
            addr,
            upstream,
            rule,
            accepting: Mutex::new(None),
        };
        proxy.spawn_accept(listener);
        proxy
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener (`true`): every connection attempt is refused until it is opened
    /// again (`false`) on the same port.
    pub async fn refuse(&self, refuse: bool) {
        let running = self.accepting.lock().unwrap().take();
        if let Some(task) = running {
            task.abort();
            // The listener is dropped with the task; wait for that before connecting again.
            let _ = task.await;
        }
        if !refuse {
            self.spawn_accept(bind(self.addr));
        }
    }

    fn spawn_accept(&self, listener: TcpListener) {
        let (upstream, rule) = (self.upstream, self.rule.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(client, upstream, rule.clone()));
            }
        });
        *self.accepting.lock().unwrap() = Some(task);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(task) = self.accepting.lock().unwrap().take() {
            task.abort();
        }
    }
}

/// A listener on `addr` that may take a port back that this proxy held a moment ago.
fn bind(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(1024).unwrap()
}

/// The gateway gives up on a stalled connection by its own timeouts; this only bounds a proxy
/// task whose gateway went away without closing.
const GIVE_UP: Duration = Duration::from_secs(60);

async fn serve(mut client: TcpStream, upstream: SocketAddr, rule: Rule) {
    let _ = tokio::time::timeout(GIVE_UP, relay(&mut client, upstream, rule)).await;
}

async fn relay(client: &mut TcpStream, upstream: SocketAddr, rule: Rule) {
    let Some((head_bytes, head)) = read_head(client).await else {
        return;
    };
    let (fault, gate) = rule(&head);
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if server.write_all(&head_bytes).await.is_err() {
        return;
    }
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    // The request's body (a token form), and the gateway closing its side.
    let upload = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    };
    let download = download(&mut server_read, &mut client_write, fault, gate);
    let outcome = tokio::select! {
        // Whichever ends first: a stall ends when the gateway hangs up (upload finishes
        // only when the gateway closes).
        outcome = download => outcome,
        () = async { upload.await; std::future::pending::<()>().await } => End::Closed,
    };
    match outcome {
        End::Reset => {
            let _ = client.set_zero_linger();
        }
        End::Stalled => {
            // Hold the connection until the gateway closes it.
            let mut sink = [0u8; 1024];
            while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
        }
        End::Closed | End::Cut => {}
    }
}

enum End {
    Closed,
    Cut,
    Reset,
    Stalled,
}

/// Relays the upstream's answer until the fault's point, then applies it.
async fn download(
    server: &mut (impl AsyncReadExt + Unpin),
    client: &mut (impl AsyncWriteExt + Unpin),
    fault: Fault,
    gate: Option<Arc<Notify>>,
) -> End {
    let at = match fault {
        Fault::Pass => None,
        Fault::Reset(at) | Fault::Cut(at) | Fault::Stall(at) | Fault::Trickle(at, _) => Some(at),
    };
    // Every byte read until the head's end is found (heads are small), to find that end.
    let mut seen = Vec::new();
    let mut head_end: Option<usize> = None;
    let mut sent = 0usize;
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let limit = match at {
            None => usize::MAX,
            Some(At::Start) => 0,
            Some(At::Body(body)) => match head_end {
                Some(end) => end + body,
                None if seen.len() > 64 * 1024 => sent, // no head in sight: fault now
                None => usize::MAX,
            },
        };
        if pending.is_empty() {
            if sent >= limit {
                break;
            }
            match server.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = client.shutdown().await;
                    return End::Closed;
                }
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    if head_end.is_none() {
                        seen.extend_from_slice(&buf[..n]);
                        head_end = seen
                            .windows(4)
                            .position(|w| w == b"\r\n\r\n")
                            .map(|p| p + 4);
                    }
                }
            }
            continue;
        }
        let room = limit.saturating_sub(sent).min(pending.len());
        if room == 0 {
            break;
        }
        if client.write_all(&pending[..room]).await.is_err() {
            return End::Closed;
        }
        sent += room;
        pending.drain(..room);
    }
    if let (Some(At::Body(_)), Some(gate)) = (at, gate) {
        gate.notified().await;
    }
    match fault {
        Fault::Pass => End::Closed,
        Fault::Reset(_) => End::Reset,
        Fault::Cut(_) => {
            let _ = client.shutdown().await;
            End::Cut
        }
        Fault::Stall(_) => End::Stalled,
        Fault::Trickle(_, every) => loop {
            if pending.is_empty() {
                match server.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = client.shutdown().await;
                        return End::Closed;
                    }
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                }
            }
            tokio::time::sleep(every).await;
            if client.write_all(&pending[..1]).await.is_err() {
                return End::Closed;
            }
            let _ = client.flush().await;
            pending.remove(0);
        },
    }
}

/// Reads the request head (to its blank line); `None` if the gateway closed first.
async fn read_head(client: &mut TcpStream) -> Option<(Vec<u8>, Head)> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    };
    let text = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (
        request_line.next()?.to_owned(),
        request_line.next()?.to_owned(),
    );
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((
        bytes,
        Head {
            method,
            target,
            headers,
        },
    ))
}
