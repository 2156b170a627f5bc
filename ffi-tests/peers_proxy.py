"""The proxies and servers of test_proxy.c.

    peers_proxy.py 0 0        (every port is picked by the system)

Starts, all on loopback:
  ws, wss        WebSocket echo servers (any path), each on 127.0.0.1 and ::1 with the same port,
                 so a proxy that resolves "localhost" to either reaches them; wss uses a trustme
                 certificate for localhost/127.0.0.1 whose CA it writes to $PROXY_DIR/ca.pem
  tinyproxy      Debian's tinyproxy (HTTP CONNECT to any port), no credentials
  tinyproxy_auth the same with BasicAuth user "libws" password "s3cret-pw"
  microsocks     Debian's microsocks (SOCKS5), no credentials
  microsocks_auth the same with -u libws -P s3cret
  hostile        our own proxy, HTTP or SOCKS5 (by the first byte), whose behaviour the target
                 host name picks:
                   HTTP CONNECT  407.hostile -> 407; 502.hostile -> 502; garbage.hostile -> binary
                                 junk; silence.hostile -> never answers; close.hostile -> closes;
                                 split.hostile -> "200" one byte at a time, then a real tunnel to
                                 the ws server; any other name -> 200 and a tunnel to the ws server
                   SOCKS5        repN.hostile -> reply code N; echo.libws.test (a name only this
                                 proxy knows) -> success and a tunnel to the ws server
Writes "name=port" lines to $PROXY_DIR/ports, prints "READY <hostile> <ws>", and exits (stopping
tinyproxy and microsocks) when stdin closes.
"""
import asyncio
import os
import signal
import socket
import subprocess
import sys

import trustme

DIR = os.environ["PROXY_DIR"]
children = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_accepting(port):
    for _ in range(100):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise SystemExit(f"nothing accepts on port {port}")


async def start_tinyproxy(name, auth):
    port = free_port()
    conf = os.path.join(DIR, name + ".conf")
    with open(conf, "w") as f:
        f.write(f"Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Critical\n")
        if auth:
            f.write("BasicAuth libws s3cret-pw\n")
    children.append(subprocess.Popen(["tinyproxy", "-d", "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(DIR, name + ".log"), "w")))
    await wait_accepting(port)
    return port


async def start_microsocks(auth):
    port = free_port()
    args = ["microsocks", "-i", "127.0.0.1", "-p", str(port)]
    if auth:
        args += ["-u", "libws", "-P", "s3cret"]
    children.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    await wait_accepting(port)
    return port


async def serve_echo(ssl_context):
    from websockets.asyncio.server import serve

    async def echo(ws):
        try:
            async for m in ws:
                await ws.send(m)
        except Exception:
            pass

    first = await serve(echo, "127.0.0.1", 0, ssl=ssl_context, compression=None).__aenter__()
    port = first.sockets[0].getsockname()[1]
    try:
        await serve(echo, "::1", port, ssl=ssl_context, compression=None).__aenter__()
    except OSError:
        pass  # no IPv6 loopback: names resolve to 127.0.0.1 then
    return port


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def tunnel(reader, writer, port):
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def hostile(reader, writer, ws_port):
    try:
        first = await reader.readexactly(1)
        if first == b"\x05":
            await hostile_socks(reader, writer, ws_port)
        else:
            await hostile_http(first, reader, writer, ws_port)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def hostile_http(first, reader, writer, ws_port):
    head = first + await reader.readuntil(b"\r\n\r\n")
    target = head.split(b" ")[1].decode()
    name = target.rsplit(":", 1)[0]
    if name == "407.hostile":
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n")
    elif name == "502.hostile":
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
    elif name == "garbage.hostile":
        writer.write(b"\x00\x01\x02\xffjunk\r\n\r\n")
    elif name == "silence.hostile":
        await reader.read()  # until the client gives up
        return
    elif name == "close.hostile":
        return
    elif name == "split.hostile":
        for b in b"HTTP/1.1 200 Connection established\r\n\r\n":
            writer.write(bytes([b]))
            await writer.drain()
            await asyncio.sleep(0.005)
        return await tunnel(reader, writer, ws_port)
    else:
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        return await tunnel(reader, writer, ws_port)
    await writer.drain()


async def hostile_socks(reader, writer, ws_port):
    n = (await reader.readexactly(1))[0]
    await reader.readexactly(n)
    writer.write(b"\x05\x00")
    ver, cmd, _, atyp = await reader.readexactly(4)
    if atyp == 3:
        name = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
    else:
        name = "(address)"
        await reader.readexactly(4 if atyp == 1 else 16)
    await reader.readexactly(2)
    if name.startswith("rep") and name.endswith(".hostile"):
        writer.write(bytes([5, int(name[3:-8]), 0, 1, 0, 0, 0, 0, 0, 0]))
        await writer.drain()
        return
    if name != "echo.libws.test":
        writer.write(bytes([5, 4, 0, 1, 0, 0, 0, 0, 0, 0]))
        return
    writer.write(bytes([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]))
    await tunnel(reader, writer, ws_port)


async def main():
    ca = trustme.CA()
    ca.cert_pem.write_to_path(os.path.join(DIR, "ca.pem"))
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(ctx)
    ports = {"ws": await serve_echo(None), "wss": await serve_echo(ctx)}
    ports["tinyproxy"] = await start_tinyproxy("tinyproxy", False)
    ports["tinyproxy_auth"] = await start_tinyproxy("tinyproxy_auth", True)
    ports["microsocks"] = await start_microsocks(False)
    ports["microsocks_auth"] = await start_microsocks(True)
    server = await asyncio.start_server(lambda r, w: hostile(r, w, ports["ws"]), "127.0.0.1", 0)
    ports["hostile"] = server.sockets[0].getsockname()[1]
    with open(os.path.join(DIR, "ports"), "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in ports.items()))
    print(f"READY {ports['hostile']} {ports['ws']}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
            child.wait()
