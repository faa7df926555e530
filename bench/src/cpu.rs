//! CPU time of the server processes under load, from `/proc/<pid>/stat`:
//! user plus system time of every thread of the process, so the table can
//! show what each request cost the server, not only how many it answered.

use std::sync::OnceLock;

/// Kernel clock ticks per second (`getconf CLK_TCK`; 100 on Linux when that
/// cannot be asked).
fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t: &u64| t > 0)
            .unwrap_or(100)
    })
}

/// `utime + stime` of one process in clock ticks, or `None` when it is gone.
fn ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so
    // count fields from the last `)`. utime and stime are fields 14 and 15,
    // the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// User plus system CPU time of all of `pids` together, in microseconds;
/// `None` when any of them cannot be read.
pub(crate) fn total_us(pids: &[u32]) -> Option<u64> {
    let mut sum = 0;
    for &pid in pids {
        sum += ticks(pid)?;
    }
    Some(sum * 1_000_000 / ticks_per_second())
}
