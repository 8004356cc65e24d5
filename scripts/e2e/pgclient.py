"""The end-to-end client: talks to PostgreSQL through the VIP, from the client's namespace.

    pgclient.py write HOST ACKFILE        insert rows until SIGTERM; one line "id time_us" per acknowledged commit
    pgclient.py verify HOST ACKFILE       every acknowledged id must be in the table (exit 1 naming the missing)
    pgclient.py first-query HOST SINCE_US [TIMEOUT_S]
                                          retry SELECT 1 until it answers; print ms since SINCE_US (wall clock)

    --dns-server IP[:PORT] (anywhere in the arguments): HOST is a name, looked up (A record, over UDP, recursion
    desired, so IP may be the authoritative server or a caching resolver) before every connection attempt, as a
    client that reaches the service by its virtual host name does. The address each new connection went to is
    written to stderr ("TIME_US connected to NAME at ADDRESS"); a lookup that fails or gives no address counts
    as a failed attempt.

Connections are asynchronous (psycopg2 async_=1) with deadlines of our own: libpq's connect_timeout cannot go
below 2 s, and during a failover a connection attempt to the VIP may go to a dead MAC and hear nothing, so a
blocking client would measure its own timeout rather than the failover.
"""

import random
import select
import signal
import socket
import struct
import sys
import time

import psycopg2
import psycopg2.extensions as ext

CONNECT_TIMEOUT = 0.3
QUERY_TIMEOUT = 1.0
LOOKUP_TIMEOUT = 0.3
# Set by --dns-server: HOST is then a name, looked up there before each connection attempt.
DNS_SERVER = None


class Timeout(Exception):
    pass


class NoAddress(OSError):
    """The name could not be looked up, or has no A record."""


def skip_name(message, at):
    while True:
        length = message[at]
        if length & 0xC0 == 0xC0:
            return at + 2
        if length == 0:
            return at + 1
        at += 1 + length


def lookup(name, server, timeout=LOOKUP_TIMEOUT):
    """The A records of NAME from SERVER ("IP" or "IP:PORT"), in the order given."""
    host, _, port = server.partition(":")
    ident = random.getrandbits(16)
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"
    query = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, int(port or 53)))
        sock.send(query)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                raise NoAddress(f"no answer from {server} for {name}")
            answer = sock.recv(65535)
            if len(answer) < 12:
                continue
            got, flags, qdcount, ancount = struct.unpack(">HHHH", answer[:8])
            if got != ident or not flags & 0x8000:
                continue
            break
    if flags & 0x000F:
        raise NoAddress(f"{server} answered rcode {flags & 0x000F} for {name}")
    at = 12
    for _ in range(qdcount):
        at = skip_name(answer, at) + 4
    addresses = []
    for _ in range(ancount):
        at = skip_name(answer, at)
        rtype, rclass, _ttl, length = struct.unpack(">HHIH", answer[at : at + 10])
        at += 10
        if rtype == 1 and rclass == 1 and length == 4:
            addresses.append(socket.inet_ntoa(answer[at : at + 4]))
        at += length
    if not addresses:
        raise NoAddress(f"{server} has no A record for {name}")
    return addresses


def wait(conn, seconds):
    deadline = time.monotonic() + seconds
    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        if state == ext.POLL_READ:
            select.select([conn.fileno()], [], [], left)
        elif state == ext.POLL_WRITE:
            select.select([], [conn.fileno()], [], left)


def connect(host):
    address = lookup(host, DNS_SERVER)[0] if DNS_SERVER else host
    conn = psycopg2.connect(host=address, port=5432, dbname="postgres", user="postgres", async_=1)
    try:
        wait(conn, CONNECT_TIMEOUT)
    except BaseException:
        conn.close()
        raise
    if DNS_SERVER:
        print(f"{now_us()} connected to {host} at {address}", file=sys.stderr, flush=True)
    return conn


def run(conn, sql, args=None, seconds=QUERY_TIMEOUT):
    cur = conn.cursor()
    cur.execute(sql, args)
    wait(conn, seconds)
    return cur


def now_us():
    return time.time_ns() // 1000


def write(host, ackfile):
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    acks = open(ackfile, "a", buffering=1)
    conn = None
    next_id = 1
    while not stopping:
        try:
            if conn is None:
                conn = connect(host)
                run(conn, "CREATE TABLE IF NOT EXISTS acks (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
            # Every attempt gets a new id: a commit whose acknowledgement was lost may or may not be in.
            row = next_id
            next_id += 1
            run(conn, "INSERT INTO acks (id) VALUES (%s)", (row,))
            acks.write(f"{row} {now_us()}\n")  # acknowledged: the commit returned
        except (psycopg2.Error, Timeout, OSError):
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.01)
            continue
        time.sleep(0.005)
    acks.close()


def verify(host, ackfile):
    acked = [int(line.split()[0]) for line in open(ackfile) if line.strip()]
    deadline = time.monotonic() + 15
    while True:
        try:
            conn = connect(host)
            present = {r[0] for r in run(conn, "SELECT id FROM acks", seconds=5).fetchall()}
            break
        except (psycopg2.Error, Timeout, OSError) as error:
            if time.monotonic() > deadline:
                print(f"cannot read the table through {host}: {error}", file=sys.stderr)
                return 1
            time.sleep(0.1)
    missing = [i for i in acked if i not in present]
    print(f"acknowledged {len(acked)}, in the table {len(present)}, missing {len(missing)}")
    if missing:
        print("missing ids: " + " ".join(map(str, missing[:50])))
        return 1
    return 0


def first_query(host, since_us, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = connect(host)
            run(conn, "SELECT 1")
            print((now_us() - since_us) / 1000)
            conn.close()
            return 0
        except (psycopg2.Error, Timeout, OSError):
            time.sleep(0.005)
    print(f"no answer from {host} within {timeout} s", file=sys.stderr)
    return 1


def main(argv):
    global DNS_SERVER
    if "--dns-server" in argv[:-1]:
        at = argv.index("--dns-server")
        DNS_SERVER = argv[at + 1]
        argv = argv[:at] + argv[at + 2 :]
    if len(argv) >= 4 and argv[1] == "write":
        write(argv[2], argv[3])
        return 0
    if len(argv) >= 4 and argv[1] == "verify":
        return verify(argv[2], argv[3])
    if len(argv) >= 4 and argv[1] == "first-query":
        return first_query(argv[2], int(argv[3]), float(argv[4]) if len(argv) > 4 else 10.0)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
