"""The end-to-end client: talks to PostgreSQL through the VIP, from the client's namespace.

    pgclient.py write HOST ACKFILE        insert rows until SIGTERM; one line "id time_us" per acknowledged commit
    pgclient.py verify HOST ACKFILE       every acknowledged id must be in the table (exit 1 naming the missing)
    pgclient.py first-query HOST SINCE_US [TIMEOUT_S]
                                          retry SELECT 1 until it answers; print ms since SINCE_US (wall clock)

Connections are asynchronous (psycopg2 async_=1) with deadlines of our own: libpq's connect_timeout cannot go
below 2 s, and during a failover a connection attempt to the VIP may go to a dead MAC and hear nothing, so a
blocking client would measure its own timeout rather than the failover.
"""

import select
import signal
import sys
import time

import psycopg2
import psycopg2.extensions as ext

CONNECT_TIMEOUT = 0.3
QUERY_TIMEOUT = 1.0


class Timeout(Exception):
    pass


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
    conn = psycopg2.connect(host=host, port=5432, dbname="postgres", user="postgres", async_=1)
    try:
        wait(conn, CONNECT_TIMEOUT)
    except BaseException:
        conn.close()
        raise
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
