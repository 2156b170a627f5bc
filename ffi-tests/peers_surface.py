"""Raw HTTP peers for ffi-tests/test_surface.c: handshake answers that real servers give but
libws's handshake once got wrong.

    peers_surface.py [PORT]

Binds only 127.0.0.1; a port of 0 (the default) picks a free one. Once it accepts connections it
prints one line, "READY <port>", and flushes stdout. It runs until killed or until stdin reaches
EOF. The frame and handshake helpers are peers_faults.py's. The request path picks the answer:

  /many-headers?n=N  a valid 101 with N extra headers "X-Filler-<i>: <i>" (N=100 by default),
                     then echoes messages and answers the close frame
  /http10            "HTTP/1.0 101 Switching Protocols" with an otherwise valid upgrade, then
                     reads until the client goes
  /head-size?bytes=N a valid 101 whose head (through its blank line) is exactly N bytes, padded
                     by an "X-Pad" header, then echoes messages and answers the close frame
  anything else      a valid 101, then one text message: the request line's target exactly as
                     received (e.g. "/%E8%B7%AF?q=%E5%80%BC"), then close 1000
"""
import os
import socketserver
import sys
import threading
from urllib.parse import parse_qs, urlsplit

from peers_faults import RawServer, accept_value, control_reply, read_request, read_until_end


def upgrade(key, status_line="HTTP/1.1 101 Switching Protocols", extra=()):
    lines = [status_line, "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept_value(key)}"]
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(90)  # a stuck test must not leave threads behind forever
        request = read_request(sock)
        if request is None:
            return
        target, headers = request
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        key = headers.get("sec-websocket-key", "")
        if parts.path == "/many-headers":
            n = int(query.get("n", "100"))
            sock.sendall(upgrade(key, extra=[f"X-Filler-{i}: {i}" for i in range(n)]))
            read_until_end(sock, {}, answer_close=True, answer_pings=True, echo=True)
        elif parts.path == "/head-size":
            pad = int(query["bytes"]) - len(upgrade(key)) - len("X-Pad: \r\n")
            sock.sendall(upgrade(key, extra=["X-Pad: " + "a" * pad]))
            read_until_end(sock, {}, answer_close=True, answer_pings=True, echo=True)
        elif parts.path == "/http10":
            sock.sendall(upgrade(key, status_line="HTTP/1.0 101 Switching Protocols"))
            read_until_end(sock, {})
        else:
            sock.sendall(upgrade(key))
            control_reply(sock, target)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = RawServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    sys.stdin.buffer.read()  # until the parent goes away
    server.shutdown()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    os._exit(0)  # do not wait for peer threads still blocked in recv
