//! The built `users` example binary, run as a real server process by the tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use super::Via;

/// `target/debug/users`, the `users-example` package's binary, next to this test's
/// `target/debug/deps/<test>`.
pub fn users_binary() -> PathBuf {
    example_binary("users")
}

/// `target/debug/<name>`, the binary of the `<name>-example` package (`login`, `users`), checked to
/// be newer than every source it was built from.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p {name}-example`",
        bin.display()
    );
    // Cargo's dep-info lists every source file the binary was built from.
    let dep_info = std::fs::read_to_string(bin.with_extension("d")).unwrap_or_default();
    let built = modified(&bin);
    let stale: Vec<PathBuf> = dep_info
        .lines()
        .next()
        .and_then(|line| line.split_once(": "))
        .map(|(_, deps)| deps.replace("\\ ", "\0"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|dep| PathBuf::from(dep.replace('\0', " ")))
        .filter(|dep| std::fs::metadata(dep).is_ok_and(|m| m.modified().unwrap() > built))
        .collect();
    assert!(
        stale.is_empty(),
        "{} is older than {stale:?}: run `cargo build -p {name}-example`",
        bin.display()
    );
    bin
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary serving; killed on drop (also when the test panics).
pub struct Running {
    child: Child,
    stdout: Receiver<String>,
    stderr_log: PathBuf,
    port: u16,
}

impl Running {
    /// Spawns `cmd` (the `users` binary, configured) on a free `PORT`, its stderr to `stderr_log`,
    /// and waits until it listens.
    pub fn spawn(mut cmd: Command, stderr_log: PathBuf) -> Self {
        let port = free_port();
        let mut child = cmd
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, stdout) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Self {
            child,
            stdout,
            stderr_log,
            port,
        };
        running.wait_until_listening();
        running
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited with {status}:\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "the server did not listen:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub fn via(&self) -> Via {
        Via::Http {
            base: format!("http://127.0.0.1:{}", self.port),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// The next line the server printed on stdout.
    pub fn next_line(&self) -> String {
        match self.stdout.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("no stdout line within 10 s:\n{}", self.stderr()),
            Err(RecvTimeoutError::Disconnected) => panic!("stdout closed:\n{}", self.stderr()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- server stderr ---\n{}", self.stderr());
        }
    }
}
