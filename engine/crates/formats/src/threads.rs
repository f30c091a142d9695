//! Thread counts and panics at the process boundary.
//!
//! Every `-t` and every thread pool goes through [`cap`]: more threads than the machine has
//! only cost memory and scheduling (`-t 99999` once spawned thousands and hung). A panic, in
//! kasane or a dependency, on any thread, ends the process with one line
//! (`kasane: error: internal error: ...`), exit status 1, and no temporary outputs left.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// CPUs this process may use.
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// `requested` threads, at most [`available`]; warns once (one line on stderr) when it cuts.
/// 0 stays 0: callers read it as their default.
pub fn cap(requested: usize) -> usize {
    let max = available();
    if requested <= max {
        return requested;
    }
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "kasane: warning: {requested} threads asked for but this machine offers {max} CPU(s): using {max}"
        );
    }
    max
}

/// Where the last panic happened and why, recorded by the hook for the one-line report.
static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);
/// The input(s) being processed, named in the report.
static CONTEXT: Mutex<Option<String>> = Mutex::new(None);

/// Names the file(s) the command works on, for the internal-error line.
pub fn set_context(what: impl Into<String>) {
    if let Ok(mut c) = CONTEXT.lock() {
        *c = Some(what.into());
    }
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Replaces the default panic output (a multi-line dump) with a record of the panic: some
/// panics are caught on purpose (backend probes, per-chunk workers) and must print nothing.
/// With `KASANE_BACKTRACE=1` the default report is printed too, for developers (not keyed to
/// `RUST_BACKTRACE`, which CI systems and shells often set for every program).
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    let verbose = std::env::var_os("KASANE_BACKTRACE").is_some_and(|v| v != "0");
    std::panic::set_hook(Box::new(move |info| {
        let msg = payload_text(info.payload());
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut p) = LAST_PANIC.lock() {
            *p = Some((msg, at));
        }
        if verbose {
            default(info);
        }
    }));
}

/// The one line for a panic whose payload reached the boundary.
pub fn internal_error_line(payload: &(dyn Any + Send)) -> String {
    let msg = payload_text(payload);
    let at = LAST_PANIC
        .lock()
        .ok()
        .and_then(|p| p.clone())
        .filter(|(m, _)| *m == msg)
        .map(|(_, at)| at)
        .filter(|at| !at.is_empty());
    let ctx = CONTEXT.lock().ok().and_then(|c| c.clone());
    let mut line = format!("kasane: error: internal error: {}", msg.replace('\n', " "));
    if let Some(at) = at {
        line.push_str(&format!(" (at {at})"));
    }
    if let Some(c) = ctx {
        line.push_str(&format!(" while processing {c}"));
    }
    line
}

static REPORTED: AtomicBool = AtomicBool::new(false);

/// Prints the process's one error line, unless one was printed already: a worker's panic can
/// race the main thread's error about the same failure (a closed channel).
pub fn print_error_once(line: &str) {
    if !REPORTED.swap(true, Ordering::SeqCst) {
        eprintln!("{}", one_line(line));
    }
}

/// An error names things read from files (contig names, paths); control characters in them
/// are escaped so the error stays one line on any input.
fn one_line(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.chars().any(char::is_control) {
        return line.into();
    }
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Reports a panic that reached the boundary (once, however many threads panic) and removes
/// the temporary outputs.
pub fn report_panic(payload: &(dyn Any + Send)) {
    print_error_once(&internal_error_line(payload));
    crate::io::atomic::remove_pending();
}

/// Panic handler of kasane's thread pools. A job started with `spawn` has no caller to hand
/// its panic to; rayon's default then aborts (SIGABRT, temporaries left), and a silent
/// handler would leave a consumer waiting on, or misreading, a closed channel. So: report,
/// clean up and end the process.
pub fn worker_panicked(payload: Box<dyn Any + Send>) {
    report_panic(payload.as_ref());
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_small_counts_and_cuts_large_ones() {
        assert_eq!(cap(0), 0);
        assert_eq!(cap(1), 1);
        assert_eq!(cap(usize::MAX), available());
    }

    #[test]
    fn errors_print_as_one_line_whatever_a_file_named() {
        assert_eq!(
            one_line("x.bam: contig a\nb\0c"),
            "x.bam: contig a\\nb\\u{0}c"
        );
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn internal_error_line_is_one_line() {
        let p: Box<dyn Any + Send> = Box::new("two\nlines".to_string());
        let l = internal_error_line(p.as_ref());
        assert!(
            l.starts_with("kasane: error: internal error: two lines"),
            "{l}"
        );
        assert!(!l.contains('\n'));
    }
}
