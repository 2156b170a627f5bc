"""The wss:// peers of test_trust.c (pinning and client certificates).

    peers_trust.py 0 0        (the ports are always picked by the system)

Writes its certificates into $TRUST_DIR (which must exist), then serves two wss:// WebSocket
servers on 127.0.0.1 that echo every message, and prints "READY <server_port> <mtls_port>":

  server_port  the server chain is leaf (127.0.0.1, localhost) + intermediate CA, under the root
               ca.pem; the root itself is not sent (a pin of the root must come from the path the
               client built). No client certificate asked.
  mtls_port    the same chain, and a client certificate is required (CERT_REQUIRED), signed by
               client_ca.pem.

Files written:
  ca.pem                 the root the client trusts
  pins                   one pin per line (sha256/<base64> of the SubjectPublicKeyInfo):
                         leaf, intermediate, root, and one of a key nobody uses
  client.pem             the client's certificate (signed by the client CA)
  client_pkcs8.key       its ECDSA key, PKCS#8       client_sec1.key   the same key, SEC1
  client_rsa.pem         an RSA client certificate   client_rsa_pkcs1.key  its key, PKCS#1
  other.key              a key that matches no certificate (PKCS#8)
  untrusted.pem / untrusted.key   a client certificate from a CA the server does not know
Exits when stdin closes.
"""
import base64
import hashlib
import os
import ssl
import sys
import threading

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

S = serialization


def pin_of(public_key):
    spki = public_key.public_bytes(S.Encoding.DER, S.PublicFormat.SubjectPublicKeyInfo)
    return "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


def cert_pin(blob):
    return pin_of(x509.load_pem_x509_certificate(blob.bytes()).public_key())


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def write_key(directory, name, blob, fmt):
    key = S.load_pem_private_key(blob.bytes(), password=None)
    write(directory, name, key.private_bytes(S.Encoding.PEM, fmt, S.NoEncryption()))


def make(directory):
    root = trustme.CA()
    intermediate = root.create_child_ca()
    server = intermediate.issue_cert("127.0.0.1", "localhost")
    root.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))
    nobody = ec.generate_private_key(ec.SECP256R1()).public_key()
    pins = [cert_pin(server.cert_chain_pems[0]), cert_pin(intermediate.cert_pem), cert_pin(root.cert_pem),
            pin_of(nobody)]
    write(directory, "pins", ("\n".join(pins) + "\n").encode())

    client_ca = trustme.CA()
    client_ca.cert_pem.write_to_path(os.path.join(directory, "client_ca.pem"))
    client = client_ca.issue_cert("libws-client.example")
    write(directory, "client.pem", b"".join(c.bytes() for c in client.cert_chain_pems))
    write_key(directory, "client_pkcs8.key", client.private_key_pem, S.PrivateFormat.PKCS8)
    write_key(directory, "client_sec1.key", client.private_key_pem, S.PrivateFormat.TraditionalOpenSSL)
    rsa = client_ca.issue_cert("libws-rsa-client.example", key_type=trustme.KeyType.RSA)
    write(directory, "client_rsa.pem", b"".join(c.bytes() for c in rsa.cert_chain_pems))
    write_key(directory, "client_rsa_pkcs1.key", rsa.private_key_pem, S.PrivateFormat.TraditionalOpenSSL)
    other = trustme.CA().issue_cert("other.example")
    write_key(directory, "other.key", other.private_key_pem, S.PrivateFormat.PKCS8)
    stranger = trustme.CA().issue_cert("libws-client.example")
    write(directory, "untrusted.pem", b"".join(c.bytes() for c in stranger.cert_chain_pems))
    write_key(directory, "untrusted.key", stranger.private_key_pem, S.PrivateFormat.PKCS8)

    contexts = []
    for require_client in (False, True):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.configure_cert(ctx)
        if require_client:
            ctx.verify_mode = ssl.CERT_REQUIRED
            client_ca.configure_trust(ctx)
        contexts.append(ctx)
    return contexts


def main():
    # The sync (threaded, blocking ssl) server: a refused client certificate gets OpenSSL's alert
    # on the wire, as from a production server (asyncio's SSL transport drops it and just closes).
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.server import serve

    contexts = make(os.environ["TRUST_DIR"])

    def echo(ws):
        try:
            for message in ws:
                ws.send(message)
        except ConnectionClosed:
            pass

    servers = [serve(echo, "127.0.0.1", 0, ssl=ctx, compression=None) for ctx in contexts]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY %d %d" % tuple(s.socket.getsockname()[1] for s in servers), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
