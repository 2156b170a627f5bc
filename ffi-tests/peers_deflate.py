"""A raw permessage-deflate (RFC 7692) peer for ffi-tests/test_deflate.c.

    peers_deflate.py [PORT]

Binds only 127.0.0.1; a port of 0 (the default) picks a free one. Once it accepts connections it
prints one line, "READY <port>", and flushes stdout. It runs until killed or until stdin reaches
EOF (so it never outlives the test that started it).

No WebSocket library: the handshake, framing and compression are written here (asyncio + zlib), so
the peer can answer with any Sec-WebSocket-Extensions value, see exactly which bits the client set
and send frames no library would. Every response to a handshake carries
`X-Seen-Extensions: <the request's Sec-WebSocket-Extensions lines, joined with " | ", or "-">`.
The request path picks the behaviour; `id=X` names a record that `/report?id=X` hands back as JSON
once the connection is over.

  /answer?id=X&ext=V   answers the handshake with "Sec-WebSocket-Extensions: V" (V url-encoded;
                       ext may be repeated: one header line each; no ext: no header). When the
                       answer starts with permessage-deflate the peer treats the connection as
                       negotiated with the parameters of V: every message that arrives with RSV1 is
                       inflated (window client_max_window_bits, a fresh inflater per message with
                       client_no_context_takeover), and each message is echoed with its type,
                       compressed (RSV1) with the server_* parameters of V. Without deflate it
                       echoes plainly. Answers pings and the close frame.
                       Record: {"offer" (the request's header lines joined with " | ", or "-"),
                       "offer_lines", "messages", "rsv1" (messages with RSV1), "plain" (without),
                       "kinds" ("t"/"b" per message), "inflate_errors", "error" (the first, text),
                       "close_code", "end"}
  /bomb?id=X&mib=N&kind=text|binary
                       negotiates "permessage-deflate", then sends ONE frame, RSV1 set, whose
                       payload is N MiB (default 256) of zero bytes, raw-deflated (wbits -15, sync
                       flush, trailing 00 00 ff ff removed); keeps reading meanwhile. Record:
                       {"close_code", "sent_all", "compressed_len", "end"}
  /corrupt?id=X        negotiates, then sends an RSV1 text frame whose payload is not deflate data
                       (a reserved block type). Record: {"close_code", "end"}
  /over-limit-then-corrupt?id=X&n=N  negotiates, then sends an RSV1 binary frame whose payload
                       inflates to N bytes of "a" and then holds a reserved block type. Record
                       as /corrupt
  /invalid-text-over-limit?id=X&n=N&write=K
                       negotiates, then sends an RSV1 text frame whose payload inflates to one
                       invalid UTF-8 byte (0xff) and then N bytes of "a": text that is both
                       invalid and, for a limit under N, too big (fixed Huffman codes, so the
                       first 2 payload bytes inflate to the 0xff alone). write=0 sends the frame
                       in one write; write=K its first K bytes, then (unless the client's close
                       arrives within 0.3 s, which is recorded) the rest, so the client reads and
                       inflates the first K bytes alone (TCP_NODELAY). Record as /corrupt
  /rsv1-plain?id=X     does NOT negotiate (no extension header, whatever the offer), then sends a
                       text frame "hello" with RSV1 set. Record: {"close_code", "end"}
  /rsv1-continuation?id=X  negotiates, then sends a fragmented compressed message whose
                       continuation frame also has RSV1 set (only the first frame may). Record as
                       /corrupt
  /rsv1-ping?id=X      negotiates, then sends a ping with RSV1 set (control frames must not).
                       Record as /corrupt
  /fragmented?id=X&n=K negotiates, then sends one compressed text message (the JSON-like text of
                       /fragmented-text below) split into K frames (first RSV1 + opcode text, the
                       rest continuations), then a second compressed message "after" in one frame;
                       then echoes like /answer. Record like /answer
                       (with K > 1 a ping sits between the first and second fragment)
  /bfinal?id=X         negotiates, then sends three compressed text messages, FRAGMENTED_TEXT,
                       "second", FRAGMENTED_TEXT, each a deflate stream of its own ended with a
                       BFINAL block (zlib Z_FINISH; RFC 7692 7.2.3.3); then echoes like /answer
  /report?id=X         sends one text message: the JSON record of X (waits up to 15 s for it;
                       {"missing": true} if it never comes), then closes (1000)

The text that /fragmented sends is FRAGMENTED_TEXT below; test_deflate.c builds the same bytes.

"end" says how the connection ended from the peer's side: "close" (a close frame arrived and was
answered), "eof" (FIN without a close frame), "reset" or "timeout".
"""
import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import zlib
from urllib.parse import parse_qs, urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TAIL = b"\x00\x00\xff\xff"
# 40 lines of JSON-like text (test_deflate.c: fragmented_text()).
FRAGMENTED_TEXT = "".join('{"seq":%d,"name":"fragment","ok":true}\n' % i for i in range(40)).encode()

records = {}
record_added = None  # asyncio.Condition, created in main()
bombs = {}  # mib -> compressed payload (the 256 MiB one takes a second to build)


async def put_record(rid, record):
    async with record_added:
        records[rid] = record
        record_added.notify_all()


async def get_record(rid, timeout):
    async with record_added:
        try:
            await asyncio.wait_for(record_added.wait_for(lambda: rid in records), timeout)
        except asyncio.TimeoutError:
            pass
        return records.get(rid)


class Closed(Exception):
    def __init__(self, how):
        super().__init__(how)
        self.how = how


async def recv_exact(reader, n):
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        raise Closed("eof")
    except ConnectionResetError:
        raise Closed("reset")


def unmask(payload, key):
    n = len(payload)
    if n == 0:
        return payload
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")


async def read_frame(reader):
    """(fin, rsv1, opcode, payload); raises Closed."""
    b0, b1 = await recv_exact(reader, 2)
    fin, rsv1, opcode, masked, length = bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await recv_exact(reader, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await recv_exact(reader, 8))
    key = await recv_exact(reader, 4) if masked else None
    payload = await recv_exact(reader, length) if length else b""
    if key:
        payload = unmask(payload, key)
    return fin, rsv1, opcode, payload


def frame(opcode, payload=b"", fin=True, rsv1=False):
    head = bytearray([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(n)
    elif n < 65536:
        head.append(126)
        head += struct.pack("!H", n)
    else:
        head.append(127)
        head += struct.pack("!Q", n)
    return bytes(head) + payload


def close_code_of(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def deflate_raw(data, wbits=15, level=6, fixed=False):
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits, 8, zlib.Z_FIXED if fixed else zlib.Z_DEFAULT_STRATEGY)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(TAIL) else out


def parse_extension(value):
    """The parameters of a permessage-deflate answer (lenient: the peer's own answer), or None."""
    first = value.split(",")[0]
    parts = [p.strip() for p in first.split(";")]
    if parts[0].lower() != "permessage-deflate":
        return None
    params = {}
    for p in parts[1:]:
        if "=" in p:
            name, v = p.split("=", 1)
            params[name.strip().lower()] = v.strip().strip('"')
        elif p:
            params[p.lower()] = True

    def bits(name):
        v = params.get(name)
        try:
            return int(v) if v not in (None, True) else 15
        except ValueError:
            return 15

    return {
        "server_no_context_takeover": "server_no_context_takeover" in params,
        "client_no_context_takeover": "client_no_context_takeover" in params,
        "server_max_window_bits": bits("server_max_window_bits"),
        "client_max_window_bits": bits("client_max_window_bits"),
    }


class Deflate:
    """The server side of one negotiated connection."""

    def __init__(self, p):
        self.p = p
        self.inflater = None
        self.deflater = None

    def inflate(self, data):
        if self.inflater is None or self.p["client_no_context_takeover"]:
            # A window no larger than the client may use: data that reaches further back fails.
            self.inflater = zlib.decompressobj(-max(9, self.p["client_max_window_bits"]))
        # Small output pieces: zlib checks a back-reference against its window only when it
        # reaches before the current output buffer, so a whole-message buffer would accept
        # distances beyond client_max_window_bits.
        out, buf = bytearray(), data + TAIL
        while True:
            piece = self.inflater.decompress(buf, 256)
            out += piece
            buf = self.inflater.unconsumed_tail
            if not buf and len(piece) < 256:
                return bytes(out)

    def deflate(self, data):
        # zlib refuses a raw 8-bit window; 9 is what it uses for 8 anyway.
        wbits = max(9, self.p["server_max_window_bits"])
        if self.deflater is None or self.p["server_no_context_takeover"]:
            self.deflater = zlib.compressobj(6, zlib.DEFLATED, -wbits)
        out = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(TAIL) else out


async def read_request(reader):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionResetError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers = []
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip().lower(), value.strip()))
    return (parts[1] if len(parts) > 1 else "/"), headers


def accept_value(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def switching(key, seen, extensions=()):
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_value(key)}",
        f"X-Seen-Extensions: {seen}",
    ]
    lines += [f"Sec-WebSocket-Extensions: {e}" for e in extensions]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def serve_messages(reader, writer, record, deflate, echo=True):
    """Reads frames until the connection ends; inflates, counts and echoes messages."""
    record.update({"messages": 0, "rsv1": 0, "plain": 0, "kinds": "", "inflate_errors": 0, "error": None,
                   "close_code": None})
    parts, first_rsv1, opcode0 = [], False, 0
    try:
        while True:
            fin, rsv1, opcode, payload = await read_frame(reader)
            if opcode == 0x9:
                writer.write(frame(0xA, payload))
            elif opcode == 0xA:
                pass
            elif opcode == 0x8:
                record["close_code"] = close_code_of(payload)
                writer.write(frame(0x8, payload[:2]))
                await writer.drain()
                record["end"] = "close"
                return
            elif opcode in (0x1, 0x2, 0x0):
                if opcode != 0x0:
                    parts, first_rsv1, opcode0 = [], rsv1, opcode
                elif rsv1:
                    record["error"] = record["error"] or "RSV1 on a continuation frame"
                parts.append(payload)
                if not fin:
                    continue
                data = b"".join(parts)
                parts = []
                record["messages"] += 1
                record["kinds"] += "t" if opcode0 == 0x1 else "b"
                if first_rsv1:
                    record["rsv1"] += 1
                    if deflate is None:
                        record["error"] = record["error"] or "RSV1 without negotiation"
                        continue
                    try:
                        data = deflate.inflate(data)
                    except zlib.error as e:
                        record["inflate_errors"] += 1
                        record["error"] = record["error"] or f"message {record['messages']}: inflate: {e}"
                        continue
                else:
                    record["plain"] += 1
                if echo:
                    if deflate is not None:
                        writer.write(frame(opcode0, deflate.deflate(data), rsv1=True))
                    else:
                        writer.write(frame(opcode0, data))
                    await writer.drain()
    except Closed as c:
        record["end"] = c.how
    except (ConnectionError, OSError):
        record["end"] = "reset"


async def control_reply(reader, writer, text):
    """Sends one text message and a close frame (1000), then waits for the client's close."""
    writer.write(frame(0x1, text.encode()) + frame(0x8, struct.pack("!H", 1000)))
    await writer.drain()
    try:
        while True:
            _, _, opcode, _ = await read_frame(reader)
            if opcode == 0x8:
                return
    except (Closed, OSError):
        pass


def bomb_payload(mib):
    if mib not in bombs:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = bytes(1 << 20)
        out = bytearray()
        for _ in range(mib):
            out += c.compress(chunk)
        out += c.flush(zlib.Z_SYNC_FLUSH)
        bombs[mib] = bytes(out[:-4] if out.endswith(TAIL) else out)
    return bombs[mib]


async def handle(reader, writer):
    try:
        await route(reader, writer)
    except (ConnectionError, OSError, Closed):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def route(reader, writer):
    request = await read_request(reader)
    if request is None:
        return
    target, headers = request
    parts = urlsplit(target)
    path = parts.path
    multi = parse_qs(parts.query, keep_blank_values=True)
    query = {k: v[0] for k, v in multi.items()}
    rid = query.get("id", "")
    key = next((v for n, v in headers if n == "sec-websocket-key"), "")
    offers = [v for n, v in headers if n == "sec-websocket-extensions"]
    seen = " | ".join(offers) if offers else "-"

    if path == "/report":
        writer.write(switching(key, seen))
        record = await get_record(rid, 15)
        await control_reply(reader, writer, json.dumps(record if record is not None else {"missing": True},
                                                       separators=(",", ":"), sort_keys=True))
        return

    if path in ("/answer", "/fragmented", "/bfinal"):
        answers = multi.get("ext", []) if path == "/answer" else ["permessage-deflate"]
        writer.write(switching(key, seen, answers))
        p = parse_extension(answers[0]) if answers else None
        deflate = Deflate(p) if p else None
        record = {"offer": seen, "offer_lines": len(offers)}
        if path == "/fragmented":
            n = max(1, int(query.get("n", "3")))
            payload = deflate.deflate(FRAGMENTED_TEXT)
            size = (len(payload) + n - 1) // n
            pieces = [payload[i * size:(i + 1) * size] for i in range(n)]
            frames = [frame(0x1 if i == 0 else 0x0, piece, fin=i == n - 1, rsv1=i == 0) for i, piece in enumerate(pieces)]
            if n > 1:  # a control frame between the fragments
                frames.insert(1, frame(0x9, b"between"))
            writer.write(b"".join(frames) + frame(0x1, deflate.deflate(b"after"), rsv1=True))
        elif path == "/bfinal":
            # Each message its own deflate stream ended by a BFINAL block (RFC 7692 7.2.3.3),
            # the last one with an empty stored block after the final block.
            out = b""
            for text in (FRAGMENTED_TEXT, b"second", FRAGMENTED_TEXT):
                c = zlib.compressobj(6, zlib.DEFLATED, -15)
                out += frame(0x1, c.compress(text) + c.flush(zlib.Z_FINISH), rsv1=True)
            writer.write(out)
            await writer.drain()
        await serve_messages(reader, writer, record, deflate)
        await put_record(rid, record)
        return

    if path == "/close-rst":
        # Close first (1000 "bye"), take the client's answer, then abort with a TCP reset
        # (SO_LINGER 0) as autobahn's server does: the client must still report a clean 1000.
        writer.write(switching(key, seen))
        writer.write(frame(0x8, struct.pack("!H", 1000) + b"bye"))
        await writer.drain()
        try:
            while True:
                _, _, opcode, _ = await read_frame(reader)
                if opcode == 0x8:
                    break
        except (Closed, OSError):
            pass
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return

    if path == "/rsv1-plain":
        writer.write(switching(key, seen))
        writer.write(frame(0x1, b"hello", rsv1=True))
    else:
        writer.write(switching(key, seen, ["permessage-deflate"]))
        if path == "/bomb":
            mib = int(query.get("mib", "256"))
            payload = bomb_payload(mib)
            opcode = 0x1 if query.get("kind", "binary") == "text" else 0x2
            record = {"compressed_len": len(payload), "sent_all": False}

            async def send():
                try:
                    writer.write(frame(opcode, payload, rsv1=True))
                    await writer.drain()
                    record["sent_all"] = True
                except (ConnectionError, OSError):
                    pass

            sender = asyncio.ensure_future(send())
            await serve_messages(reader, writer, record, None, echo=False)
            await sender
            await put_record(rid, record)
            return
        if path == "/over-limit-then-corrupt":
            # The sync flush's empty stored block put back, then a block of reserved type 3.
            payload = deflate_raw(b"a" * int(query["n"])) + TAIL + b"\xff\xff"
            writer.write(frame(0x2, payload, rsv1=True))
        elif path == "/invalid-text-over-limit":
            data = frame(0x1, deflate_raw(b"\xff" + b"a" * int(query["n"]), fixed=True), rsv1=True)
            first = int(query.get("write", "0")) or len(data)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            writer.write(data[:first])
            await writer.drain()
            record = {}
            if first < len(data):
                # A client that fails on the first piece closes at once (and resets what it gets
                # after): take its close before sending the rest.
                try:
                    _, _, opcode, payload = await asyncio.wait_for(read_frame(reader), 0.3)
                    if opcode == 0x8:
                        record["close_code"] = close_code_of(payload)
                        record["end"] = "close"
                except asyncio.TimeoutError:
                    writer.write(data[first:])
                    await writer.drain()
            if "end" not in record:
                await serve_messages(reader, writer, record, None, echo=False)
            await put_record(rid, {"close_code": record.get("close_code"), "end": record.get("end")})
            return
        elif path == "/corrupt":
            writer.write(frame(0x1, b"\xff\xff\xff\xff garbage, not deflate \xff\xff", rsv1=True))
        elif path == "/rsv1-continuation":
            payload = deflate_raw(b"hello hello hello hello")
            writer.write(frame(0x1, payload[:3], fin=False, rsv1=True) + frame(0x0, payload[3:], rsv1=True))
        elif path == "/rsv1-ping":
            writer.write(frame(0x9, b"ping", rsv1=True))
        else:
            writer.write(frame(0x8, struct.pack("!H", 4404) + b"unknown path"))
    await writer.drain()
    record = {}
    await serve_messages(reader, writer, record, None, echo=False)
    await put_record(rid, {"close_code": record.get("close_code"), "end": record.get("end")})


async def main(port):
    global record_added
    record_added = asyncio.Condition()
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=1 << 16)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)  # until the parent goes away
    server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
    except KeyboardInterrupt:
        pass
    os._exit(0)
