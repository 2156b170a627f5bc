"""Misbehaving WebSocket peers for ffi-tests/test_peer_faults.c (libws fault tolerance).

    peers_faults.py [RAW_PORT [WS_PORT]]

Binds only 127.0.0.1; a port of 0 (the default) picks a free one. Once both listeners accept
connections it prints one line, "READY <raw_port> <ws_port>", and flushes stdout. It runs until
killed or until stdin reaches EOF (so it never outlives a test that forgot it).

WS_PORT is a normal `websockets` server: every path echoes each message back with its type; it
never pings on its own, so the client's heartbeat pings are the only pings (and websockets answers
them with pongs).

RAW_PORT is a hand-written peer (blocking sockets, one thread per connection) that does the
handshake itself, so it can break the rules on purpose. The request path picks the behaviour;
`id=X` names a record that `/report?id=X` hands back as JSON once the connection is over.

  /silent?id=X       handshake, then never sends a byte; reads and counts what arrives. Record:
                     {"pings", "close_code" (the client's close frame or null), "end"}
  /pong?id=X         answers pings with pongs, echoes text/binary, answers a close frame.
                     Record: {"pings", "messages", "close_code", "end"}
  /stall?id=X        handshake, then stops reading until /release?id=X (bounded: 60 s); then reads
                     everything, answers pings and the close frame. Record: {"count", "crc"
                     (zlib.crc32 over every message payload in arrival order), "seqs" (the first 4
                     bytes of each message, big-endian, comma-separated), "close_code", "end"}
  /release?id=X      lets /stall?id=X start reading; sends the text "released" and closes (1000)
  /big?id=X&size=N   sends one binary message of N bytes (one frame), then reads; answers a close.
                     Record: {"close_code", "sent_all", "end"}
  /rst?id=X          sends the first half of a 1000-byte binary frame, waits 300 ms, then resets
                     the connection (SO_LINGER 0 + close). Record: {"end"}
  /fin?id=X          sends the text "bye", then closes TCP (FIN) without a close frame.
                     Record: {"close_code", "end"}
  /bad-accept?id=X   answers 101 with a wrong Sec-WebSocket-Accept. Record: {"end"}
  /http200?id=X      answers "HTTP/1.1 200 OK" with a small body and closes. Record: {"end"}
  /masked?id=X       after the handshake sends a MASKED text frame (servers must not mask).
                     Record: {"close_code", "end"}
  /reserved?id=X&op=N  after the handshake sends a frame with reserved opcode N (default 3).
                     Record: {"close_code", "end"}
  /report?id=X       sends one text message: the JSON record of X (waits up to 15 s for it;
                     {"missing": true} if it never comes), then closes (1000)

"end" says how the connection ended from the peer's side: "close" (a close frame arrived and was
answered; peers that never answer keep reading after it),
"eof" (FIN without a close frame), "reset" (ECONNRESET) or "timeout".
"""
import asyncio
import base64
import hashlib
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import zlib
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

records = {}
records_cv = threading.Condition()
releases = {}  # id -> threading.Event
releases_lock = threading.Lock()


def release_event(rid):
    with releases_lock:
        return releases.setdefault(rid, threading.Event())


def put_record(rid, record):
    with records_cv:
        records[rid] = record
        records_cv.notify_all()


def get_record(rid, timeout):
    with records_cv:
        records_cv.wait_for(lambda: rid in records, timeout=timeout)
        return records.get(rid)


class Closed(Exception):
    def __init__(self, how):
        super().__init__(how)
        self.how = how


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except ConnectionResetError:
            raise Closed("reset")
        except socket.timeout:
            raise Closed("timeout")
        if not chunk:
            raise Closed("eof")
        buf += chunk
    return bytes(buf)


def read_frame(sock):
    """(fin, opcode, payload, masked); raises Closed."""
    b0, b1 = recv_exact(sock, 2)
    fin, opcode, masked, length = bool(b0 & 0x80), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", recv_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", recv_exact(sock, 8))
    key = recv_exact(sock, 4) if masked else None
    payload = recv_exact(sock, length) if length else b""
    if key:
        payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if length < 4096 else unmask_fast(payload, key)
    return fin, opcode, payload, masked


def unmask_fast(payload, key):
    n = len(payload)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, mask_key=None, length=None):
    """One frame as bytes; `length` overrides the length field (for a truncated frame)."""
    n = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if mask_key else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if mask_key:
        head += mask_key
        payload = bytes(b ^ mask_key[i & 3] for i, b in enumerate(payload))
    return bytes(head) + payload


def close_code_of(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def read_request(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > 65536:
            return None
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return parts[1] if len(parts) > 1 else "/", headers


def accept_value(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def switching(accept):
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode()


def read_until_end(sock, record, answer_close=False, answer_pings=False, echo=False):
    """Reads frames until the connection ends; notes pings, messages and the close code."""
    record.setdefault("pings", 0)
    record.setdefault("messages", 0)
    record.setdefault("close_code", None)
    try:
        while True:
            fin, opcode, payload, _ = read_frame(sock)
            if opcode == 0x9:
                record["pings"] += 1
                if answer_pings:
                    sock.sendall(frame(0xA, payload))
            elif opcode == 0x8:
                record["close_code"] = close_code_of(payload)
                if answer_close:
                    sock.sendall(frame(0x8, payload[:2]))
                    record["end"] = "close"
                    return
                # Never answer: keep the connection open until the client drops it.
            elif opcode in (0x1, 0x2, 0x0):
                if fin:
                    record["messages"] += 1
                if echo:
                    sock.sendall(frame(opcode, payload, fin))
    except Closed as c:
        record["end"] = c.how
    except OSError:
        record["end"] = "reset"


def control_reply(sock, text):
    """Sends one text message, then a close frame (1000), then waits for the client's close."""
    sock.sendall(frame(0x1, text.encode()) + frame(0x8, struct.pack("!H", 1000)))
    try:
        while True:
            _, opcode, _, _ = read_frame(sock)
            if opcode == 0x8:
                return
    except (Closed, OSError):
        pass


def stall(sock, rid):
    if not release_event(rid).wait(60):
        put_record(rid, {"end": "never released"})
        return
    count, crc, seqs, parts = 0, 0, [], []
    record = {"close_code": None}
    try:
        while True:
            fin, opcode, payload, _ = read_frame(sock)
            if opcode == 0x9:
                sock.sendall(frame(0xA, payload))
            elif opcode == 0x8:
                record["close_code"] = close_code_of(payload)
                sock.sendall(frame(0x8, payload[:2]))
                record["end"] = "close"
                break
            elif opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if fin:
                    message = b"".join(parts)
                    parts = []
                    count += 1
                    crc = zlib.crc32(message, crc)
                    seqs.append(str(struct.unpack("!I", message[:4])[0]) if len(message) >= 4 else "short")
    except Closed as c:
        record["end"] = c.how
    except OSError:
        record["end"] = "reset"
    record.update({"count": count, "crc": crc, "seqs": ",".join(seqs)})
    put_record(rid, record)


class RawHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(90)  # a stuck test must not leave threads behind forever
        request = read_request(sock)
        if request is None:
            return
        target, headers = request
        parts = urlsplit(target)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        rid = query.get("id", "")
        key = headers.get("sec-websocket-key", "")

        if path == "/http200":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n")
            put_record(rid, {"end": "answered"})
            return
        if path == "/bad-accept":
            sock.sendall(switching(accept_value(key + "x")))
            record = {}
            read_until_end(sock, record)
            put_record(rid, record)
            return

        sock.sendall(switching(accept_value(key)))

        if path == "/silent":
            record = {}
            read_until_end(sock, record)
            put_record(rid, record)
        elif path == "/pong":
            record = {}
            read_until_end(sock, record, answer_close=True, answer_pings=True, echo=True)
            put_record(rid, record)
        elif path == "/stall":
            stall(sock, rid)
        elif path == "/release":
            release_event(rid).set()
            control_reply(sock, "released")
        elif path == "/report":
            record = get_record(rid, 15)
            control_reply(sock, json.dumps(record if record is not None else {"missing": True},
                                           separators=(",", ":"), sort_keys=True))
        elif path == "/big":
            size = int(query.get("size", "102400"))
            record = {"sent_all": False}
            reader = threading.Thread(target=read_until_end, args=(sock, record, True))
            reader.start()  # read while writing: the client's close frame may come mid-message
            try:
                sock.sendall(frame(0x2, bytes(i & 0xFF for i in range(size))))
                record["sent_all"] = True
            except OSError:
                pass
            reader.join()
            put_record(rid, record)
        elif path == "/rst":
            sock.sendall(frame(0x2, b"\x55" * 500, length=1000))
            threading.Event().wait(0.3)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            put_record(rid, {"end": "reset sent"})
        elif path == "/fin":
            sock.sendall(frame(0x1, b"bye"))
            threading.Event().wait(0.1)
            sock.shutdown(socket.SHUT_WR)
            record = {}
            read_until_end(sock, record)
            put_record(rid, record)
        elif path == "/masked":
            sock.sendall(frame(0x1, b"hello", mask_key=b"\x11\x22\x33\x44"))
            record = {}
            read_until_end(sock, record)
            put_record(rid, record)
        elif path == "/reserved":
            sock.sendall(frame(int(query.get("op", "3")), b"x"))
            record = {}
            read_until_end(sock, record)
            put_record(rid, record)
        else:
            sock.sendall(frame(0x8, struct.pack("!H", 4404) + b"unknown path"))


class RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def main(raw_port, ws_port):
    raw = RawServer(("127.0.0.1", raw_port), RawHandler)
    threading.Thread(target=raw.serve_forever, daemon=True).start()
    async with serve(echo, "127.0.0.1", ws_port, max_size=None, compression=None, ping_interval=None) as server:
        print(f"READY {raw.server_address[1]} {server.sockets[0].getsockname()[1]}", flush=True)
        # Stop when the parent goes away (stdin closes) or on a signal.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.buffer.read)
    raw.shutdown()


if __name__ == "__main__":
    raw_port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    ws_port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    try:
        asyncio.run(main(raw_port, ws_port))
    except KeyboardInterrupt:
        pass
    os._exit(0)  # do not wait for peer threads still blocked in recv
