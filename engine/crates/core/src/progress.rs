//! Progress on a terminal; silence in batch logs (stderr not a terminal, or `KASANE_QUIET`).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

pub struct Progress {
    enabled: bool,
    start: Instant,
    state: Mutex<(String, u64)>,
    /// When [`Progress::status`] last drew.
    last: Mutex<Option<Instant>>,
    /// Fault injection for the tests of panic handling (`KASANE_FAULT`): see [`Fault`].
    fault: Option<Fault>,
}

/// `KASANE_FAULT=panic@CONTIG` panics on the calling thread when CONTIG starts;
/// `worker-panic@CONTIG` panics in a detached rayon job then, and waits for it to end the
/// process. Tests use it to check that a panic ends in one line and leaves no temporaries.
#[derive(Clone, Debug)]
enum Fault {
    Panic(String),
    WorkerPanic(String),
}

fn fault_from_env() -> Option<Fault> {
    let v = std::env::var("KASANE_FAULT").ok()?;
    let (kind, contig) = v.split_once('@')?;
    match kind {
        "panic" => Some(Fault::Panic(contig.to_string())),
        "worker-panic" => Some(Fault::WorkerPanic(contig.to_string())),
        _ => None,
    }
}

impl Progress {
    /// Enabled when stderr is a terminal, unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        let enabled =
            !quiet && std::env::var_os("KASANE_QUIET").is_none() && std::io::stderr().is_terminal();
        Progress {
            enabled,
            start: Instant::now(),
            state: Mutex::new((String::new(), 0)),
            last: Mutex::new(None),
            fault: fault_from_env(),
        }
    }

    pub fn hidden() -> Self {
        Progress {
            enabled: false,
            start: Instant::now(),
            state: Mutex::new((String::new(), 0)),
            last: Mutex::new(None),
            fault: None,
        }
    }

    fn draw(&self) {
        if let Ok(s) = self.state.lock() {
            let secs = self.start.elapsed().as_secs_f64();
            let mut e = std::io::stderr().lock();
            let _ = write!(
                e,
                "\r\x1b[2K[kasane] {:>8.1} M records  contig {}  {:.0} s",
                s.1 as f64 / 1e6,
                s.0,
                secs
            );
            let _ = e.flush();
        }
    }

    pub fn contig(&self, name: &str) {
        match &self.fault {
            Some(Fault::Panic(c)) if c == name => panic!("injected fault at contig {name}"),
            Some(Fault::WorkerPanic(c)) if c == name => {
                let msg = format!("injected fault in a worker at contig {name}");
                rayon::spawn(move || panic!("{msg}"));
                // The pool's panic handler ends the process; this thread must not go on.
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
            _ => {}
        }
        if !self.enabled {
            return;
        }
        if let Ok(mut s) = self.state.lock() {
            s.0 = name.to_string();
        }
        self.draw();
    }

    pub fn records(&self, n: u64) {
        if !self.enabled {
            return;
        }
        if let Ok(mut s) = self.state.lock() {
            s.1 = n;
        }
        self.draw();
    }

    /// A free-form progress line (with the elapsed time), drawn at most ten times a second;
    /// `text` is only called when it is drawn.
    pub fn status(&self, text: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if let Ok(mut last) = self.last.lock() {
            if last.is_some_and(|t| now.duration_since(t).as_millis() < 100) {
                return;
            }
            *last = Some(now);
        }
        let secs = self.start.elapsed().as_secs_f64();
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K[kasane] {}  {:.0} s", text(), secs);
        let _ = e.flush();
    }

    /// One line of log (on a terminal; batch logs stay quiet, and the same facts are
    /// recorded with the outputs).
    pub fn log(&self, msg: &str) {
        if self.enabled {
            let _ = writeln!(std::io::stderr(), "\r\x1b[2K[kasane] {msg}");
        }
    }

    /// Clears the progress line.
    pub fn done(&self) {
        if self.enabled {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}
