#!/usr/bin/python3
"""run: msgspoold and producers on pcfs, with the power cut at random points.

Usage: run.py --build DIR --src DIR --work DIR [--cuts N] [--receivers N]
              [--seed S] [--max-wait SECONDS] [--compose-max N]

Each round boots pcfs from what the last cut left, checks the spool, starts
msgspoold (which recovers what the cut left in active/) and two producers
(msgspool enqueue, one receiver each; msgspool compose, two to four each,
or to --compose-max: a backlog, where msgspoold claims several at once),
all sending to tests/smtpd.py on 127.0.0.1, then cuts the power after a
random delay: pcfs stops, every process on the mount is killed with
SIGKILL, the mount is detached. After the last cut the daemon runs until
every receiver is sent.

A receiver is "accepted" when its producer exited 0 (each has its own
address, rN@example.com). After every cut: every accepted receiver is in
exactly one status directory, `msgspool show` reads it, and its
sending_success_count is no lower than the server's count for its address
minus one per cut it was in flight (the at-least-once window); no
receiver anywhere is in two directories or in corrupt/, and nothing in
sent/ lacks a delivery the server accepted. Prints the figures and
"N passed, N failed"."""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

from pcmount import Mount

STATUS_DIRS = ["new", "active", "failed", "error", "hold", "sent", "corrupt"]


class Run:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.work = os.path.abspath(a.work)
        self.ms = os.path.join(a.build, "msgspool")
        self.msd = os.path.join(a.build, "msgspoold")
        self.mount = Mount(os.path.join(self.work, "backing"), os.path.join(self.work, "mnt"),
                           os.path.join(self.work, "pcfs.log"))
        self.spool = os.path.join(self.mount.mnt, "spool")
        self.out = os.path.join(self.work, "smtp-out")
        self.conf = os.path.join(self.work, "msgspool.yaml")
        self.env = dict(os.environ, MSGSPOOL_CONFIG=self.conf)
        self.accepted = {}      # address -> round accepted
        self.next_addr = 0
        self.lock = threading.Lock()
        self.server = {}        # address -> deliveries the server accepted
        self.seen_out = set()
        self.deficit = {}       # address -> server count - record count at the last check
        self.problems = []
        self.reported = set()
        self.dups = 0
        self.twins = 0
        self.recovery_checks = 0
        self.max_dups_cut = 0
        self.shown = {}         # (dir, name) -> (size, mtime_ns) already shown
        self.procs = []
        self.stop = threading.Event()

    # ---- setup ----

    def start_smtpd(self):
        os.makedirs(self.out, exist_ok=True)
        ready = os.path.join(self.work, "smtpd.ready")
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.smtpd = subprocess.Popen(["/usr/bin/python3", os.path.join(self.a.src, "tests", "smtpd.py"),
                                       "--port", str(self.port), "--out", self.out, "--ready", ready,
                                       "--pipelining"],
                                      stdout=open(os.path.join(self.work, "smtpd.log"), "w"),
                                      stderr=subprocess.STDOUT)
        for _ in range(100):
            if os.path.exists(ready):
                return
            time.sleep(0.1)
        raise RuntimeError("smtpd did not start")

    def write_conf(self):
        with open(self.conf, "w") as f:
            f.write("spool: %s\ntransport: smtp\nfrom: \"Powercut <noreply@example.org>\"\n"
                    "resend_limit: 100\n"
                    "daemon:\n  user: root\n  idle_close: 1\n  rescan_interval: 1\n  retry_failed_after: 1\n"
                    "smtp:\n  host: 127.0.0.1\n  port: %d\n  timeout: 5\n  connections: 4\n  helo: client.test.example\n"
                    % (self.spool, self.port))
        os.chmod(self.conf, 0o640)

    # ---- producers ----

    def new_addrs(self, n):
        with self.lock:
            first = self.next_addr
            self.next_addr += n
        return ["r%d@example.com" % i for i in range(first, first + n)]

    def spawn(self, argv, stdin=None):
        p = subprocess.Popen(argv, env=self.env, stdin=subprocess.PIPE if stdin is not None else None,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with self.lock:
            self.procs.append(p)
        if stdin is not None:
            try:
                p.stdin.write(stdin)
                p.stdin.close()
            except OSError:
                pass
        return p.wait()

    def enqueue_one(self, rnd):
        (addr,) = self.new_addrs(1)
        rc = self.spawn([self.ms, "enqueue", "--to", addr, "--subject", "Powercut " + addr, "--text-file", "-"],
                        stdin=("Hello %s.\n" % addr).encode())
        return [addr] if rc == 0 else []

    def compose_some(self, rnd, n):
        addrs = self.new_addrs(n)
        path = os.path.join(self.work, "compose.%d.yaml" % threading.get_ident())
        with open(path, "w") as f:
            f.write("msgspool: 1\ncontext_type: powercut\ndefault_language: en\n"
                    "languages:\n  en: {subject: \"Round {{r}}\", text: \"Hello {{user}}, round {{r}}.\"}\n"
                    "vars: {r: \"%d\"}\nreceivers:\n" % rnd)
            for a in addrs:
                f.write("  - {user: \"%s\", send_to: %s, vars: {user: \"%s\"}}\n" % (a, a, a))
        rc = self.spawn([self.ms, "compose", path])
        return addrs if rc == 0 else []

    def producer(self, rnd, quota, kind):
        made = 0
        while made < quota and not self.stop.is_set():
            got = self.enqueue_one(rnd) if kind == "enqueue" else self.compose_some(rnd, self.rng.randint(2, self.a.compose_max))
            with self.lock:  # exit 0 means its fsyncs returned: durable, even if the cut follows
                for a in got:
                    self.accepted[a] = rnd
            made += max(1, len(got))

    # ---- checks ----

    def problem(self, rnd, what, key=None):
        """Records a failure; one that persists (key) is counted once."""
        key = key or what
        if key in self.reported:
            return
        self.reported.add(key)
        self.problems.append("cut %d: %s" % (rnd, what))
        if len(self.problems) <= 30:
            print("FAIL - cut %d: %s" % (rnd, what), flush=True)

    def read_server(self):
        for name in os.listdir(self.out):
            if not name.endswith(".env") or name in self.seen_out:
                continue
            with open(os.path.join(self.out, name)) as f:
                lines = f.read().split("\n")
            if len(lines) < 2 or not os.path.exists(os.path.join(self.out, name[:-4] + ".eml")):
                continue
            self.seen_out.add(name)
            for rcpt in lines[1].split():
                self.server[rcpt] = self.server.get(rcpt, 0) + 1

    def show(self, rid):
        r = subprocess.run([self.ms, "show", "--json", rid], env=self.env, capture_output=True)
        if r.returncode != 0:
            return None, r.stderr.decode(errors="replace").strip()
        return json.loads(r.stdout), None

    def scan(self, rnd, at_boot):
        """id -> [(dir, record)]; every file is read by msgspool show once
        per content."""
        where = {}
        for d in STATUS_DIRS:
            for name in os.listdir(os.path.join(self.spool, d)):
                if name.endswith(".yaml"):
                    where.setdefault(name[:-5], []).append(d)
        recs = {}
        for rid, dirs in where.items():
            if len(dirs) > 1:
                inos = {os.stat(os.path.join(self.spool, d, rid + ".yaml")).st_ino for d in dirs}
                if at_boot and len(dirs) == 2 and "active" in dirs and len(inos) == 1:
                    self.twins += 1  # a claim whose source flush the cut overtook: recovery's
                else:
                    self.problem(rnd, "%s is in %s" % (rid, " and ".join(d + "/" for d in dirs)), rid)
            d = dirs[-1]  # the most advanced copy answers for the counts
            st = os.stat(os.path.join(self.spool, d, rid + ".yaml"))
            key = (d, rid)
            sig = (st.st_ino, st.st_size, st.st_mtime_ns)
            if self.shown.get(key, (None,))[0] == sig:
                recs[rid] = (d, self.shown[key][1])
                continue
            rec, why = self.show(rid)
            if rec is None:
                self.problem(rnd, "%s/%s.yaml does not parse: %s" % (d, rid, why))
                continue
            self.shown[key] = (sig, rec)
            recs[rid] = (d, rec)
        return recs

    def check(self, rnd, final=False):
        self.read_server()
        recs = self.scan(rnd, not final)
        by_addr = {}
        for rid, (d, rec) in recs.items():
            by_addr.setdefault(rec.get("send_to"), []).append((rid, d, rec))
        dups_now = 0
        for addr, rs in by_addr.items():
            if len(rs) > 1:
                self.problem(rnd, "%s has %d receiver files" % (addr, len(rs)), addr)
                continue
            rid, d, rec = rs[0]
            c = int(rec.get("sending_success_count") or 0)
            k = self.server.get(addr, 0)
            if d == "corrupt":
                self.problem(rnd, "%s (%s) quarantined in corrupt/" % (rid, addr), rid + "corrupt")
            if d == "sent" and k == 0:
                self.problem(rnd, "%s (%s) in sent/ but the server never accepted it" % (rid, addr), rid + "unsent")
            if c > k:
                self.problem(rnd, "%s (%s) counts %d successes, the server saw %d" % (rid, addr, c, k), rid + "over")
            more = (k - c) - self.deficit.get(addr, 0)
            if more > 1:
                self.problem(rnd, "%s (%s): %d deliveries lost from its record in one cut" % (rid, addr, more))
            if more > 0:
                dups_now += more
            self.deficit[addr] = max(k - c, self.deficit.get(addr, 0))
        lost = [a for a in self.accepted if a not in by_addr]
        for a in lost:
            self.problem(rnd, "receiver for %s (accepted in round %d) is gone" % (a, self.accepted[a]))
            self.accepted.pop(a)
        self.dups += dups_now
        self.max_dups_cut = max(self.max_dups_cut, dups_now)
        if final:
            for a in self.accepted:
                if a in by_addr and by_addr[a][0][1] != "sent":
                    self.problem(rnd, "%s ended in %s/" % (a, by_addr[a][0][1]))
        return by_addr

    # ---- rounds ----

    def kill_all(self):
        with self.lock:
            procs, self.procs = self.procs, []
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()

    def start_daemon(self):
        p = subprocess.Popen([self.msd, "--foreground"], env=self.env,
                             stdout=open(os.path.join(self.work, "msgspoold.log"), "a"), stderr=subprocess.STDOUT)
        with self.lock:
            self.procs.append(p)

    def names_once(self, rnd):
        """After recovery: every receiver name in exactly one directory."""
        seen = {}
        # Listed against the flow (the daemon is running): a receiver moving
        # on between two listings is missed, never seen twice.
        for d in ("sent", "error", "corrupt", "hold", "failed", "active", "new"):
            for name in os.listdir(os.path.join(self.spool, d)):
                if name.endswith(".yaml"):
                    seen.setdefault(name, []).append(d)
        for name, dirs in seen.items():
            if len(dirs) > 1:
                self.problem(rnd, "after recovery %s is in %s" % (name, " and ".join(dirs)), name + "rec")
        self.recovery_checks += 1

    def wait_started(self, log, start):
        for _ in range(100):
            with open(log, "rb") as f:
                f.seek(start)
                if b"started:" in f.read():
                    return True
            time.sleep(0.05)
        return False

    def round(self, rnd, quota):
        self.mount.start()
        self.check(rnd)
        self.stop.clear()
        log = os.path.join(self.work, "msgspoold.log")
        start = os.path.getsize(log) if os.path.exists(log) else 0
        self.start_daemon()
        # Half the rounds let recovery finish and check it; in the others
        # the next cut may fall in the middle of recovery.
        if self.rng.random() < 0.5 and self.wait_started(log, start):
            self.names_once(rnd)
        q1 = quota // 2
        ths = [threading.Thread(target=self.producer, args=(rnd, q1, "enqueue")),
               threading.Thread(target=self.producer, args=(rnd, quota - q1, "compose"))]
        for t in ths:
            t.start()
        time.sleep(self.rng.uniform(0.0, self.a.max_wait))
        self.stop.set()
        self.mount.cut()
        self.kill_all()
        for t in ths:
            t.join()
        self.mount.detach()

    def finish(self, rnd):
        self.mount.start()
        self.check(rnd)
        self.start_daemon()
        deadline = time.time() + max(120, len(self.accepted) / 20)
        while time.time() < deadline:
            self.read_server()
            if all(self.server.get(a, 0) > 0 for a in self.accepted) and not any(
                    n.endswith(".yaml") for d in ("new", "active", "failed")
                    for n in os.listdir(os.path.join(self.spool, d))):
                break
            time.sleep(0.5)
        time.sleep(1.5)  # the last commits after the last 250
        self.kill_all()
        self.mount.cut()
        self.mount.detach()
        self.mount.start()
        self.check(rnd, final=True)
        self.mount.stop()

    def main(self):
        os.makedirs(self.work, exist_ok=True)
        self.start_smtpd()
        self.write_conf()
        self.mount.start()
        subprocess.run([self.ms, "init"], env=self.env, check=True, stdout=subprocess.DEVNULL)
        fd = os.open(self.mount.mnt, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)  # the spool's own name, in the mount's root
        os.close(fd)
        self.mount.stop()
        t0 = time.time()
        per = self.a.receivers / self.a.cuts
        owed = 0.0
        try:
            for rnd in range(1, self.a.cuts + 1):
                owed += per
                quota = int(owed)
                owed -= quota
                self.round(rnd, quota)
                if rnd % 50 == 0:
                    print("# cut %d: %d accepted, %d delivered, %d problems, %.0f s" % (
                        rnd, len(self.accepted), len(self.server), len(self.problems), time.time() - t0),
                        flush=True)
            self.finish(self.a.cuts + 1)
        finally:
            self.kill_all()
            self.mount.stop()
            self.smtpd.send_signal(signal.SIGTERM)
            self.smtpd.wait()
        lost = sum(1 for p in self.problems if "is gone" in p)
        delivered = sum(1 for a in self.accepted if self.server.get(a, 0) > 0)
        print("cuts: %d, receivers accepted: %d, delivered: %d, lost: %d, duplicates: %d "
              "(at most %d in one cut), claims named twice at boot: %d (recovery checked %d times), "
              "problems: %d, %.0f s" % (
                  self.a.cuts, len(self.accepted) + lost, delivered, lost, self.dups, self.max_dups_cut,
                  self.twins, self.recovery_checks, len(self.problems), time.time() - t0))
        return not self.problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cuts", type=int, default=50)
    ap.add_argument("--receivers", type=int, default=250)
    ap.add_argument("--seed", type=int, default=None)
    # Larger compositions make a backlog in new/, where msgspoold claims
    # several receivers at once (spool_claim_ahead).
    ap.add_argument("--compose-max", type=int, default=4)
    ap.add_argument("--max-wait", type=float, default=1.0)
    a = ap.parse_args()
    if a.seed is None:
        a.seed = int(time.time())
    print("# seed %d" % a.seed, flush=True)
    ok = Run(a).main()
    print("ok - power cuts lose nothing" if ok else "FAIL - power cuts lost or broke receivers")
    print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
