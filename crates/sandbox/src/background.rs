//! Work done in a forked child while the caller goes on building the sandbox: waiting for a
//! checkpoint to reach the disk, compiling the secret scanner to filter the environment.
//! The sandbox needs a single-threaded caller, so a thread is not an option; a forked child
//! of that caller is, and it shares nothing with it afterwards but the answer it sends back.
//!
//! ```
//! use holdpoint_sandbox::background::Task;
//!
//! let task = Task::start(|| Ok(b"done".to_vec()));
//! assert_eq!(task.wait(), Ok(b"done".to_vec()));
//! assert_eq!(Task::start(|| Err("no".into())).wait(), Err("no".to_owned()));
//! ```

use std::io::Read;
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, pipe2};

use crate::{supervisor, sys};

/// Work started with [`Task::start`]; [`Task::wait`] gives its answer. Dropping a task waits
/// for it too, so no child is ever left behind.
#[derive(Debug)]
pub struct Task(State);

#[derive(Debug)]
enum State {
    Done(Result<Vec<u8>, String>),
    Child { pid: Pid, answer: OwnedFd },
    Waited,
}

impl Task {
    /// Runs `work` in a forked child, which sends back its answer and exits (no destructor of
    /// the caller runs there). From a multi-threaded caller, or when the fork fails, `work`
    /// runs here and now.
    pub fn start(work: impl FnOnce() -> Result<Vec<u8>, String>) -> Task {
        if supervisor::threads() != 1 {
            return Task(State::Done(work()));
        }
        let Ok((read, write)) = pipe2(OFlag::O_CLOEXEC) else { return Task(State::Done(work())) };
        match sys::fork() {
            Ok(ForkResult::Child) => {
                drop(read);
                let mut message = Vec::new();
                // A panic must not unwind into the caller's frames, which are the parent's.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                    .unwrap_or_else(|_| Err("the work panicked".into()));
                match outcome {
                    Ok(bytes) => {
                        message.push(b'O');
                        message.extend_from_slice(&bytes);
                    }
                    Err(why) => {
                        message.push(b'E');
                        message.extend_from_slice(why.as_bytes());
                    }
                }
                let sent = std::io::Write::write_all(&mut std::fs::File::from(write), &message);
                sys::exit_now(if sent.is_ok() { 0 } else { 1 })
            }
            Ok(ForkResult::Parent { child }) => Task(State::Child { pid: child, answer: read }),
            Err(_) => {
                drop((read, write));
                Task(State::Done(work()))
            }
        }
    }

    /// Waits for the work to end; its answer, or why there is none.
    pub fn wait(mut self) -> Result<Vec<u8>, String> {
        self.finish()
    }

    fn finish(&mut self) -> Result<Vec<u8>, String> {
        match std::mem::replace(&mut self.0, State::Waited) {
            State::Done(answer) => answer,
            State::Waited => Err("the work was already waited for".into()),
            State::Child { pid, answer } => {
                let mut message = Vec::new();
                let read = std::fs::File::from(answer).read_to_end(&mut message);
                let status = loop {
                    match waitpid(pid, None) {
                        Err(nix::errno::Errno::EINTR) => continue,
                        other => break other,
                    }
                };
                match (status, read, message.split_first()) {
                    (Ok(WaitStatus::Exited(_, 0)), Ok(_), Some((b'O', bytes))) => Ok(bytes.to_vec()),
                    (Ok(WaitStatus::Exited(_, 0)), Ok(_), Some((b'E', why))) => {
                        Err(String::from_utf8_lossy(why).into_owned())
                    }
                    (status, _, _) => Err(format!("the process doing it ended without an answer ({status:?})")),
                }
            }
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
