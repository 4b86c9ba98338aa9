//! `holdpoint serve` as the PostgreSQL tests run it: started with a home and a vault key, its
//! start-up lines read until the test has what it needs (the rest drained, so it never blocks
//! on a full pipe), stopped with SIGTERM on drop (killed if it has not stopped in 20 s).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Serve {
    child: Child,
    /// Its standard error up to the line `ready` accepted.
    pub lines: Vec<String>,
}

impl Serve {
    /// Starts `holdpoint serve` and reads its standard error until `ready` is true of the lines
    /// read so far.
    pub fn start(home: &Path, key: &Path, mut ready: impl FnMut(&[String]) -> bool) -> Serve {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("holdpoint"))
            .arg("serve")
            .env("HOLDPOINT_HOME", home)
            .env("HOLDPOINT_VAULT_KEY_FILE", key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        // Owned before anything can fail, so a failing start-up still stops the process.
        let mut serve = Serve { child, lines: Vec::new() };
        let mut lines = BufReader::new(stderr).lines();
        while !ready(&serve.lines) {
            let line = lines.next().unwrap_or_else(|| panic!("serve ended: {}", serve.lines.join("\n"))).unwrap();
            serve.lines.push(line);
        }
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        serve
    }

    /// The process id.
    #[allow(dead_code, reason = "each test crate compiles this module; not every one asks")]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What follows `marker` on the first start-up line that has it, up to `end`.
    #[allow(dead_code, reason = "each test crate compiles this module; not every one asks")]
    pub fn after(&self, marker: &str, end: char) -> Option<String> {
        self.lines.iter().find_map(|line| {
            let rest = line.split(marker).nth(1)?;
            Some(rest.split(end).next().unwrap_or(rest).to_owned())
        })
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
