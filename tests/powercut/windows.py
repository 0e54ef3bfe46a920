#!/usr/bin/python3
"""windows: power cuts at chosen points of msgspool's own steps, on pcfs.

Usage: windows.py --build DIR --work DIR. Each case stops a msgspool
process at a point (MSGSPOOL_TEST_STOP: it exits there, as at a crash, or
with "pause:" stops there, all it holds held), lets another msgspool
process run, cuts the power, boots the file system again and lets
recovery run (`msgspool send`, which recovers active/ and half-published
compositions before sending; the mail server is away, so nothing is
sent). Then every receiver the spool had promised must be named in
exactly one status directory. Prints ok/FAIL lines and "N passed, N
failed"."""
import argparse
import os
import socket
import subprocess
import sys
import time

from pcmount import Mount, check, summary

STATUS = ["new", "active", "failed", "error", "hold", "sent", "corrupt"]


def dsync(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)


class Case:
    def __init__(self, a, name):
        self.a = a
        self.work = os.path.join(a.work, name)
        self.m = Mount(os.path.join(self.work, "backing"), os.path.join(self.work, "mnt"),
                       os.path.join(self.work, "pcfs.log"))
        self.spool = os.path.join(self.m.mnt, "spool")
        self.conf = os.path.join(self.work, "msgspool.yaml")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nobody listens: sends fail at once, receivers stay put
        with open(self.conf, "w") as f:
            f.write("spool: %s\ntransport: smtp\nfrom: \"Windows <noreply@example.org>\"\n"
                    "daemon:\n  user: root\n"
                    "smtp:\n  host: 127.0.0.1\n  port: %d\n  timeout: 2\n  helo: client.test.example\n" % (self.spool, port))
        self.env = dict(os.environ, MSGSPOOL_CONFIG=self.conf)
        self.m.start()
        self.ms(["init"])
        dsync(self.m.mnt)

    def ms(self, argv, stop=None, stdin=None):
        env = dict(self.env)
        if stop:
            env["MSGSPOOL_TEST_STOP"] = stop
        return subprocess.run([os.path.join(self.a.build, "msgspool")] + argv, env=env, input=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def cut_and_boot(self):
        self.m.cut()
        self.m.detach()
        self.m.start()

    def names(self):
        got = {}
        for d in STATUS:
            for n in os.listdir(os.path.join(self.spool, d)):
                if n.endswith(".yaml"):
                    got.setdefault(n[:-5], []).append(d)
        return got

    def stop(self):
        self.m.stop()


def compose_file(work, n):
    path = os.path.join(work, "compose.yaml")
    with open(path, "w") as f:
        f.write("msgspool: 1\ndefault_language: en\nlanguages:\n  en: {subject: \"Hi\", text: \"Hello.\"}\n"
                "receivers:\n")
        for i in range(n):
            f.write("  - {user: \"u%d\", send_to: u%d@example.com}\n" % (i, i))
    return path


def committed_compose(a):
    """A composition stopped right after its record was created (the commit
    point: recovery is to publish it), then the power cut."""
    c = Case(a, "compose-committed")
    try:
        r = c.ms(["compose", compose_file(c.work, 5)], stop="compose-committed")
        if not check("compose stopped at its commit point", r.returncode, 99):
            print("# " + r.stderr.decode(errors="replace").strip())
        recs = [n for n in os.listdir(os.path.join(c.spool, "messages")) if n.endswith(".yaml")]
        c.cut_and_boot()
        durable = [n for n in os.listdir(os.path.join(c.spool, "messages")) if n.endswith(".yaml")]
        check("its record is durable", durable, recs)
        c.ms(["send"])  # recovery publishes the batch; the server is away
        got = c.names()
        check("after a cut at the commit point, recovery publishes all 5 receivers",
              sorted(sum(got.values(), [])), ["new"] * 5)
    finally:
        c.stop()


def stopped(pid):
    """True once the process is stopped (state T), as the pause leaves it."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False


def split_claim(a):
    """A claim paused between its rename out of new/ and its flush of
    active/ (rule 3's window), another producer's enqueue (whose flush of
    new/ would make the rename's removal durable alone), then the power cut:
    the first receiver must still be in the spool after recovery, and the
    second too if its enqueue said so."""
    c = Case(a, "claim-split")
    procs = []
    try:
        r = c.ms(["enqueue", "--to", "split@example.com", "--subject", "Split", "--text-file", "-"],
                 stdin=b"Hello.\n")
        check("enqueued", r.returncode, 0)
        (rid,) = c.names().keys()
        env = dict(c.env, MSGSPOOL_TEST_STOP="pause:claim-renamed")
        bin_ = os.path.join(a.build, "msgspool")
        send = subprocess.Popen([bin_, "send"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(send)
        for _ in range(500):
            if stopped(send.pid) or send.poll() is not None:
                break
            time.sleep(0.02)
        check("send paused after the claim's rename", stopped(send.pid), True)
        check("the claim renamed it into active/", c.names().get(rid), ["active"])
        second = subprocess.Popen([bin_, "enqueue", "--to", "second@example.com", "--subject", "Second",
                                   "--text-file", "-"], env=c.env, stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(second)
        second.stdin.write(b"Hello.\n")
        second.stdin.close()
        # Unfenced, it flushes new/ and is done in milliseconds; fenced, it
        # waits for the claim, paused. Either way the power goes after this.
        try:
            second.wait(3)
        except subprocess.TimeoutExpired:
            pass
        promised = second.poll() == 0
        c.cut_and_boot()
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        c.ms(["send"])  # recovery; the server is away
        got = c.names()
        check("after a cut in the claim's window the receiver is still in the spool", got.get(rid), ["new"])
        others = [k for k in got if k != rid]
        check("the second receiver is in the spool if its enqueue said so",
              not promised or [got[k] for k in others] == [["new"]], True)
        print("# the second enqueue %s before the cut" % ("returned 0" if promised else "had not returned"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        c.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    split_claim(a)
    committed_compose(a)
    sys.exit(summary())


if __name__ == "__main__":
    main()
