//! The bridge: connections to `127.0.0.1:PORT` inside the sandbox's network namespace are
//! relayed, byte for byte, to the egress proxy's unix socket on the host.
//!
//! The supervisor runs it. Pid 1 creates the listening socket in the sandbox's network
//! namespace and hands it over; the supervisor stays in the host's network and mount
//! namespaces, so it reaches the proxy (a unix socket path or a loopback TCP port) while
//! nothing inside can. One thread, non-blocking sockets and `poll`: the supervisor has
//! unshared a pid namespace, after which it may not start threads.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use nix::poll::PollFlags;

use crate::layout::BridgeTarget;

const BUFFER: usize = 64 * 1024;

/// Bytes on their way from one side to the other.
#[derive(Default)]
struct Flow {
    buf: Vec<u8>,
    /// The source said it has nothing more.
    eof: bool,
    /// The destination was told so.
    shut: bool,
}

impl Flow {
    fn wants_read(&self) -> bool {
        !self.eof && self.buf.len() < BUFFER
    }
    fn wants_write(&self) -> bool {
        !self.buf.is_empty()
    }
    fn done(&self) -> bool {
        self.shut
    }
}

/// The proxy's side of a connection.
enum Outside {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Outside {
    fn connect(target: &BridgeTarget) -> std::io::Result<Outside> {
        let out = match target {
            BridgeTarget::Unix(path) => Outside::Unix(UnixStream::connect(path)?),
            BridgeTarget::Tcp(addr) => Outside::Tcp(TcpStream::connect(addr)?),
        };
        match &out {
            Outside::Unix(s) => s.set_nonblocking(true)?,
            Outside::Tcp(s) => {
                s.set_nonblocking(true)?;
                let _ = s.set_nodelay(true);
            }
        }
        Ok(out)
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Outside::Unix(s) => s.shutdown(Shutdown::Write),
            Outside::Tcp(s) => s.shutdown(Shutdown::Write),
        };
    }
}

impl Read for Outside {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Outside::Unix(s) => s.read(buf),
            Outside::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Outside {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Outside::Unix(s) => s.write(buf),
            Outside::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl AsFd for Outside {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Outside::Unix(s) => s.as_fd(),
            Outside::Tcp(s) => s.as_fd(),
        }
    }
}

struct Conn {
    inside: TcpStream,
    outside: Outside,
    up: Flow,
    down: Flow,
    broken: bool,
}

/// Reads what is there into `flow`; false on a hard error.
fn fill(from: &mut impl Read, flow: &mut Flow) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    while flow.wants_read() {
        let room = (BUFFER - flow.buf.len()).min(chunk.len());
        let Some(chunk) = chunk.get_mut(..room) else { return true };
        match from.read(chunk) {
            Ok(0) => flow.eof = true,
            Ok(n) => flow.buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Writes what `flow` holds; shuts the destination's write side once the source ended.
fn drain<W: Write>(to: &mut W, flow: &mut Flow, shutdown: impl FnOnce(&W)) -> bool {
    while flow.wants_write() {
        match to.write(&flow.buf) {
            Ok(0) => return false,
            Ok(n) => {
                flow.buf.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    if flow.eof && !flow.shut {
        shutdown(to);
        flow.shut = true;
    }
    true
}

impl Conn {
    fn step(&mut self) {
        let ok = fill(&mut self.inside, &mut self.up)
            && drain(&mut self.outside, &mut self.up, Outside::shutdown_write)
            && fill(&mut self.outside, &mut self.down)
            && drain(&mut self.inside, &mut self.down, |s| {
                let _ = s.shutdown(Shutdown::Write);
            });
        if !ok {
            self.broken = true;
        }
    }

    fn finished(&self) -> bool {
        self.broken || (self.up.done() && self.down.done())
    }
}

/// The listeners inside, each with where it relays to, and the connections being relayed.
pub struct Relay {
    listeners: Vec<(TcpListener, BridgeTarget)>,
    conns: Vec<Conn>,
    warned: bool,
}

impl Relay {
    /// A relay from each listener to its target (none: nothing to do).
    pub fn new(listeners: Vec<(TcpListener, BridgeTarget)>) -> Relay {
        Relay { listeners, conns: Vec::new(), warned: false }
    }

    /// The descriptors to poll and what to wait for on each, in a fixed order that
    /// [`Relay::handle`] expects back.
    pub fn interest(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        let mut out: Vec<(BorrowedFd<'_>, PollFlags)> =
            self.listeners.iter().map(|(l, _)| (l.as_fd(), PollFlags::POLLIN)).collect();
        for c in &self.conns {
            let mut inside = PollFlags::empty();
            if c.up.wants_read() {
                inside |= PollFlags::POLLIN;
            }
            if c.down.wants_write() {
                inside |= PollFlags::POLLOUT;
            }
            let mut outside = PollFlags::empty();
            if c.down.wants_read() {
                outside |= PollFlags::POLLIN;
            }
            if c.up.wants_write() {
                outside |= PollFlags::POLLOUT;
            }
            out.push((c.inside.as_fd(), inside));
            out.push((c.outside.as_fd(), outside));
        }
        out
    }

    /// Acts on what `poll` reported, `ready` being in [`Relay::interest`]'s order.
    pub fn handle(&mut self, ready: &[PollFlags]) {
        let at = self.listeners.len();
        for i in 0..at {
            if ready.get(i).is_some_and(|r| !r.is_empty()) {
                self.accept(i);
            }
        }
        for (i, conn) in self.conns.iter_mut().enumerate() {
            let inside = ready.get(at + 2 * i).copied().unwrap_or_else(PollFlags::empty);
            let outside = ready.get(at + 2 * i + 1).copied().unwrap_or_else(PollFlags::empty);
            if !inside.is_empty() || !outside.is_empty() {
                conn.step();
            }
        }
        self.conns.retain(|c| !c.finished());
    }

    fn accept(&mut self, which: usize) {
        let Some((listener, target)) = self.listeners.get(which) else { return };
        loop {
            let inside = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let outside = match Outside::connect(target) {
                Ok(s) => s,
                Err(e) => {
                    if !self.warned {
                        eprintln!("holdpoint run: the bridge could not reach Holdpoint's gateway at {target}: {e}");
                        self.warned = true;
                    }
                    continue;
                }
            };
            if inside.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = inside.set_nodelay(true);
            self.conns.push(Conn { inside, outside, up: Flow::default(), down: Flow::default(), broken: false });
        }
    }
}
