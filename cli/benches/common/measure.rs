//! What a child process cost: its wall time, peak resident memory and CPU time (shared by
//! the benchmarks).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one child process cost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cost {
    pub wall: Duration,
    pub peak_mib: f64,
    pub cpu: Duration,
    pub exit: i32,
}

/// The child's own high-water mark of resident memory (`VmHWM`), in KiB.
fn high_water_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Run `cmd` to its end. CPU time comes from `wait4`; peak memory from the child's `VmHWM`,
/// read every few milliseconds while it runs. (`ru_maxrss` would do, but on Linux a spawned
/// child's counts the parent's memory at spawn time: the sandbox's, here.)
pub(crate) fn measure(mut cmd: Command, log: &Path) -> Cost {
    let out = std::fs::File::create(log).expect("log file");
    cmd.stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null());
    let started = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = high_water_kib(pid as u32).unwrap_or(0).max(peak);
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; `status` and `usage` are valid.
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(got, pid, "wait4 failed");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak_kib = watcher.join().unwrap();
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    std::mem::forget(child);
    Cost {
        wall,
        peak_mib: peak_kib as f64 / 1024.0,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        exit,
    }
}
