"""The loopback peers for the libws C integration tests.

    server.py WS_PORT [SILENT_PORT]

Binds only 127.0.0.1. A port of 0 picks a free one. Once every listener accepts connections it
prints one line, "READY <ws_port> <silent_port>", and flushes stdout (run.sh and the C tests that
start their own copy wait for that line).

The WebSocket server picks its behaviour from the request path:

  /echo                  echo every message back with the same type (text or binary), any size;
                         permessage-deflate when the client offers it (websockets' defaults)
  /headers               send one text message: JSON {"path", "headers" (lower-case names),
                         "protocol"}; the response carries "X-Test-Server: libws-ffi-tests";
                         subprotocol: the first one the client offers among "chat"/"superchat"
  /force-protocol?p=X    answer the handshake with "Sec-WebSocket-Protocol: X" whatever the client
                         offered (a server that breaks the subprotocol rules)
  /reject                refuse the handshake with HTTP 403
  /close?code=N&reason=R close with code N and reason R right after the handshake
  /close-empty           close with an empty close frame (no status code) right after the handshake
  /record?id=X           count the messages received and, when the client closes, record the close
                         code and reason it sent under X
  /report?id=X           send one text message: JSON {"code", "reason", "messages"} recorded for X
                         (waits up to 10 s for X to be recorded; {"code": null} if it never is)
  anything else          close with 4404 "unknown path"

The silent peer (SILENT_PORT) is not a WebSocket server: it accepts TCP connections and never
answers, to test connect timeouts and closing while CONNECTING.
"""
import asyncio
import json
import sys
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

SERVER_PROTOCOLS = ["chat", "superchat"]

# /record results: id -> {"code", "reason", "messages"}; set once the client's close arrived.
records = {}
record_added = asyncio.Event()


def split_path(ws_or_request_path):
    parts = urlsplit(ws_or_request_path)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return parts.path, query


def select_subprotocol(connection, offered):
    # websockets' default refuses clients that offer nothing; we accept them without a protocol.
    # /force-protocol sets its header in process_response instead.
    for protocol in offered:
        if protocol in SERVER_PROTOCOLS:
            return protocol
    return None


def process_request(connection, request):
    path, _ = split_path(request.path)
    if path == "/reject":
        return connection.respond(403, "forbidden\n")
    return None


def process_response(connection, request, response):
    path, query = split_path(request.path)
    if path == "/headers":
        response.headers["X-Test-Server"] = "libws-ffi-tests"
    elif path == "/force-protocol":
        # Overwrite whatever was negotiated: the client must refuse a protocol it did not offer.
        if "Sec-WebSocket-Protocol" in response.headers:
            del response.headers["Sec-WebSocket-Protocol"]
        response.headers["Sec-WebSocket-Protocol"] = query.get("p", "chat")
    return None


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def headers(ws):
    seen = {}
    for name, value in ws.request.headers.raw_items():
        seen.setdefault(name.lower(), []).append(value)
    body = {
        "path": ws.request.path,
        "headers": {name: ", ".join(values) for name, values in seen.items()},
        "protocol": ws.subprotocol,
    }
    # Compact, sorted JSON so the C side can look for exact substrings like "x-token":"abc".
    await ws.send(json.dumps(body, separators=(",", ":"), sort_keys=True))
    await ws.wait_closed()


async def record(ws, record_id):
    messages = 0
    try:
        async for _ in ws:
            messages += 1
    except ConnectionClosed:
        pass  # any close code other than 1000/1001 ends the loop this way
    # The loop ends once the connection closed: close_rcvd is the client's close frame (None if
    # the connection dropped without one).
    rcvd = ws.protocol.close_rcvd
    records[record_id] = {
        "code": rcvd.code if rcvd is not None else None,
        "reason": rcvd.reason if rcvd is not None else None,
        "messages": messages,
    }
    record_added.set()


async def report(ws, record_id):
    loop = asyncio.get_running_loop()
    until = loop.time() + 10
    while record_id not in records and loop.time() < until:
        record_added.clear()
        try:
            await asyncio.wait_for(record_added.wait(), timeout=max(0.01, until - loop.time()))
        except asyncio.TimeoutError:
            pass
    result = records.get(record_id, {"code": None, "reason": None, "messages": None})
    await ws.send(json.dumps(result, separators=(",", ":"), sort_keys=True))
    await ws.wait_closed()


async def handler(ws):
    try:
        await route(ws)
    except ConnectionClosed:
        pass  # the client closed with a code other than 1000/1001, or vanished: not an error here


async def route(ws):
    path, query = split_path(ws.request.path)
    if path == "/echo":
        await echo(ws)
    elif path in ("/headers", "/force-protocol"):
        await headers(ws)
    elif path == "/close":
        await ws.close(int(query.get("code", "1000")), query.get("reason", ""))
    elif path == "/close-empty":
        await ws.close(None)  # send_close(None): a close frame with no payload
    elif path == "/record":
        await record(ws, query.get("id", ""))
    elif path == "/report":
        await report(ws, query.get("id", ""))
    else:
        await ws.close(4404, "unknown path")


# The silent peer: holds each accepted connection open and never writes a byte.
silent_conns = []


async def silent(reader, writer):
    silent_conns.append(writer)
    try:
        while await reader.read(65536):
            pass  # read and drop the handshake request; never answer
    finally:
        writer.close()


async def main(ws_port, silent_port):
    async with serve(
        handler,
        "127.0.0.1",
        ws_port,
        max_size=None,
        # permessage-deflate only when the client offers it (ws_connect_options.per_message_deflate):
        # test_deflate.c checks /echo compresses; other tests offer nothing and get no extension.
        compression="deflate",
        select_subprotocol=select_subprotocol,
        process_request=process_request,
        process_response=process_response,
        ping_interval=None,  # no server pings: tests count every frame the client sees
    ) as server:
        silent_server = await asyncio.start_server(silent, "127.0.0.1", silent_port)
        ws_bound = server.sockets[0].getsockname()[1]
        silent_bound = silent_server.sockets[0].getsockname()[1]
        print(f"READY {ws_bound} {silent_bound}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    ws_port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    silent_port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    try:
        asyncio.run(main(ws_port, silent_port))
    except KeyboardInterrupt:
        pass
