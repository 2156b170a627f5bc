"""The counting server for ffi-tests/stress.c.

    stress_server.py [PORT]

Binds only 127.0.0.1 (PORT 0, the default, picks a free one), prints "READY <port>" once it
accepts connections, and runs until stdin reaches EOF (so it never outlives the stress program
that started it) or it is killed.

  /stress/<n>   counts every message of connection n and sums crc32(payload) (text as UTF-8)
                modulo 2**64, in any order; echoes messages of up to 1 KiB back. When the
                connection is over it records "<n> <count> <crc sum> <close code or 0>".
                One connection in ten (n % 10 == 7) is dropped abruptly (TCP abort, no close
                frame) after 1-40 messages, so that the client sees sends fail after they were
                accepted.
  /stats        waits until no /stress connection is active (up to 20 s), then sends one text
                message: "active <k>\\n" then one record line per connection, and closes.
"""
import asyncio
import sys
import zlib

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

records = {}
active = 0


async def stress(ws, n):
    global active
    active += 1
    count, total = 0, 0
    drop_after = (n * 7919) % 40 + 1 if n % 10 == 7 else None
    try:
        try:
            async for message in ws:
                data = message.encode() if isinstance(message, str) else message
                count += 1
                total = (total + zlib.crc32(data)) & 0xFFFFFFFFFFFFFFFF
                if count == drop_after:
                    # Keep reading: messages the protocol layer already took in still count
                    # (the close handshake may even have completed before this handler got here).
                    ws.transport.abort()
                if len(data) <= 1024:
                    try:
                        await ws.send(message)
                    except ConnectionClosed:
                        pass  # keep counting what was received before the close
        except ConnectionClosed:
            pass
        rcvd = ws.protocol.close_rcvd
        records[n] = (count, total, rcvd.code if rcvd is not None else 0)
    finally:
        active -= 1


async def stats(ws):
    loop = asyncio.get_running_loop()
    until = loop.time() + 20
    quiet_since = None
    while loop.time() < until:
        if active == 0:
            quiet_since = quiet_since or loop.time()
            if loop.time() - quiet_since >= 0.3:
                break
        else:
            quiet_since = None
        await asyncio.sleep(0.05)
    lines = [f"active {active}"]
    lines += [f"{n} {c} {s} {code}" for n, (c, s, code) in sorted(records.items())]
    await ws.send("\n".join(lines) + "\n")
    await ws.close()


async def handler(ws):
    path = ws.request.path
    try:
        if path.startswith("/stress/"):
            await stress(ws, int(path[len("/stress/"):]))
        elif path == "/stats":
            await stats(ws)
        else:
            await ws.close(4404, "unknown path")
    except ConnectionClosed:
        pass


async def main(port):
    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None, ping_interval=None) as server:
        print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
    except KeyboardInterrupt:
        pass
