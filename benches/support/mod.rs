//! Helpers shared by the benches that drive the built `ilot` binary and a peer in another
//! process (analytics, real_data): environment knobs, a deterministic generator's random
//! numbers, and a timed run of a command with its peak RSS.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Uniform in [0, 1) from the keys.
pub fn unit(a: u64, b: u64, salt: u64) -> f64 {
    (mix(mix(a ^ salt.rotate_left(17)) ^ b) >> 11) as f64 / (1u64 << 53) as f64
}

/// Roughly standard normal (sum of three uniforms).
pub fn gauss(a: u64, b: u64, salt: u64) -> f64 {
    (unit(a, b, salt) + unit(a, b, salt + 1) + unit(a, b, salt + 2) - 1.5) * 2.0
}

pub struct Run {
    pub secs: f64,
    pub rss_mib: f64,
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run `argv` to completion: wall time, peak RSS (GNU time's `%M`, else `VmHWM` polled from
/// /proc), output.
pub fn run(argv: &[String]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let (out, err, rss) = (tmp.path().join("out"), tmp.path().join("err"), tmp.path().join("rss"));
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "-o", rss.to_str().unwrap()]).args(argv);
        c
    } else {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    };
    cmd.stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap()).env("RUST_LOG", "warn");
    // ilot reads every ILOT_* variable as configuration: hide the bench's own.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ILOT_BENCH")) {
        cmd.env_remove(k);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let mut hwm_kb = 0.0f64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !gnu_time {
            let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
            let kb = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
            hwm_kb = hwm_kb.max(kb.unwrap_or(0.0));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let secs = started.elapsed().as_secs_f64();
    if gnu_time {
        let text = std::fs::read_to_string(&rss).unwrap_or_default();
        hwm_kb = text.lines().rev().find_map(|l| l.trim().parse().ok()).unwrap_or(0.0);
    }
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Run { secs, rss_mib: hwm_kb / 1024.0, ok: status.success(), stdout: read(&out), stderr: read(&err) }
}

/// The `ilot` binary built for the bench, on one configuration file.
pub struct Ilot {
    pub bin: String,
    pub config: PathBuf,
}

impl Ilot {
    /// The command line of `ilot --config <config> <args>`.
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec![self.bin.clone(), "--config".into(), self.config.display().to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }
}

/// A started `ilot serve` or `ilot demo`: stopped (SIGTERM) when dropped, with the addresses it
/// printed (`host:port`).
pub struct Running {
    child: Child,
    pub http: String,
    pub postgres: Option<String>,
}

impl Running {
    /// Start `cmd` (logging at warn, the bench's ILOT_BENCH_* variables hidden) and wait for its
    /// `HTTP API` line, and its `PostgreSQL` line too when `postgres`.
    pub fn start(mut cmd: Command, postgres: bool) -> Running {
        cmd.env("RUST_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ILOT_BENCH")) {
            cmd.env_remove(k);
        }
        let mut child = cmd.spawn().expect("spawn ilot");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut http, mut pg) = (None, None);
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let line = line.trim();
                if let Some(rest) = line.strip_prefix("HTTP API") {
                    http = Some(rest.split_whitespace().next().unwrap_or_default().trim_start_matches("http://").trim_end_matches('/').to_owned());
                }
                if let Some(rest) = line.strip_prefix("PostgreSQL") {
                    pg = rest.split("postgresql://").nth(1).and_then(|r| r.split('/').next()).map(str::to_owned);
                }
                if http.is_some() && (pg.is_some() || !postgres) {
                    let _ = tx.send((http.take(), pg.take()));
                }
            }
        });
        let (http, postgres) = rx.recv_timeout(Duration::from_secs(180)).expect("ilot printed its addresses");
        Running { child, http: http.unwrap_or_default(), postgres }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}
