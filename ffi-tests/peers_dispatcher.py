"""Peers for ffi-tests/test_dispatcher.c (a host that stalls: back-pressure and pings).

    peers_dispatcher.py

Binds only 127.0.0.1, port 0; prints "READY <port>" once it accepts, and exits when its stdin
closes (ffi-tests/peer_process.h). A WebSocket server
(websockets, no compression, no keepalive of its own) whose behaviour is chosen by the path:

  /flood?bytes=N&size=S  send N bytes as binary messages of S bytes, as fast as the client takes
                         them (websockets waits while the socket buffers are full: TCP
                         back-pressure), then a ping, then, once the pong came, the text message
                         "done pong_ms=<ms from ping to pong>" (-1 if none came within 30 s)
  /ping?after=M          wait M ms, ping, then send "pong_ms=<ms from ping to pong>" (-1: none
                         within 10 s)
  /echo                  echo every message
"""
import asyncio
import sys
import time
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def timed_ping(ws, timeout):
    start = time.monotonic()
    waiter = await ws.ping()
    try:
        await asyncio.wait_for(waiter, timeout)
    except asyncio.TimeoutError:
        return -1
    return int((time.monotonic() - start) * 1000)


async def handler(ws):
    parts = urlsplit(ws.request.path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    try:
        if parts.path == "/flood":
            total, size = int(query.get("bytes", "0")), int(query.get("size", "65536"))
            chunk = bytes(i % 251 for i in range(size))
            sent = 0
            while sent < total:
                n = min(size, total - sent)
                await ws.send(chunk[:n])
                sent += n
            pong_ms = await timed_ping(ws, 30)
            await ws.send(f"done pong_ms={pong_ms}")
        elif parts.path == "/ping":
            await asyncio.sleep(int(query.get("after", "0")) / 1000)
            pong_ms = await timed_ping(ws, 10)
            await ws.send(f"pong_ms={pong_ms}")
        elif parts.path == "/echo":
            async for message in ws:
                await ws.send(message)
            return
        await ws.wait_closed()
    except ConnectionClosed:
        pass


async def main():
    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
