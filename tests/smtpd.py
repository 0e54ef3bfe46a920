#!/usr/bin/python3
"""smtpd: a scripted SMTP server for msgspool's integration tests (aiosmtpd).

Replies are chosen by the recipient's local part, so one server covers many
cases:  temp451@ -> 451 at RCPT, perm550@ -> 550 at RCPT, data554@ -> 554
after the data, data451@ -> 451 after the data, data421@ -> 421 and close
after the data, drop@ -> the connection is closed after the data without a
reply, hang@ -> no answer to RCPT at all, bye421@ -> 421 and close; a
sender mail451@ or mail553@ gets that code at MAIL.  Anything else is
accepted and stored as OUT/N.eml with OUT/N.env (MAIL FROM and RCPT TO).

Options: --port, --out, --starttls/--tls CERT KEY (STARTTLS offered, or
implicit TLS), --auth USER:PASS (AUTH required), --hang-greeting, --ready
FILE (written once listening), --delay S (wait before answering the data),
--release FILE (the --delay wait ends early once FILE exists: a test holds
a reply only as long as it needs, with S as the bound),
--pipelining (PIPELINING offered in the EHLO reply; aiosmtpd reads
pipelined commands in order either way), --record-quit (OUT/quit.log says
whether the client waited for the 221), --smtputf8, --size N (SIZE
offered and enforced), --close-after N (a connection closed silently after
N messages), --max-sessions N (421 to a session beyond N at once), --chunking
(CHUNKING and PIPELINING offered, BDAT taken, RFC 3030: a chunk is read
whole before any refusal), --groups (OUT/groups.log: one line per group
of client input that arrived without the server waiting on the network,
its commands in order and "data" for message text, "." for the dot: the
round trips the client made), --hold-reply S (the reply to a message's
end waits until the client writes more or S seconds pass: what came
meanwhile was sent without waiting for it, so it joins the group),
--rtt S (EHLO and MAIL answered S seconds late: a server one round trip of
S away, for the client's choice to hold a reply), --rtt-ehlo S (EHLO
answered S late instead: a server quick to greet and slow at MAIL);
dataglitch@ gets a reply that is not SMTP after the data.  Each stored message also gets
OUT/N.helo: the EHLO name and the MAIL FROM parameters."""
import argparse
import asyncio
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


HOLD_REPLY = 0.0
RELEASE = None


def unread(server):
    """Notes in the group log that the connection closes with client input
    not read yet (the next envelope, pipelined)."""
    if isinstance(server._reader, GroupReader) and server._reader._buffer:
        server._reader.note(False, "(unread)")


class Handler:
    def __init__(self, out, delay=0.0, close_after=0):
        self.close_after = close_after
        self.out = out
        self.n = 0
        self.delay = delay

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        local = address.split("@")[0].lower()
        if local.startswith("mail451"):
            return "451 4.3.0 sender deferred"
        if local.startswith("mail553"):
            return "553 5.1.8 sender refused"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local.startswith("temp451"):
            return "451 4.3.0 try again later"
        if local.startswith("perm550"):
            return "550 5.1.1 no such user here"
        if local.startswith("bye421"):
            # The reply goes out, then the connection is closed at once.
            await server.push("421 4.3.2 shutting down")
            server.transport.close()
            return "421 4.3.2 shutting down"
        if local.startswith("hang"):
            await asyncio.sleep(3600)
        if local.startswith("garbage"):
            return "hello, this is not SMTP"

        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0].split("@")[0].lower() if envelope.rcpt_tos else ""
        if HOLD_REPLY:
            # Until the client writes more or the time is up: input that
            # comes meanwhile was sent without waiting for this reply.
            end = asyncio.get_event_loop().time() + HOLD_REPLY
            while not server._reader._buffer and not server._reader.at_eof() and asyncio.get_event_loop().time() < end:
                await asyncio.sleep(0.005)
        if rcpt.startswith("drop"):
            unread(server)
            server.transport.close()
            return "421 closing"
        if rcpt.startswith("slowdata"):
            await asyncio.sleep(3600)
        if rcpt.startswith("data554"):
            return "554 5.6.0 message content rejected"
        if rcpt.startswith("data451"):
            return "451 4.3.0 message deferred, try later"
        if rcpt.startswith("data421"):
            unread(server)
            await server.push("421 4.3.2 shutting down")
            server.transport.close()
            return "421 4.3.2 shutting down"
        if rcpt.startswith("dataglitch"):
            return "hello, this is not SMTP either"
        if self.delay and RELEASE:
            end = asyncio.get_event_loop().time() + self.delay
            while not os.path.exists(RELEASE) and asyncio.get_event_loop().time() < end:
                await asyncio.sleep(0.05)
        elif self.delay:
            await asyncio.sleep(self.delay)
        self.n += 1
        base = os.path.join(self.out, "%d.%d" % (os.getpid(), self.n))
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".env", "w") as f:
            f.write("%s\n%s\n" % (envelope.mail_from, " ".join(envelope.rcpt_tos)))
        with open(base + ".helo", "w") as f:
            f.write("%s\n%s\n" % (session.host_name, " ".join(envelope.mail_options)))
        os.rename(base + ".tmp", base + ".eml")
        session.done = getattr(session, "done", 0) + 1
        if self.close_after and session.done >= self.close_after:
            # Closed without a word, as a server ending an idle connection.
            asyncio.get_event_loop().call_later(0.2, server.transport.close)
        return "250 2.0.0 queued as %d" % self.n


class PipeliningHandler(Handler):
    extensions = ["250-PIPELINING"]

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses[:-1] + self.extensions + [responses[-1]]


class ChunkingHandler(PipeliningHandler):
    extensions = ["250-PIPELINING", "250-CHUNKING"]


class Seven(Handler):
    """Offers no 8BITMIME (aiosmtpd always does)."""
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        kept = [r for r in responses if "8BITMIME" not in r]
        return [r.replace("250 ", "250-", 1) for r in kept[:-1]] + [kept[-1].replace("250-", "250 ", 1)]


class GroupReader:
    """The session's reader, noting in OUT/groups.log each time the server
    must wait on the network for what it reads next: a new line there is
    a new round trip of the client's."""

    def __init__(self, reader, path):
        self._r = reader
        self.path = path
        self.in_data = False

    def __getattr__(self, name):
        return getattr(self._r, name)

    def note(self, waited, token):
        if token == "data" and not waited and getattr(self, "last", None) == "data":
            return  # one "data" for the lines of a message that came together
        self.last = token
        with open(self.path, "a") as f:
            f.write(("\n" if waited else " ") + token)

    async def readuntil(self, separator=b"\n"):
        waited = separator not in self._r._buffer
        line = await self._r.readuntil(separator)
        if self.in_data:
            self.note(waited, "." if line == b".\r\n" else "data")
        else:
            self.note(waited, line.split(b" ")[0].strip().upper().decode("ascii", "replace"))
        return line

    async def readexactly(self, n):
        waited = len(self._r._buffer) < n
        data = await self._r.readexactly(n)
        self.note(waited, "data")
        return data


class ScriptedSMTP(SMTP):
    """aiosmtpd's server with BDAT (RFC 3030), which it lacks, and the
    group log when asked for."""
    groups = None
    rtt = 0.0
    rtt_ehlo = None

    def _client_connected_cb(self, reader, writer):
        super()._client_connected_cb(GroupReader(reader, self.groups) if self.groups else reader, writer)

    # --rtt: EHLO and MAIL (the first command of each group) are answered
    # that much later, as by a server one network round trip away.
    async def smtp_EHLO(self, arg):
        rtt = self.rtt if self.rtt_ehlo is None else self.rtt_ehlo
        if rtt:
            await asyncio.sleep(rtt)
        await super().smtp_EHLO(arg)

    async def smtp_MAIL(self, arg):
        if self.rtt:
            await asyncio.sleep(self.rtt)
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg):
        if self.groups:
            self._reader.in_data = True
        try:
            await super().smtp_DATA(arg)
        finally:
            if self.groups:
                self._reader.in_data = False

    async def smtp_BDAT(self, arg):
        words = (arg or "").split()
        if not 1 <= len(words) <= 2 or not words[0].isdigit() or words[1:] not in ([], ["LAST"]):
            await self.push("501 5.5.4 Syntax: BDAT size [LAST]")
            return
        chunk = await self._reader.readexactly(int(words[0]))
        if not self.envelope.mail_from:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        if not self.envelope.rcpt_tos:
            # Read whole and refused, as Postfix does.
            await self.push("554 5.5.1 Error: no valid recipients")
            self._set_post_data_state()
            return
        got = getattr(self.envelope, "chunks", b"") + chunk
        if len(words) == 1:
            self.envelope.chunks = got
            await self.push("250 2.0.0 %d octets received" % len(chunk))
            return
        self.envelope.original_content = self.envelope.content = got
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)


class QuitRecordingSMTP(ScriptedSMTP):
    """Answers QUIT after a pause and records in OUT/quit.log whether the
    client was still there to read the 221."""
    async def smtp_QUIT(self, arg):
        await asyncio.sleep(0.3)
        with open(os.path.join(self.event_handler.out, "quit.log"), "a") as f:
            f.write("closed-before-221\n" if self._reader.at_eof() else "waited-for-221\n")
        await super().smtp_QUIT(arg)


class LimitedSMTP(ScriptedSMTP):
    """Takes at most `limit` sessions at once; one more is greeted with 421
    and closed, as a server limiting connections per client does."""
    limit = 0
    open_sessions = 0

    async def _handle_client(self):
        if LimitedSMTP.open_sessions >= LimitedSMTP.limit:
            await self.push("421 4.7.0 too many sessions from your address, try later")
            self.transport.close()
            return
        LimitedSMTP.open_sessions += 1
        try:
            await super()._handle_client()
        finally:
            LimitedSMTP.open_sessions -= 1


class HangingSMTP(ScriptedSMTP):
    async def _handle_client(self):
        await asyncio.sleep(3600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--auth")
    ap.add_argument("--hang-greeting", action="store_true")
    ap.add_argument("--ready")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before each reply to the data")
    ap.add_argument("--pipelining", action="store_true")
    ap.add_argument("--record-quit", action="store_true", help="record whether the client waits for the 221")
    ap.add_argument("--smtputf8", action="store_true", help="offer SMTPUTF8 (RFC 6531)")
    ap.add_argument("--no-8bitmime", action="store_true", help="do not offer 8BITMIME")
    ap.add_argument("--size", type=int, default=0, help="SIZE limit offered and enforced (bytes)")
    ap.add_argument("--close-after", type=int, default=0, help="close a connection silently after N messages")
    ap.add_argument("--max-sessions", type=int, default=0, help="421 to a session beyond N at once")
    ap.add_argument("--chunking", action="store_true", help="offer CHUNKING (and PIPELINING), take BDAT")
    ap.add_argument("--groups", action="store_true", help="log the groups of client input in OUT/groups.log")
    ap.add_argument("--hold-reply", type=float, default=0.0,
                    help="hold the reply to a message until the client writes more, or S seconds")
    ap.add_argument("--release", help="end the --delay wait early once this file exists")
    ap.add_argument("--rtt", type=float, default=0.0,
                    help="answer EHLO and MAIL S seconds late, as a server a round trip of S away")
    ap.add_argument("--rtt-ehlo", type=float, help="answer EHLO this late instead (a server slow only at MAIL)")
    a = ap.parse_args()
    global HOLD_REPLY, RELEASE
    HOLD_REPLY = a.hold_reply
    RELEASE = a.release
    os.makedirs(a.out, exist_ok=True)
    if a.groups:
        ScriptedSMTP.groups = os.path.join(a.out, "groups.log")
    ScriptedSMTP.rtt = a.rtt
    ScriptedSMTP.rtt_ehlo = a.rtt_ehlo
    handler = (ChunkingHandler if a.chunking else PipeliningHandler if a.pipelining else Seven if a.no_8bitmime
               else Handler)(a.out, a.delay, a.close_after)
    kw = {"enable_SMTPUTF8": a.smtputf8}
    if a.size:
        kw["data_size_limit"] = a.size
    cert = a.starttls or a.tls
    if cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert[0], cert[1])
        if a.starttls:
            kw["tls_context"] = ctx
        else:
            kw["ssl_context"] = ctx
    if a.auth:
        user, pw = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == pw
            return AuthResult(success=ok, handled=False)

        kw["authenticator"] = authenticator
        kw["auth_required"] = True
        kw["auth_require_tls"] = bool(a.starttls)

    class C(Controller):
        def factory(self):
            cls = HangingSMTP if a.hang_greeting else QuitRecordingSMTP if a.record_quit else ScriptedSMTP
            if a.max_sessions:
                LimitedSMTP.limit = a.max_sessions
                cls = LimitedSMTP
            return cls(self.handler, hostname="test.example.org", **self.SMTP_kwargs)

    ctl = C(handler, hostname="127.0.0.1", port=a.port, **kw)
    ctl.start()
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    signal.signal(signal.SIGTERM, lambda *x: (ctl.stop(), sys.exit(0)))
    signal.pause()


if __name__ == "__main__":
    main()
