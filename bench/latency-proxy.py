#!/usr/bin/python3
"""latency-proxy: a TCP proxy on 127.0.0.1 that plays a network RTT_MS away.

bench/latency-proxy.py LISTENPORT TARGETPORT RTT_MS LOG

Every chunk read from either side is written to the other RTT/2 after it
arrived, in order (both ways; the delay is constant, so order is kept). A
connection to the target is opened 1.5 RTT after the client's connect, so
the greeting reaches the client 2 RTT after its connect(), as over a real
network (SYN, SYN-ACK, ACK, then the greeting). Bandwidth is not limited.

When a connection ends, one line is appended to LOG:
  open=T close=T c2s_turns=N s2c_turns=N mail=N bdat=N c2s=BYTES s2c=BYTES
c2s_turns counts the times the client spoke again after the server had
said something (each one a round trip it waited for); mail counts MAIL FROM
commands (a message each, RSET or not), bdat BDAT commands. Round trips per
message on a connection are c2s_turns / mail (the greeting, EHLO and QUIT
are in it too, shared by the connection's messages).
"""
import asyncio
import re
import sys
import time

MAIL = re.compile(rb"\nMAIL FROM:", re.I)
BDAT = re.compile(rb"\nBDAT ", re.I)


class Conn:
    def __init__(self):
        self.open = time.time()
        self.last = None          # direction of the last chunk read
        self.turns = {"c2s": 0, "s2c": 0}
        self.bytes = {"c2s": 0, "s2c": 0}
        self.mail = self.bdat = 0
        self.tail = b"\n"         # the client's last bytes: commands split across reads

    def saw(self, way, data):
        if self.last != way:
            self.turns[way] += 1
            self.last = way
        self.bytes[way] += len(data)
        if way == "c2s":
            buf = self.tail + data
            # A pattern is 6-11 bytes long: one inside the kept 10-byte
            # tail alone was counted already, so subtract those.
            self.mail += len(MAIL.findall(buf)) - len(MAIL.findall(self.tail))
            self.bdat += len(BDAT.findall(buf)) - len(BDAT.findall(self.tail))
            self.tail = buf[-10:]


async def pump(reader, writer_fut, conn, way, delay):
    """Reads one direction and writes each chunk `delay` seconds after it
    arrived, in order; EOF is passed on the same way."""
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()

    async def deliver():
        writer = await writer_fut
        while True:
            due, data = await q.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                try:
                    writer.write_eof()
                except OSError:
                    pass
                return
            writer.write(data)
            try:
                await writer.drain()
            except OSError:
                return

    task = asyncio.create_task(deliver())
    while True:
        try:
            data = await reader.read(1 << 16)
        except OSError:
            data = b""
        now = loop.time()
        if not data:
            q.put_nowait((now + delay, None))
            break
        conn.saw(way, data)
        q.put_nowait((now + delay, data))
    await task


async def handle(creader, cwriter, target, half, log):
    conn = Conn()
    loop = asyncio.get_running_loop()
    server_w = loop.create_future()
    client_w = loop.create_future()
    client_w.set_result(cwriter)

    async def connect():
        await asyncio.sleep(3 * half)   # the handshake's 1.5 round trips
        r, w = await asyncio.open_connection("127.0.0.1", target)
        server_w.set_result(w)
        return r

    try:
        sreader_task = asyncio.create_task(connect())
        up = asyncio.create_task(pump(creader, server_w, conn, "c2s", half))
        sreader = await sreader_task
        down = asyncio.create_task(pump(sreader, client_w, conn, "s2c", half))
        await asyncio.gather(up, down)
    except OSError:
        pass
    finally:
        for w in (cwriter, server_w.result() if server_w.done() else None):
            if w:
                w.close()
        log.write("open=%.4f close=%.4f c2s_turns=%d s2c_turns=%d mail=%d bdat=%d c2s=%d s2c=%d\n" % (
            conn.open, time.time(), conn.turns["c2s"], conn.turns["s2c"], conn.mail, conn.bdat,
            conn.bytes["c2s"], conn.bytes["s2c"]))
        log.flush()


async def main():
    listen, target, rtt_ms, logpath = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    half = rtt_ms / 2000.0
    log = open(logpath, "a")
    server = await asyncio.start_server(lambda r, w: handle(r, w, target, half, log),
                                        "127.0.0.1", listen, backlog=256)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
