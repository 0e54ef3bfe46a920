#!/usr/bin/python3
"""parse_mail: reads a received message with Python's email package (the
real parser the tests trust) and prints what the tests compare:
subject, from, to, message-id, content type, each part's type and text,
and any parser defects, as JSON."""
import email
import email.policy
import json
import sys

raw = open(sys.argv[1], "rb").read()
msg = email.message_from_bytes(raw, policy=email.policy.default)
defects = [type(d).__name__ for d in msg.defects]
parts = []
for part in msg.walk():
    defects += [type(d).__name__ for d in part.defects]
    if part.is_multipart():
        continue
    parts.append({"type": part.get_content_type(), "charset": part.get_content_charset(),
                  "cte": part.get("Content-Transfer-Encoding"), "body": part.get_content()})
eight_bit = any(b > 127 for b in raw)
long_lines = max(len(l) for l in raw.split(b"\n"))
print(json.dumps({"subject": str(msg["subject"]), "from": str(msg["from"]), "to": str(msg["to"]),
                  "reply_to": str(msg["reply-to"]) if msg["reply-to"] else None,
                  "message_id": msg["message-id"], "date": msg["date"],
                  "content_type": msg.get_content_type(), "parts": parts, "defects": defects,
                  "eight_bit": eight_bit, "max_line": long_lines,
                  "headers": {k: str(v) for k, v in msg.items()}}, ensure_ascii=False))
