"""A loopback echo server (Python websockets) for the demo: echoes each message with its type."""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(port):
    async with serve(echo, "127.0.0.1", port, max_size=None) as server:
        print(f"echo server on ws://127.0.0.1:{port}/", flush=True)
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
