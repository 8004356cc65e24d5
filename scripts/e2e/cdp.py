#!/usr/bin/env python3
"""A minimal Chrome DevTools protocol client (standard library only), for console.sh.

Talks to a headless Chromium started with --remote-debugging-port=PORT (on 127.0.0.1 of the namespace it runs in),
on the first page target whose URL starts with URL_PREFIX.

  cdp.py PORT URL_PREFIX eval EXPRESSION            prints the expression's value (strings as they are, others as JSON)
  cdp.py PORT URL_PREFIX wait SECONDS EXPRESSION    evaluates every 100 ms until the value is truthy: exit 0, or 1 when
                                                    SECONDS pass first (an exception, as while the page loads, counts
                                                    as not yet)
  cdp.py PORT URL_PREFIX screenshot FILE            a PNG of the whole page (beyond the viewport)
  cdp.py PORT URL_PREFIX targets                    lists the page targets (waits up to 10 s for the first one)

Exit 2 on a protocol or connection error (message on stderr).
"""
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.request


def targets(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
        return [t for t in json.load(response) if t.get("type") == "page"]


def page_target(port, prefix, wait=10.0):
    deadline = time.monotonic() + wait
    while True:
        try:
            for target in targets(port):
                if target.get("url", "").startswith(prefix):
                    return target
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"cdp.py: no page target at {prefix} on 127.0.0.1:{port}")
        time.sleep(0.1)


class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: text frames out (masked), frames in (any size,
    fragmented or not), ping answered, close noticed."""

    def __init__(self, url, timeout=30.0):
        assert url.startswith("ws://"), url
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port or 80)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError("websocket handshake refused: " + head.decode(errors="replace"))

    def _exact(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("websocket: connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text):
        self._frame(0x1, text.encode())

    def receive(self):
        message = b""
        while True:
            first, second = self._exact(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._exact(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._exact(8))[0]
            mask = self._exact(4) if second & 0x80 else None
            payload = self._exact(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            if opcode == 0x9:
                self._frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            message += payload
            if first & 0x80:
                return message.decode()

    def close(self):
        try:
            self._frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class Page:
    def __init__(self, port, prefix):
        self.ws = WebSocket(page_target(port, prefix)["webSocketDebuggerUrl"])
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.receive())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError("exception: " + json.dumps(result["exceptionDetails"])[:400])
        return result["result"].get("value")


def shown(value):
    return value if isinstance(value, str) else json.dumps(value)


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    port, prefix, command = int(argv[1]), argv[2], argv[3]
    try:
        if command == "targets":
            page_target(port, prefix)
            for target in targets(port):
                print(target.get("id"), target.get("url"))
            return 0
        page = Page(port, prefix)
        if command == "eval":
            print(shown(page.evaluate(argv[4])))
            return 0
        if command == "wait":
            deadline = time.monotonic() + float(argv[4])
            last_error = None
            while True:
                try:
                    value = page.evaluate(argv[5])
                except RuntimeError as error:  # the page is not there yet (loading): not yet true
                    value = None
                    last_error = error
                if value:
                    print(shown(value))
                    return 0
                if time.monotonic() > deadline:
                    print(shown(value) if value is not None or last_error is None else f"({last_error})")
                    return 1
                time.sleep(0.1)
        if command == "screenshot":
            metrics = page.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            data = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)["data"]
            with open(argv[4], "wb") as out:
                out.write(base64.b64decode(data))
            print(f"{argv[4]}: {int(size['width'])}x{int(size['height'])}")
            return 0
        print(f"cdp.py: unknown command {command}", file=sys.stderr)
        return 2
    except (OSError, ConnectionError, RuntimeError, KeyError, ValueError) as error:
        print(f"cdp.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
