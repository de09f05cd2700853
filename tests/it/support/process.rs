//! The real `warroom run` as a child process (several of them share one database in the
//! tests of SPEC §8), and a TCP relay in front of PostgreSQL that a test can cut or hold, so
//! "the database went away" is a real connection failing, not a mock.

use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use warroom::config::Environment;

use super::{WAIT, eventually, free_port};

/// One `warroom run`.
pub struct Process {
    pub name: String,
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

impl Process {
    /// Starts `warroom run` with `config` and `env` (plus its own HTTP port); returns at once.
    pub fn spawn(name: &str, config: &Path, env: &Environment) -> Process {
        let port = free_port();
        let mut command = super::warroom(config);
        command
            .arg("run")
            .env("WARROOM__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("WARROOM_LOG", "warn,warroom=info");
        for (variable, value) in env.vars() {
            command.env(variable, value);
        }
        let child = command.spawn().expect("start warroom run");
        Process {
            name: name.to_owned(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        }
    }

    /// `/readyz`: its status and body, or `None` while nothing answers.
    pub async fn readyz(&self) -> Option<(u16, Value)> {
        let response = self
            .client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self) {
        let name = self.name.clone();
        eventually(format!("{name} to be ready"), WAIT, async || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{name} exited before it was ready: {status}");
            }
            matches!(self.readyz().await, Some((200, _)))
        })
        .await;
    }

    /// Whether this process holds the Discord gateway and is connected.
    pub async fn holds_gateway(&self) -> bool {
        matches!(self.readyz().await, Some((200, body)) if body["discord"] == "connected")
    }

    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn sigterm(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("send SIGTERM");
    }

    /// Waits (bounded) for the process to exit.
    pub async fn exited(&mut self) -> ExitStatus {
        let name = self.name.clone();
        eventually(format!("{name} to exit"), WAIT, async || {
            self.child.try_wait().unwrap()
        })
        .await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the relay does with connections.
const FORWARD: u8 = 0;
/// Refuses new connections and ends open ones: the database is gone.
const CUT: u8 = 1;
/// Holds every byte (connections stay open): the database stops answering.
const HOLD: u8 = 2;

/// A TCP relay to PostgreSQL on 127.0.0.1:5432.
pub struct Relay {
    pub port: u16,
    mode: Arc<AtomicU8>,
    changed: watch::Sender<u8>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: &'static str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let (changed, _) = watch::channel(FORWARD);
        let task = {
            let mode = mode.clone();
            let changed = changed.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    if mode.load(Ordering::SeqCst) == CUT {
                        drop(client);
                        continue;
                    }
                    tokio::spawn(relay(client, target, changed.subscribe()));
                }
            })
        };
        Relay {
            port,
            mode,
            changed,
            task,
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        self.changed.send_replace(mode);
    }

    /// The database goes away: open connections end, new ones are refused.
    pub fn cut(&self) {
        self.set(CUT);
    }

    /// The database stops answering (connections stay open, nothing moves).
    pub fn hold(&self) {
        self.set(HOLD);
    }

    pub fn restore(&self) {
        self.set(FORWARD);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, target: &str, mut mode: watch::Receiver<u8>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    loop {
        // While held, nothing is read (so nothing is answered); a cut ends the connection.
        while *mode.borrow_and_update() == HOLD {
            if mode.changed().await.is_err() {
                return;
            }
        }
        if *mode.borrow() == CUT {
            return;
        }
        use tokio::io::AsyncReadExt;
        tokio::select! {
            read = client_read.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if server_write.write_all(&up[..n]).await.is_err() { return },
            },
            read = server_read.read(&mut down) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if client_write.write_all(&down[..n]).await.is_err() { return },
            },
            _ = mode.changed() => {}
        }
    }
}
