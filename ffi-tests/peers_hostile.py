"""Hostile WebSocket peers for ffi-tests/test_hostile_io.c (issue 11: SIGPIPE, the send bound
over wss://, ping floods, huge announced frames).

    peers_hostile.py

Binds only 127.0.0.1 on free ports and makes a throw-away test CA with trustme. Once both
listeners accept connections it prints one line, "READY <plain_port> <tls_port> <ca_pem_path>",
and flushes stdout. The TLS port serves the same peers as the plain one, over TLS with a
certificate for 127.0.0.1 signed by that CA. It runs until stdin reaches EOF (the test closes
it) or it is killed, and then removes the CA.

Each peer does the handshake itself (blocking sockets, one thread per connection), answers 101,
and then breaks the rules on purpose. The request path picks the behaviour; `id=X` names a
record.

  /finrst?id=X         sends the text "go", then after 100 ms FIN (shutdown SHUT_WR) and at once
                       RST (SO_LINGER 0 + close): a client write due after that gets EPIPE,
                       which kills a process that lets SIGPIPE through.
  /sink?id=X           never reads. With after=MS: after MS ms, FIN (if fin=1) and RST.
                       Without: waits (at most 60 s) for /reset?id=X, then RST. Record:
                       {"unread" (bytes waiting in its receive queue just before the RST), "end"}
  /reset?id=X          makes /sink?id=X reset now; sends one text message, the JSON record of X,
                       then closes (1000)
  /pingflood?id=X&ms=N&read=R
                       never reads while it sends 2-byte pings for N ms (default 2000), then one
                       ping "last-ping", then the text "flood done". With read=1 it then reads:
                       counts pongs, answers the close frame. Record: {"pings", "pongs",
                       "last_pong", "close_code", "end"}. With read=0 it never reads.
  /tenpings            sends ten pings ("payload-0" to "payload-9") in one write, reads up to
                       ten pongs, then sends the text {"pongs": "<their payloads, comma-separated>"}
                       and closes (1000)
  /bigframe?id=X&len=N announces a binary frame of N bytes (default 2^62), sends 100 bytes of it,
                       waits 200 ms and closes (FIN). With deflate=1 it first agrees to
                       permessage-deflate and sends the compressed text "hello, inflater".
  /report?id=X         sends one text message: the JSON record of X (waits up to 15 s), closes
"""
import json
import os
import socket
import socketserver
import ssl
import struct
import sys
import tempfile
import termios
import fcntl
import threading
import zlib
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers_faults as pf  # noqa: E402  (framing, handshake and records are shared)

resets = {}  # id -> threading.Event
resets_lock = threading.Lock()


def reset_event(rid):
    with resets_lock:
        return resets.setdefault(rid, threading.Event())


def rst(sock):
    """Drops the connection with a RST (SO_LINGER 0), whatever is unread."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def unread_bytes(sock):
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


def fin_then_rst(sock):
    """FIN, then at once RST: the client's kernel has both before libws looks (no read of the
    FIN comes first), and a write then fails with EPIPE."""
    sock.shutdown(socket.SHUT_WR)  # on an SSLSocket too: a plain FIN, no close_notify
    rst(sock)


def sink(sock, rid, query):
    after = query.get("after")
    if after is not None:
        threading.Event().wait(int(after) / 1000)
    elif not reset_event(rid).wait(60):
        pf.put_record(rid, {"end": "never reset"})
        return
    record = {"unread": unread_bytes(sock), "end": "reset sent"}
    if query.get("fin") == "1":
        fin_then_rst(sock)
    else:
        rst(sock)
    pf.put_record(rid, record)


def ping_flood(sock, rid, query):
    block = pf.frame(0x9, b"pi") * 16384  # 64 KiB of 2-byte pings
    pings = 0
    until = threading.Event()
    threading.Timer(int(query.get("ms", "2000")) / 1000, until.set).start()
    while not until.is_set():
        sock.sendall(block)
        pings += 16384
    sock.sendall(pf.frame(0x9, b"last-ping") + pf.frame(0x1, b"flood done"))
    pings += 1
    record = {"pings": pings, "pongs": 0, "last_pong": None, "close_code": None}
    if query.get("read") != "1":
        threading.Event().wait(30)  # never read; the client gives up on its own
        record["end"] = "not read"
        pf.put_record(rid, record)
        return
    try:
        while True:
            _, opcode, payload, _ = pf.read_frame(sock)
            if opcode == 0xA:
                record["pongs"] += 1
                record["last_pong"] = payload.decode("latin-1")
            elif opcode == 0x8:
                record["close_code"] = pf.close_code_of(payload)
                sock.sendall(pf.frame(0x8, payload[:2]))
                record["end"] = "close"
                break
    except pf.Closed as c:
        record["end"] = c.how
    except OSError:
        record["end"] = "reset"
    pf.put_record(rid, record)


def ten_pings(sock):
    """Autobahn 2.10: ten pings in one write; each must be answered, in order."""
    sock.sendall(b"".join(pf.frame(0x9, b"payload-%d" % i) for i in range(10)))
    pongs = []
    try:
        while len(pongs) < 10:
            _, opcode, payload, _ = pf.read_frame(sock)
            if opcode == 0xA:
                pongs.append(payload.decode("latin-1"))
    except (pf.Closed, OSError):
        pass
    pf.control_reply(sock, json.dumps({"pongs": ",".join(pongs)}, separators=(",", ":")))


def big_frame(sock, rid, query, deflate):
    if deflate:
        z = zlib.compressobj(wbits=-15)
        data = z.compress(b"hello, inflater") + z.flush(zlib.Z_SYNC_FLUSH)
        sock.sendall(bytes([0xC1]) + pf.frame(0x1, data[:-4])[1:])  # RSV1, tail dropped
        threading.Event().wait(0.1)
    length = int(query.get("len", str(1 << 62)))
    sock.sendall(pf.frame(0x2, b"\x42" * 100, length=length))  # the rest never comes
    threading.Event().wait(0.2)
    sock.shutdown(socket.SHUT_WR)
    record = {}
    pf.read_until_end(sock, record)
    pf.put_record(rid, record)


def switching(key, deflate):
    head = pf.switching(pf.accept_value(key))
    if deflate:
        head = head[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    return head


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(90)  # a stuck test must not leave threads behind forever
        if isinstance(sock, ssl.SSLSocket):
            try:
                sock.do_handshake()
            except (ssl.SSLError, OSError):
                return
        request = pf.read_request(sock)
        if request is None:
            return
        target, headers = request
        parts = urlsplit(target)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        rid = query.get("id", "")
        deflate = path == "/bigframe" and query.get("deflate") == "1"
        sock.sendall(switching(headers.get("sec-websocket-key", ""), deflate))

        if path == "/finrst":
            sock.sendall(pf.frame(0x1, b"go"))
            threading.Event().wait(0.1)
            fin_then_rst(sock)
            pf.put_record(rid, {"end": "reset sent"})
        elif path == "/sink":
            sink(sock, rid, query)
        elif path == "/reset":
            reset_event(rid).set()
            record = pf.get_record(rid, 15)
            pf.control_reply(sock, json.dumps(record if record is not None else {"missing": True},
                                              separators=(",", ":"), sort_keys=True))
        elif path == "/pingflood":
            ping_flood(sock, rid, query)
        elif path == "/tenpings":
            ten_pings(sock)
        elif path == "/bigframe":
            big_frame(sock, rid, query, deflate)
        elif path == "/report":
            record = pf.get_record(rid, 15)
            pf.control_reply(sock, json.dumps(record if record is not None else {"missing": True},
                                              separators=(",", ":"), sort_keys=True))
        else:
            sock.sendall(pf.frame(0x8, struct.pack("!H", 4404) + b"unknown path"))


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    context = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.context is not None:
            # The TLS handshake runs in the connection's own thread (Handler.handle).
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


def main():
    import trustme

    with tempfile.TemporaryDirectory(prefix="peers_hostile.") as tmp:
        ca = trustme.CA()
        ca_path = os.path.join(tmp, "ca.pem")
        ca.cert_pem.write_to_path(ca_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)

        plain = Server(("127.0.0.1", 0), Handler)
        tls = Server(("127.0.0.1", 0), Handler)
        tls.context = context
        for server in (plain, tls):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"READY {plain.server_address[1]} {tls.server_address[1]} {ca_path}", flush=True)
        sys.stdin.buffer.read()  # until the test closes our stdin
        plain.shutdown()
        tls.shutdown()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    os._exit(0)  # do not wait for peer threads still blocked in recv
