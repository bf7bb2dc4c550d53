//! Stopping a program greenlight started in a process group of its own (`CommandExt::process_group(0)`), with all
//! it started in turn: git's remote helpers, a hook's shell script and its children.

use std::process::Child;
use std::time::Duration;

use wait_timeout::ChildExt as _;

/// Stops `child` and everything in its process group: SIGTERM, so that it can clean up (git removes its lock files;
/// a `*.lock` left behind would fail every later fetch of a mirror), then SIGKILL for whatever still runs after
/// `grace`. Reaps `child`.
pub fn stop_group(child: &mut Child, grace: Duration) {
    use rustix::process::{Pid, Signal, kill_process_group};
    let group = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    let signal = |signal| group.is_some_and(|group| kill_process_group(group, signal).is_ok());
    if signal(Signal::TERM) && matches!(child.wait_timeout(grace), Ok(Some(_))) {
        // The child is gone; the rest of its group got the same SIGTERM, and one that ignores it is killed now.
        signal(Signal::KILL);
        return;
    }
    if !signal(Signal::KILL) {
        let _ = child.kill();
    }
    let _ = child.wait();
}
