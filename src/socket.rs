//! Opening the TCP socket ourselves, so the host's socket hook sees the file descriptor before
//! connect (Android binds it to a network: WeChat's forceCellularNetwork), and writing to it
//! without ever raising SIGPIPE in the host.

use std::io::{self, IoSlice, Write};
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, RawFd};

use mio::net::TcpStream;

/// Called with the new socket's fd before connect; a non-zero return refuses the connection.
pub type Hook<'a> = &'a dyn Fn(RawFd) -> i32;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn new_socket(domain: libc::c_int) -> io::Result<RawFd> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: plain socket(2) call.
        check(unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: socket(2) and fcntl(2) on the fd we just made.
        unsafe {
            let fd = check(libc::socket(domain, libc::SOCK_STREAM, 0))?;
            let flags = libc::fcntl(fd, libc::F_GETFL);
            let done = check(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))
                .and_then(|_| check(libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC)));
            #[cfg(any(target_os = "macos", target_os = "ios"))]
            let done = done.and_then(|_| {
                let one: libc::c_int = 1;
                check(libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_NOSIGPIPE,
                    &one as *const _ as *const libc::c_void,
                    size_of::<libc::c_int>() as libc::socklen_t,
                ))
            });
            if let Err(e) = done {
                libc::close(fd);
                return Err(e);
            }
            Ok(fd)
        }
    }
}

/// Writes `bufs` to a connected socket. A write to a connection the peer reset fails with EPIPE,
/// and the kernel would also raise SIGPIPE, killing a host that keeps its default action (plain
/// C programs, many JNI hosts). So on Linux and Android every write is a `sendmsg` with
/// `MSG_NOSIGNAL`; Apple sockets have `SO_NOSIGPIPE` set when they are made.
pub fn send_vectored(sock: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        const IOV_MAX: usize = 1024;
        // SAFETY: an all-zero msghdr is valid (no address, no control data).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is ABI-compatible with iovec on Unix; sendmsg only reads the buffers.
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len().min(IOV_MAX) as _;
        // SAFETY: msg points at bufs, which outlive the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let mut sock = sock;
        sock.write_vectored(bufs)
    }
}

/// Reads from a connected socket into memory not yet initialised (a message's spare capacity):
/// the kernel writes the bytes, so nothing needs clearing first. Returns how many it wrote.
pub fn recv_uninit(sock: &TcpStream, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: recv(2) writes at most `buf.len()` bytes into `buf`, which we own mutably.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `Write` over a socket through `send_vectored`: what rustls writes its records to.
pub struct Writer<'a>(pub &'a TcpStream);

impl Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send_vectored(self.0, &[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        send_vectored(self.0, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts a non-blocking connect to `addr`, giving the socket to `hook` first.
pub fn connect(addr: SocketAddr, hook: Option<Hook<'_>>) -> io::Result<TcpStream> {
    let domain = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let fd = new_socket(domain)?;
    // SAFETY: fd is a fresh socket we own; from here the TcpStream closes it on every path.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    if let Some(hook) = hook {
        let refused = hook(fd);
        if refused != 0 {
            return Err(io::Error::other(format!("the socket hook refused the socket ({})", refused)));
        }
    }
    // SAFETY: storage is large enough for either address family; lengths are set to match.
    let (storage, len) = unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in);
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6);
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        (storage, len as libc::socklen_t)
    };
    // SAFETY: connect(2) with a valid address of `len` bytes.
    let ret = unsafe { libc::connect(fd, &storage as *const _ as *const libc::sockaddr, len) };
    if ret < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn hook_sees_the_fd_and_can_refuse() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Cell::new(-1);
        let hook = |fd: RawFd| {
            seen.set(fd);
            0
        };
        let stream = connect(addr, Some(&hook)).unwrap();
        assert!(seen.get() >= 0);
        let (_peer, from) = listener.accept().unwrap();
        // Non-blocking connect to loopback completes once accepted.
        let mut connected = false;
        for _ in 0..100 {
            if stream.peer_addr().is_ok() {
                connected = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(connected);
        assert_eq!(stream.local_addr().unwrap(), from);
        let refuse = |_fd: RawFd| 7;
        let err = connect(addr, Some(&refuse)).unwrap_err();
        assert!(err.to_string().contains("refused the socket (7)"), "{}", err);
    }
}
