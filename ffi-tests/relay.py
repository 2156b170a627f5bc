"""A TCP relay on 127.0.0.1 for tests that need a network path they can break or slow down.

    relay.py [RELAY_PORT [CONTROL_PORT]]

Forwards every connection to RELAY_PORT to the port of $RELAY_TARGET (a URL or a port; default
$WS_BASE, the test server), adding $RELAY_DELAY_MS (default 0) of one-way delay to each chunk in
each direction, in order.

A relayed path also charges TCP's own handshake: with one-way delay d, a real connect completes
after one round trip (2d) and the client's first bytes reach the server at 3d. The kernel
completes the client's connect to the relay at once (a local SYN cannot be delayed) and the relay's
connect upstream is local too, so instead the relay forwards no client byte before 2d after the
accept: client-to-server chunks are delivered at max(arrival, accept + 2d) + d. Round trips from
the client's connect to a reply are then what the path would cost (ws:// open: 2 RTT), though the
client sees its connect finish at once and the TCP round trip shows up in what it sends first. Prints "READY <relay_port> <control_port>" once both listen; a port of
0 (the default) picks a free one. Exits when stdin reaches EOF.

CONTROL_PORT takes one command line per connection and answers "ok <n>":
  freeze     every connection relayed so far stops forwarding in both directions, silently: its
             sockets stay open and nothing is closed, like a phone whose network went away
             (n: the connections frozen). Connections made later are relayed normally.
"""

import asyncio
import os
import sys


class Path:
    """One relayed connection: two directions that forward until frozen."""

    def __init__(self):
        self.frozen = asyncio.Event()


async def pipe(reader, writer, path, delay, not_before=0.0):
    """Forwards reader to writer, each chunk `delay` after it arrived, or after not_before."""
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)
            if path.frozen.is_set():
                await asyncio.Event().wait()  # hold it forever: the path is dead
            if data is None:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            due = max(asyncio.get_running_loop().time(), not_before) + delay
            if path.frozen.is_set():
                if not data:
                    await asyncio.Event().wait()  # the other end's close is lost too
                continue  # swallowed
            queue.put_nowait((due, data or None))
            if not data:
                break
        await sender
    except (ConnectionError, asyncio.CancelledError):
        sender.cancel()
        writer.close()


async def main():
    relay_port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    control_port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    target = os.environ.get("RELAY_TARGET") or os.environ["WS_BASE"]
    target_port = int(target.rstrip("/").rsplit(":", 1)[-1].split("/")[0])
    delay = int(os.environ.get("RELAY_DELAY_MS", "0")) / 1000.0
    paths = []

    async def relay(client_reader, client_writer):
        path = Path()
        paths.append(path)
        established = asyncio.get_running_loop().time() + 2 * delay  # TCP's round trip
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, server_writer, path, delay, established),
            pipe(server_reader, client_writer, path, delay),
            return_exceptions=True,
        )

    async def control(reader, writer):
        line = (await reader.readline()).decode().strip()
        if line == "freeze":
            for p in paths:
                p.frozen.set()
            writer.write(f"ok {len(paths)}\n".encode())
        else:
            writer.write(b"unknown command\n")
        await writer.drain()
        writer.close()

    relay_server = await asyncio.start_server(relay, "127.0.0.1", relay_port)
    control_server = await asyncio.start_server(control, "127.0.0.1", control_port)
    print(
        "READY", relay_server.sockets[0].getsockname()[1], control_server.sockets[0].getsockname()[1], flush=True
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
