//! The processes of a fault run: its own nats-server and redis-server on
//! free ports in a temporary folder (never the shared ones), and the
//! replicas, each a `switchboard serve` process, so that each can be
//! killed, stopped or paused as a whole.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_listening(port: u16, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A server process that can be killed and started again with the same
/// command line (and so the same data folder).
pub struct Server {
    pub name: String,
    pub port: u16,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn new(name: String, port: u16, program: &str, args: Vec<String>, dir: &Path) -> Server {
        let program = which(program).unwrap_or_else(|| panic!("{program} is not installed (deploy/local/services.sh installs it)"));
        let log = dir.join(format!("{name}.log"));
        let mut server = Server { name, port, program, args, log, child: None };
        server.start();
        server
    }

    /// nats-server with JetStream, its store in `dir`.
    pub fn nats(dir: &Path) -> Server {
        let port = free_port();
        Server::new("nats-server".into(), port, "nats-server", nats_args(port, &dir.join("jetstream")), dir)
    }

    /// `n` nats-servers in one JetStream cluster (`n1`, `n2`, …), each with
    /// its own store under `dir`; started together, as a cluster forms.
    pub fn nats_cluster(dir: &Path, n: usize) -> Vec<Server> {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports.iter().map(|(_, c)| format!("nats://127.0.0.1:{c}")).collect();
        let program = which("nats-server").unwrap_or_else(|| panic!("nats-server is not installed (deploy/local/services.sh installs it)"));
        let mut servers: Vec<Server> = ports
            .iter()
            .enumerate()
            .map(|(i, (port, cluster))| {
                let name = format!("n{}", i + 1);
                let mut args = nats_args(*port, &dir.join(&name));
                args.extend([
                    "--server_name".into(),
                    name.clone(),
                    "--cluster_name".into(),
                    "faults".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{cluster}"),
                    "--routes".into(),
                    routes.join(","),
                ]);
                Server { log: dir.join(format!("{name}.log")), name, port: *port, program: program.clone(), args, child: None }
            })
            .collect();
        for s in &mut servers {
            s.spawn();
        }
        for s in &servers {
            assert!(wait_listening(s.port, Duration::from_secs(20)), "{} did not listen on {}", s.name, s.port);
        }
        servers
    }

    /// redis-server with the append-only file on, synced per `appendfsync`.
    pub fn redis(dir: &Path, appendfsync: &str) -> Server {
        let port = free_port();
        let args = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--dir".into(),
            dir.display().to_string(),
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            appendfsync.into(),
            "--save".into(),
            String::new(),
        ];
        Server::new("redis-server".into(), port, "redis-server", args, dir)
    }

    /// Starts the process and waits until it listens.
    pub fn start(&mut self) {
        self.spawn();
        assert!(wait_listening(self.port, Duration::from_secs(20)), "{} did not listen on {}", self.name, self.port);
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        self.child = Some(child);
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process holds its connections and answers nothing.
    pub fn pause(&self) {
        signal(self.child.as_ref(), "-STOP");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn nats_args(port: u16, store: &Path) -> Vec<String> {
    ["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd", &store.display().to_string()].map(String::from).to_vec()
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into(), "/usr/local/bin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// One replica: `switchboard serve --config <file>` listening on `port`.
pub struct Replica {
    pub port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    pub fn new(index: usize, dir: &Path, config: &str) -> Replica {
        let port = free_port();
        let path = dir.join(format!("replica-{index}.toml"));
        let listen = format!("[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n");
        std::fs::write(&path, format!("{listen}{config}")).unwrap();
        Replica { port, config: path, log: dir.join(format!("replica-{index}.log")), child: None }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process (it becomes ready by itself; see [`Replica::ready`]).
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("SWITCHBOARD__") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .args(["serve", "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start a replica");
        self.child = Some(child);
    }

    fn signal(&self, name: &str) {
        signal(self.child.as_ref(), name);
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit (the drain bound, then kill -9).
    pub fn terminate(&mut self, within: Duration) {
        self.signal("-TERM");
        if let Some(mut child) = self.child.take() {
            let until = Instant::now() + within;
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// The last lines of the replica's log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("switchboard-faults-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("FAULTS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Sends `name` (`-STOP`, `-TERM`…) to `child`, if it runs.
fn signal(child: Option<&Child>, name: &str) {
    if let Some(child) = child {
        let _ = Command::new("kill").args([name, &child.id().to_string()]).status();
    }
}
