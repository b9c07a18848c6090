"""Two clients that hold a result without reading it, speaking the PostgreSQL protocol by hand
(libpq cannot leave a portal suspended): one runs the extended protocol with Execute(max_rows=1)
and Flush, then stays silent (its portal suspended), one runs a large simple query and stops
reading.
ilot must close each connection once its result has been left unread for
`postgres.unread_result_timeout_s` (ILOT_UNREAD_TIMEOUT_S), and still answer others.

Environment: PGHOST, PGPORT (a loopback endpoint with the demo's open login, no TLS),
ILOT_UNREAD_TIMEOUT_S. Prints one line per check, exits non-zero on the first failure.
"""

import os
import socket
import struct
import sys
import time

HOST, PORT = os.environ["PGHOST"], int(os.environ["PGPORT"])
TIMEOUT_S = float(os.environ["ILOT_UNREAD_TIMEOUT_S"])
STARTED = time.monotonic()


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name} ({time.monotonic() - STARTED:.1f} s)", flush=True)


def message(kind, body):
    return kind + struct.pack("!i", len(body) + 4) + body


def read_message(sock):
    header = b""
    while len(header) < 5:
        chunk = sock.recv(5 - len(header))
        if not chunk:
            return None, None
        header += chunk
    kind, length = header[:1], struct.unpack("!i", header[1:])[0]
    body = b""
    while len(body) < length - 4:
        chunk = sock.recv(length - 4 - len(body))
        if not chunk:
            return None, None
        body += chunk
    return kind, body


def replies(sock):
    """The kinds of the messages the server sends up to ReadyForQuery (None: it closed)."""
    kinds = []
    while True:
        kind, _ = read_message(sock)
        kinds.append(kind)
        if kind in (b"Z", None):
            return kinds


def session():
    sock = socket.create_connection((HOST, PORT), timeout=30)
    params = b"user\0reader\0database\0ilot\0\0"
    sock.sendall(struct.pack("!ii", len(params) + 8, 196608) + params)
    while True:
        kind, body = read_message(sock)
        if kind is None or kind == b"E":
            raise RuntimeError(f"login failed: {body!r}")
        if kind == b"Z":
            return sock


def closed_within(sock, seconds):
    """True when the server closes the connection within `seconds` (what it still sends is read)."""
    sock.settimeout(seconds)
    started = time.monotonic()
    try:
        while True:
            data = sock.recv(1 << 20)
            if not data:
                return True, time.monotonic() - started
    except socket.timeout:
        return False, time.monotonic() - started
    except ConnectionResetError:
        return True, time.monotonic() - started


# 1. A portal left suspended: Execute with a row limit, then Flush (no Sync: the portal stays
# open, as a driver fetching in batches leaves it).
sock = session()
query = b"SELECT value FROM generate_series(1, 100000) AS t(value)\0"
sock.sendall(message(b"P", b"\0" + query + struct.pack("!h", 0))
             + message(b"B", b"\0\0" + struct.pack("!hhh", 0, 0, 0))
             + message(b"E", b"\0" + struct.pack("!i", 1))
             + message(b"H", b""))
kinds = [read_message(sock)[0] for _ in range(4)]
check("one row, then the portal is suspended", kinds == [b"1", b"2", b"D", b"s"], str(kinds))
time.sleep(TIMEOUT_S / 2)
sock.sendall(message(b"E", b"\0" + struct.pack("!i", 1)) + message(b"H", b""))
kinds = [read_message(sock)[0] for _ in range(2)]
check("taking a row in time keeps the portal", kinds == [b"D", b"s"], str(kinds))
closed, after = closed_within(sock, TIMEOUT_S * 3 + 5)
check("a portal left suspended ends its connection", closed and after >= TIMEOUT_S * 0.5, f"closed={closed} after {after:.1f} s")
sock.close()

# 2. A large result the client stops reading.
sock = session()
sock.sendall(message(b"Q", b"SELECT value, 'a fairly long text to fill the socket buffers quickly' AS filler FROM generate_series(1, 900000) AS t(value)\0"))
time.sleep(TIMEOUT_S + 3)
closed, after = closed_within(sock, TIMEOUT_S * 3 + 5)
check("a result left unread ends its connection", closed, f"still open after {TIMEOUT_S + 3 + after:.1f} s")
sock.close()

# 3. Others are still served.
sock = session()
sock.sendall(message(b"Q", b"SELECT 1\0"))
kinds = replies(sock)
check("still answering", b"D" in kinds and kinds[-1] == b"Z", str(kinds))
sock.close()
print("all checks passed", flush=True)
