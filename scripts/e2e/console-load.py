#!/usr/bin/env python3
"""The console's load test and its heartbeat figures, for console.sh (standard library only).

  console-load.py load HOST PORT TOKEN_FILE SECONDS CLIENTS
      CLIENTS connections at once to http://HOST:PORT, for SECONDS: half poll /api/status in a loop (HTTP/1.1
      keep-alive, one request after the other on each connection), half hold /api/events/stream open and read it.
      Exactly CLIENTS connections: a client whose connection ends opens its next one only then. Prints one JSON
      object: requests served (per second), poll latency p50/p99, non-200 answers, connection errors, the roles and
      epochs the polled status showed, stream events and bytes read, and the CLOCK_MONOTONIC window (ns) of the load.

  console-load.py heartbeats AUDIT_JSONL CHANNELS FROM_NS SPLIT_NS TO_NS
      From `servha audit export --format jsonl` of a log: per heartbeat channel (CHANNELS: the names in the
      configuration's order, comma-separated), the inter-arrival times of the heartbeats received in
      [FROM_NS, SPLIT_NS) (the baseline) and in [SPLIT_NS, TO_NS) (the load): count, p50, p99, max in ms; and how
      many decisions the log holds in [FROM_NS, TO_NS). One JSON object.
"""
import asyncio
import json
import re
import sys
import time

ROLE = re.compile(rb'"role":"([a-z ]+)","epoch":(\d+)')


def percentile(values, p):
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


async def load(host, port, token, seconds, clients):
    auth = f"Authorization: Bearer {token}\r\n"
    poll_request = f"GET /api/status HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode()
    stream_request = (
        f"GET /api/events/stream HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}Accept: text/event-stream\r\n\r\n".encode()
    )
    stats = {
        "requests": 0,
        "non_200": 0,
        "errors": 0,
        "connections": 0,
        "streams_opened": 0,
        "stream_events": 0,
        "stream_bytes": 0,
        "stream_ended": 0,
    }
    seen = {}  # "role epoch" -> how many status answers said so
    latencies = []
    errors = {}
    open_now = {"polls": 0, "streams": 0}
    peak = {"polls": 0, "streams": 0}
    stop = asyncio.Event()

    def note_error(error):
        stats["errors"] += 1
        key = type(error).__name__ + (f": {error}" if str(error) else "")
        errors[key[:120]] = errors.get(key[:120], 0) + 1

    def opened(kind):
        open_now[kind] += 1
        peak[kind] = max(peak[kind], open_now[kind])

    async def read_body(reader, head):
        lower = head.lower()
        match = re.search(rb"\r\ncontent-length: *(\d+)", lower)
        if match:
            return await reader.readexactly(int(match.group(1)))
        if b"\r\ntransfer-encoding: chunked" in lower:
            body = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    return body
                body += await reader.readexactly(size)
                await reader.readexactly(2)
        raise ConnectionError("an answer without length")

    async def connected(session):
        """Runs session(reader, writer) on one connection after another until the load stops; an error is noted
        and the client connects again a tenth of a second later."""
        while not stop.is_set():
            writer = None
            try:
                reader, writer = await asyncio.open_connection(host, port)
                stats["connections"] += 1
                await session(reader, writer)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
                if not stop.is_set():
                    note_error(error)
                    await asyncio.sleep(0.1)
            finally:
                if writer:
                    writer.close()

    async def poll(reader, writer):
        opened("polls")
        try:
            while not stop.is_set():
                started = time.monotonic_ns()
                writer.write(poll_request)
                head = await reader.readuntil(b"\r\n\r\n")
                body = await read_body(reader, head)
                latencies.append(time.monotonic_ns() - started)
                if head.startswith(b"HTTP/1.1 200"):
                    stats["requests"] += 1
                    match = ROLE.search(body[:200])
                    key = f"{match.group(1).decode()} {match.group(2).decode()}" if match else "unparsed"
                    seen[key] = seen.get(key, 0) + 1
                else:
                    stats["non_200"] += 1
                if b"\r\nconnection: close" in head.lower():
                    break
        finally:
            open_now["polls"] -= 1

    async def stream(reader, writer):
        writer.write(stream_request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            stats["non_200"] += 1
            await asyncio.sleep(0.1)
            return
        stats["streams_opened"] += 1
        opened("streams")
        try:
            tail = b""
            while not stop.is_set():
                data = await reader.read(65536)
                if not data:
                    stats["stream_ended"] += 1
                    break
                stats["stream_bytes"] += len(data)
                # Each event's line starts "\ndata: " (after its id line). The last 6 bytes of the read before
                # cannot hold a whole one, so a match found with them is new: none counted twice, none split
                # between two reads missed.
                joined = tail + data
                stats["stream_events"] += joined.count(b"\ndata: ")
                tail = joined[-6:]
        finally:
            open_now["streams"] -= 1

    polls = clients // 2
    streams = clients - polls
    start = time.monotonic_ns()
    tasks = [asyncio.create_task(connected(stream)) for _ in range(streams)]
    tasks += [asyncio.create_task(connected(poll)) for _ in range(polls)]
    await asyncio.sleep(seconds / 2)
    middle = dict(open_now)
    await asyncio.sleep(seconds - seconds / 2)
    stop.set()
    end = time.monotonic_ns()
    at_end = dict(open_now)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = (end - start) / 1e9
    return {
        "clients": clients,
        "pollers": polls,
        "streamers": streams,
        "seconds": round(elapsed, 3),
        "start_mono_ns": start,
        "end_mono_ns": end,
        "requests": stats["requests"],
        "requests_per_s": round(stats["requests"] / elapsed, 1),
        "poll_p50_ms": round(percentile(latencies, 50) / 1e6, 2) if latencies else None,
        "poll_p99_ms": round(percentile(latencies, 99) / 1e6, 2) if latencies else None,
        "non_200": stats["non_200"],
        "errors": stats["errors"],
        "error_kinds": errors,
        "connections_opened": stats["connections"],
        "open_at_middle": middle,
        "open_at_end": at_end,
        "peak_open": peak,
        "streams_opened": stats["streams_opened"],
        "streams_ended_by_server": stats["stream_ended"],
        "stream_events": stats["stream_events"],
        "stream_events_per_s": round(stats["stream_events"] / elapsed, 1),
        "stream_bytes": stats["stream_bytes"],
        "status_seen": seen,
    }


def heartbeats(path, channels, start, split, end):
    arrivals = {}
    decisions = 0
    pattern = re.compile(r"heartbeat channel (\d+) ")
    with open(path) as lines:
        for line in lines:
            record = json.loads(line)
            mono = record.get("mono")
            if mono is None or not start <= mono < end:
                continue
            if record.get("type") == "decision":
                decisions += 1
            if record.get("type") != "heartbeat":
                continue
            match = pattern.search(record.get("event", ""))
            if match:
                arrivals.setdefault(int(match.group(1)), []).append(mono)
    result = {}
    for index, name in enumerate(channels):
        times = sorted(arrivals.get(index, []))
        windows = {"baseline": [], "load": []}
        for earlier, later in zip(times, times[1:]):
            if earlier >= split:
                windows["load"].append(later - earlier)
            elif later < split:
                windows["baseline"].append(later - earlier)
        result[name] = {
            window: {
                "n": len(gaps),
                "p50_ms": round(percentile(gaps, 50) / 1e6, 3) if gaps else None,
                "p99_ms": round(percentile(gaps, 99) / 1e6, 3) if gaps else None,
                "max_ms": round(max(gaps) / 1e6, 3) if gaps else None,
            }
            for window, gaps in windows.items()
        }
    result["decisions"] = decisions
    return result


def main(argv):
    if len(argv) >= 7 and argv[1] == "load":
        host, port, token_file, seconds, clients = argv[2], int(argv[3]), argv[4], float(argv[5]), int(argv[6])
        with open(token_file) as f:
            token = f.read().strip()
        print(json.dumps(asyncio.run(load(host, port, token, seconds, clients))))
        return 0
    if len(argv) >= 7 and argv[1] == "heartbeats":
        result = heartbeats(argv[2], argv[3].split(","), int(argv[4]), int(argv[5]), int(argv[6]))
        print(json.dumps(result))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
