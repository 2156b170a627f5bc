//! The byte stream under a WebSocket: plain TCP for ws://, TLS over TCP for wss://. Every write
//! goes through `socket::send_vectored` (no SIGPIPE).

use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;

use crate::socket;
use crate::tls::TlsStream;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    /// Bytes a write took are still held on their way to the socket (TLS records rustls has
    /// not written yet). Plain TCP writes straight to the kernel.
    pub fn holds_unsent(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.holds_records(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => socket::send_vectored(s, &[IoSlice::new(buf)]),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => socket::send_vectored(s, bufs),
            Stream::Tls(t) => t.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}
