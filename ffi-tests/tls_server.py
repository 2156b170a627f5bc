"""The loopback peers for the libws wss:// C tests (ffi-tests/test_tls.c).

    tls_server.py MODE PORT DIR

Binds only 127.0.0.1. A PORT of 0 picks a free one. Servers print one line, "READY <port>", and
flush stdout once the listener accepts connections (test_tls.c waits for that line).

MODE is one of:

  certs       write the test certificates into DIR and exit (PORT is ignored), with trustme:
                ca.pem          the test CA (PEM) the client is given
                good.pem        key + chain for 127.0.0.1 and localhost, signed by the test CA
                wrongname.pem   key + chain for example.org only, signed by the test CA
                expired.pem     key + chain for 127.0.0.1/localhost, signed by the test CA, whose
                                validity ended a day ago
                selfsigned.pem  key + a self-signed certificate for 127.0.0.1/localhost (CA:FALSE),
                                signed by no CA the client knows
  good, wrongname, expired, selfsigned
              a wss:// WebSocket server using DIR/<MODE>.pem (run "certs" first)
  plain       the same WebSocket server without TLS (ws://)
  stall       not a WebSocket server: accepts TCP, reads the client's first bytes (the TLS
              ClientHello), writes them as hex to DIR/stall_seen and never answers

The WebSocket servers pick their behaviour from the request path:

  /echo          echo every message back with the same type (text or binary), any size
  /record?id=X   count the messages received and, when the client closes, record the close code
                 and reason it sent under X
  /session       send one text message, "resumed" or "full": whether this TLS connection resumed
                 an earlier session (Python ssl's session_reused; TLS 1.3 session tickets)
  /report?id=X   send one text message: compact sorted JSON {"code", "messages", "reason"} recorded
                 for X (waits up to 10 s for X to be recorded; {"code": null, ...} if it never is)
  anything else  close with 4404 "unknown path"
"""
import asyncio
import datetime
import ipaddress
import json
import os
import ssl
import sys
from urllib.parse import parse_qs, urlsplit

CERT_MODES = ("good", "wrongname", "expired", "selfsigned")


def write_certs(directory):
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca = trustme.CA()
    ca.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        os.path.join(directory, "good.pem"))
    ca.issue_cert("example.org").private_key_and_cert_chain_pem.write_to_path(
        os.path.join(directory, "wrongname.pem"))
    now = datetime.datetime.now(datetime.timezone.utc)
    ca.issue_cert(
        "127.0.0.1", "localhost",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    ).private_key_and_cert_chain_pem.write_to_path(os.path.join(directory, "expired.pem"))

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "libws self-signed test server")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost"),
            ]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    with open(os.path.join(directory, "selfsigned.pem"), "wb") as f:
        f.write(key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ))
        f.write(cert.public_bytes(serialization.Encoding.PEM))


# /record results: id -> {"code", "reason", "messages"}; set once the client's close arrived.
records = {}


def split_path(path):
    parts = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return parts.path, query


async def record(ws, record_id, changed):
    from websockets.exceptions import ConnectionClosed
    messages = 0
    try:
        async for _ in ws:
            messages += 1
    except ConnectionClosed:
        pass  # a close code other than 1000/1001 ends the loop this way
    rcvd = ws.protocol.close_rcvd  # the client's close frame, None if it dropped without one
    records[record_id] = {
        "code": rcvd.code if rcvd is not None else None,
        "reason": rcvd.reason if rcvd is not None else None,
        "messages": messages,
    }
    changed.set()


async def report(ws, record_id, changed):
    loop = asyncio.get_running_loop()
    until = loop.time() + 10
    while record_id not in records and loop.time() < until:
        changed.clear()
        try:
            await asyncio.wait_for(changed.wait(), timeout=max(0.01, until - loop.time()))
        except asyncio.TimeoutError:
            pass
    result = records.get(record_id, {"code": None, "reason": None, "messages": None})
    await ws.send(json.dumps(result, separators=(",", ":"), sort_keys=True))
    await ws.wait_closed()


async def serve_websockets(port, ssl_context):
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    changed = asyncio.Event()

    async def handler(ws):
        path, query = split_path(ws.request.path)
        try:
            if path == "/echo":
                async for message in ws:
                    await ws.send(message)
            elif path == "/session":
                ssl_object = ws.transport.get_extra_info("ssl_object")
                reused = ssl_object is not None and ssl_object.session_reused
                await ws.send("resumed" if reused else "full")
                await ws.wait_closed()
            elif path == "/record":
                await record(ws, query.get("id", ""), changed)
            elif path == "/report":
                await report(ws, query.get("id", ""), changed)
            else:
                await ws.close(4404, "unknown path")
        except ConnectionClosed:
            pass

    async with serve(
        handler,
        "127.0.0.1",
        port,
        ssl=ssl_context,
        max_size=None,
        compression=None,
        ping_interval=None,
    ) as server:
        print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()


async def serve_stall(port, directory):
    conns = []

    async def stall(reader, writer):
        conns.append(writer)
        first = await reader.read(65536)  # the ClientHello (or at least its start)
        if first:
            path = os.path.join(directory, "stall_seen")
            with open(path + ".tmp", "w") as f:
                f.write(first[:16].hex(" "))
            os.replace(path + ".tmp", path)
        while await reader.read(65536):
            pass  # never answer; hold the connection until the client drops it
        writer.close()

    server = await asyncio.start_server(stall, "127.0.0.1", port)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    mode, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "certs":
        write_certs(directory)
    elif mode in CERT_MODES:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(os.path.join(directory, mode + ".pem"))
        asyncio.run(serve_websockets(port, context))
    elif mode == "plain":
        asyncio.run(serve_websockets(port, None))
    elif mode == "stall":
        asyncio.run(serve_stall(port, directory))
    else:
        sys.exit(f"unknown mode {mode!r}\n\n{__doc__}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
