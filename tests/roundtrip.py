#!/usr/bin/python3
"""roundtrip: a property test of msgspool's header writer against Python's
email package (policy default, the reader the tests trust) and Perl's
Email::MIME.

  roundtrip.py generate DIR N SEED   writes N random receivers into DIR
                                      (DIR/cases.json keeps what each holds)
  roundtrip.py check MAILDIR CASES [PERL [ETPAN]]
                                      parses every delivered message and
                                      compares each field with its case; with
                                      PERL (tests/roundtrip.pl's output for
                                      MAILDIR), Email::MIME's fields too, with
                                      ETPAN (tests/roundtrip_etpan's) libetpan's
  roundtrip.py prove-generate FILE    headers that try every way to write a
                                      few short display names (candidates)
  roundtrip.py prove-check FILE PERL ETPAN
                                      which of them Python, Perl (PERL:
                                      roundtrip.pl --phrases FILE) and
                                      libetpan (ETPAN: roundtrip_etpan
                                      --phrases FILE.lines) read back

Subjects, display names (From, Reply-To) and a custom X- header are drawn
from pieces that break header writers: runs of spaces and tabs, emoji,
CJK, right-to-left text, "=?", quotes and backslashes, long words, values
of 998 octets. Every decoded field must equal the producer's string, with
no parser defect and no line over 998 octets. Prints the failures."""
import email
import email.policy
import json
import os
import random
import sys

PIECES = [" ", "  ", "   ", "\t", " \t ", "a", "word", "Øving", "æøå", "ÆØÅ", "😀", "👍🏽", "日本語",
          "件名のテスト", "中文标题", "שלום", "مرحبا", "=?", "?=", "=?utf-8?q?x?=", '"', "\\", '\\"',
          "(", ")", "<", ">", ",", ";", ":", "@", ".", "_", "=", "?", "'", "x" * 80,
          "y" * 200, "Devilry", "[Devilry]", "-- ", "From", "é", "ñ"]


def rand_text(rng, limit):
    n = rng.choice([1, 2, 3, 5, 8, 13, 30])
    s = "".join(rng.choice(PIECES) for _ in range(n))
    if rng.random() < 0.1:  # a value of the longest length a receiver allows
        s = (s * (limit // max(1, len(s.encode())) + 1))
    while len(s.encode()) > limit:
        s = s[:-1]
    return s


def yq(s):
    return json.dumps(s, ensure_ascii=False)


def quoted(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def generate(d, n, seed):
    rng = random.Random(seed)
    cases = {}
    for i in range(n):
        subj = rand_text(rng, 998 - len("[Devilry] ".encode()))
        fname = rand_text(rng, 200)
        rname = rand_text(rng, 200)
        if rng.random() < 0.4:  # runs of spaces alone: exact in all three readers
            fname, rname = fname.replace("\t", " "), rname.replace("\t", " ")
        xval = rand_text(rng, 990 - len("X-Roundtrip: "))
        to = "r%d@example.com" % i
        cases[to] = {"subject": "[Devilry] " + subj, "from": fname, "reply_to": rname, "x": xval}
        with open(os.path.join(d, "rt%05d.yaml" % i), "w", encoding="utf-8") as f:
            f.write("msgspool: 1\nsend_to: %s\nsubject: %s\ntext: \"hello\"\n" % (to, yq(subj)))
            f.write("from: %s\n" % yq(quoted(fname) + " <noreply@example.org>"))
            f.write("reply_to: %s\n" % yq(quoted(rname) + " <help@example.org>"))
            f.write("headers:\n  X-Roundtrip: %s\n" % yq(xval))
    with open(os.path.join(d, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)


def unsayable(name):
    """A display name with whitespace other than one space right next to a
    word that must be an encoded-word: RFC 2047 wants whitespace between an
    encoded-word and its neighbours, and Python's email joins the words of
    a phrase with one space, so no 7-bit header can carry it exactly."""
    import re
    for m in re.finditer(r"[ \t]+", name):
        run = m.group(0)
        before = m.start() > 0 and ew_word(name, m.start() - 1)
        after = m.end() < len(name) and ew_word(name, m.end())
        # The reader's one space must come out of the run, at its edge.
        if (before and not run.startswith(" ")) or (after and not run.endswith(" ")):
            return True
        if before and after and run != " " and len(run) < 2:
            return True
    return False


def unsayable_both(name):
    """What no 7-bit header can carry exactly to Python's email and Perl's
    Email::MIME at once: besides what Python cannot read back (above), a
    tab (any whitespace but spaces) between two words that must be
    encoded-words. Perl decodes a phrase after unquoting it and joining its
    tokens with one space, dropping whitespace between encoded-words (RFC
    2047 6.2) even when a quoted-string held it, and keeping what is inside
    them; Python reads each whitespace run outside quotes (between tokens,
    or inside an encoded-word) as one space. So between two encoded-words
    only spaces can be said (hdr.c: put_space_run_ew); "prove" below tries
    every header of a few tokens for short names of each kind."""
    import re
    if unsayable(name):
        return True
    for m in re.finditer(r"[ \t]+", name):
        if (m.start() > 0 and ew_word(name, m.start() - 1) and m.end() < len(name)
                and ew_word(name, m.end()) and m.group(0).strip(" ")):
            return True
    return False


def ew_word(name, i):
    """Whether the word around position i needs an encoded-word."""
    import re
    for m in re.finditer(r"[^ \t]+", name):
        if m.start() <= i < m.end():
            w = m.group(0)
            return any(ord(c) >= 0x7f or ord(c) < 0x20 for c in w) or "=?" in w
    return False


def failed(reader, to, case, got, problems):
    """Adds a wrong address to a reader's problems with a message and
    prints them; 1 when there are any."""
    want_addr = {"from_addr": "noreply@example.org", "reply_to_addr": "help@example.org"}
    problems += ["%s %r" % (k, got.get(k)) for k, v in want_addr.items() if got.get(k) != v]
    if not problems:
        return 0
    print("FAIL %s %s: fields %s" % (reader, to, problems))
    for k in problems[:2]:
        if k in case:
            print("   want %s: %r\n   got  %s: %r" % (k, case[k], k, got.get(k)))
    return 1


def check_perl(cases, perl_path):
    """Email::MIME's reading of every message against its case."""
    perl = json.load(open(perl_path, encoding="utf-8"))
    bad = unsaid = 0
    for to, case in sorted(cases.items()):
        got = perl.get(to)
        if got is None:
            print("FAIL perl: no message to %r" % to)
            bad += 1
            continue
        problems = [k for k in case if got.get(k) != case[k]]
        for k in ("from", "reply_to"):
            if k in problems and unsayable_both(case[k]):
                problems.remove(k)
                unsaid += 1
        bad += failed("perl", to, case, got, problems)
    print("perl: %d messages checked, %d failed; %d display names that no 7-bit header can carry "
          "exactly to both readers not counted" % (len(perl), bad, unsaid))
    return bad


def check_etpan(cases, etpan_path):
    """libetpan's reading (tests/roundtrip_etpan: mailimf_fields_parse, then
    mailmime_encoded_phrase_parse to UTF-8) of every message against its
    case. libetpan's decoder keeps whitespace only inside encoded-words:
    outside them it joins the words of a field with one space (runs of
    spaces and tabs become one space, leading whitespace goes, whitespace
    between two encoded-words goes), and its phrase parser does the same
    inside a quoted display name. Every field must be exact, a display name
    with runs of spaces included (hdr.c carries them inside encoded-words);
    only a display name holding a tab may differ, in whitespace alone: Python
    reads a tab only from a quoted-string, libetpan only from an
    encoded-word (prove_check shows no header says it to both), counted
    apart. Any other difference, a wrong address or a message it cannot
    read fails."""
    import re
    etpan = json.load(open(etpan_path, encoding="utf-8"))
    bare = lambda v: re.sub(r"[ \t]+", "", v) if isinstance(v, str) else v
    exact = runs = spaced = bad = 0
    for to, case in sorted(cases.items()):
        got = etpan.get(to)
        if got is None:
            print("FAIL libetpan: no message to %r" % to)
            bad += 1
            continue
        problems = []
        for k in case:
            if got.get(k) == case[k]:
                exact += 1
                runs += k in ("from", "reply_to") and "\t" not in case[k] and re.search(r"^ |  | $", case[k]) is not None
            elif k in ("from", "reply_to") and "\t" in case[k] and bare(got.get(k)) == bare(case[k]):
                spaced += 1
            else:
                problems.append(k)
        bad += failed("libetpan", to, case, got, problems)
    print("libetpan: %d messages checked, %d failed; fields: %d exact (%d display names with a run of spaces or "
          "leading or trailing spaces, no tab), %d display names holding a tab differing in whitespace alone "
          "(no header says a tab to both Python and libetpan)" % (len(etpan), bad, exact, runs, spaced))
    return bad


def check(maildir, cases_path, perl_path=None, etpan_path=None):
    cases = json.load(open(cases_path, encoding="utf-8"))
    seen, bad, unsaid = 0, 0, [0]
    for name in sorted(os.listdir(maildir)):
        raw = open(os.path.join(maildir, name), "rb").read()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        to = str(msg["to"])
        case = cases.get(to)
        if case is None:
            print("FAIL unknown message to %r" % to)
            bad += 1
            continue
        seen += 1
        got = {"subject": str(msg["subject"]), "from": msg["from"].addresses[0].display_name,
               "reply_to": msg["reply-to"].addresses[0].display_name, "x": str(msg["x-roundtrip"])}
        problems = [k for k in case if got[k] != case[k]]
        for k in ("from", "reply_to"):
            if k in problems and unsayable(case[k]):
                problems.remove(k)
                unsaid[0] += 1
        defects = [type(d).__name__ for d in msg.defects]
        for k in ("subject", "from", "reply-to", "x-roundtrip"):
            defects += [type(d).__name__ for d in msg[k].defects]
        longest = max(len(l) for l in raw.split(b"\n"))
        if msg["from"].addresses[0].addr_spec != "noreply@example.org":
            problems.append("from address %r" % msg["from"].addresses[0].addr_spec)
        if problems or defects or longest > 999:  # 998 and the CR
            bad += 1
            print("FAIL %s: fields %s, defects %s, longest line %d" % (to, problems, defects, longest))
            for k in problems[:2]:
                if k in case:
                    print("   want %s: %r\n   got  %s: %r" % (k, case[k], k, got[k]))
            head = raw.split(b"\r\n\r\n")[0].split(b"\n\n")[0]
            print("   header:\n" + head.decode("utf-8", "replace")[:3000])
    print("%d messages checked, %d of %d cases, %d failed; %d display names that no 7-bit header "
          "can carry exactly (a tab next to an encoded word) not counted" % (seen, seen, len(cases), bad, unsaid[0]))
    if perl_path:
        bad += check_perl(cases, perl_path)
    if etpan_path:
        bad += check_etpan(cases, etpan_path)
    return 0 if bad == 0 and seen == len(cases) else 1


# Display names next to encoded-words that no 7-bit header says exactly to
# both readers (unsayable_both), and controls that one can; "prove" tries
# every header made of the name's pieces (candidates, below) for each and
# expects none to work in both readers for the first and some for the
# second.
PROVE_UNSAYABLE = ["日\tx", "x\t日", "日\t語", "日 \t語", "\t日", "日\t", "é\t x", "x \té"]
PROVE_SAYABLE = ["日 x", "x 日", "日  x", "x  日", " 日", "日 ", "x\t 日", "日 \tx", "日  語", "日   語"]
# Display names with a tab, which no 7-bit header says exactly to both
# Python and libetpan (Python reads a tab only from a quoted-string,
# libetpan only from an encoded-word), and names with runs of spaces, or
# leading or trailing ones, that some header says to all three readers.
PROVE_TAB = ["a\tb", "\ta", "a\t", "a \tb", "a\t b", "日\tx"]
PROVE_SPACES = ["a  b", "a   b", " a", "  a", "a  ", "日  x", "x  日", "  日"]


def candidates(name):
    """Every phrase that renders name as consecutive pieces, each piece an
    encoded-word (B), a quoted-string, an atom or (whitespace only) bare
    whitespace, the pieces joined by nothing or one space: all the ways a
    writer could choose, up to the splits a short name has."""
    import base64
    import re

    def renderings(piece):
        out = ["=?utf-8?b?%s?=" % base64.b64encode(piece.encode()).decode()]
        if all(0x20 <= ord(c) < 0x7f or c == "\t" for c in piece) and "=?" not in piece:
            out.append('"' + piece.replace("\\", "\\\\").replace('"', '\\"') + '"')
        if re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", piece):
            out.append(piece)
        if piece.strip(" \t") == "":
            out.append(piece)
        if all(0x20 <= ord(c) < 0x7f or c == "\t" for c in piece) and piece.strip(" \t") != piece:
            # its whitespace as quoted-pairs, which some readers keep apart
            out.append('"' + "".join("\\" + c if c in " \t\"\\" else c for c in piece) + '"')
        return out

    n = len(name)
    for cuts in range(1 << (n - 1)):
        pieces, start = [], 0
        for i in range(1, n):
            if cuts >> (i - 1) & 1:
                pieces.append(name[start:i])
                start = i
        pieces.append(name[start:])
        yield from _join(pieces, renderings)


def _join(pieces, renderings):
    import itertools
    for toks in itertools.product(*[renderings(p) for p in pieces]):
        for seps in itertools.product(["", " "], repeat=len(toks) - 1):
            yield toks[0] + "".join(sep + t for sep, t in zip(seps, toks[1:]))


def prove_generate(path):
    cases = []
    for name in PROVE_UNSAYABLE + PROVE_SAYABLE + PROVE_TAB + PROVE_SPACES:
        for phrase in sorted(set(candidates(name))):
            cases.append({"name": name, "phrase": phrase})
    json.dump(cases, open(path, "w", encoding="utf-8"), ensure_ascii=False)
    with open(path + ".lines", "w", encoding="utf-8") as f:  # for roundtrip_etpan --phrases
        f.write("".join(c["phrase"] + "\n" for c in cases))


def prove_check(path, perl_path, etpan_path):
    """Which candidates each reader decodes to exactly the name (Python
    with no defect): for PROVE_UNSAYABLE none may work for both Python and
    Perl, for PROVE_TAB none for both Python and libetpan; some must work
    for both Python and Perl on PROVE_SAYABLE, and for all three on
    PROVE_SPACES; and the names must be classified as such."""
    cases = json.load(open(path, encoding="utf-8"))
    perl = json.load(open(perl_path, encoding="utf-8"))
    etpan = json.load(open(etpan_path, encoding="utf-8"))
    works = {}
    for case, pl, et in zip(cases, perl, etpan):
        raw = ("From: %s <a@example.org>\r\n\r\n" % case["phrase"]).encode()
        h = email.message_from_bytes(raw, policy=email.policy.default)["from"]
        py_ok = not h.defects and len(h.addresses) == 1 and h.addresses[0].display_name == case["name"]
        pl_ok, et_ok = pl == case["name"], et == case["name"]
        w = works.setdefault(case["name"], [0, 0, 0, 0, 0, 0, 0])
        for i, v in enumerate([1, py_ok, pl_ok, et_ok, py_ok and pl_ok, py_ok and et_ok, py_ok and pl_ok and et_ok]):
            w[i] += v
    bad = 0 if len(cases) == len(perl) == len(etpan) else 1
    for name, (n, py_n, pl_n, et_n, py_pl, py_et, all3) in works.items():
        if name in PROVE_UNSAYABLE + PROVE_SAYABLE:
            want_none = name in PROVE_UNSAYABLE
            ok = (py_pl == 0) == want_none and unsayable_both(name) == want_none
        else:
            want_none = name in PROVE_TAB
            ok = (py_et == 0 if want_none else all3 > 0) and ("\t" in name) == want_none
        bad += not ok
        print("%s prove %r: %d headers, exact in Python %d, Perl %d, libetpan %d; in Python and Perl %d, "
              "Python and libetpan %d, all three %d" % ("ok  " if ok else "FAIL", name, n, py_n, pl_n, et_n,
                                                        py_pl, py_et, all3))
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "prove-generate":
        prove_generate(sys.argv[2])
    elif sys.argv[1] == "prove-check":
        sys.exit(prove_check(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None,
                       sys.argv[5] if len(sys.argv) > 5 else None))
