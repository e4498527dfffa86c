#!/usr/bin/python3
# A chat room with read receipts, for wsbridge --broadcast --envelope: one
# process per room; wsbridge tells it who joins and leaves and who says what.
#   wsbridge --port=8080 --broadcast --envelope --staticdir=examples/chat examples/chat/chat.py
# Clients send {"type":"say","text":...} and {"type":"read","id":ID} (when
# they have displayed message ID); they get {"type":"hello","you":ID},
# {"type":"msg","id":ID,"from":ID,"text":...}, {"type":"presence","online":N}
# and, as the sender of message ID, {"type":"receipt","id":ID,"readBy":N}.
# Message IDs start with the ID wsbridge gives this program in
# WSBRIDGE_PROGRAM (a new one after a --restart, or on a new owner with
# --redis): IDs never repeat, so a receipt never lands on an older message
# of a program that came before.
import json, os, sys

online, sender, readers, n = set(), {}, {}, 0
program = os.environ.get("WSBRIDGE_PROGRAM", "")

def send(msg, to=None):
    out = {"data": json.dumps(msg)}
    if to is not None:
        out["to"] = to
    print(json.dumps(out), flush=True)

for line in sys.stdin:
    m = json.loads(line)
    who = m.get("client")
    if m.get("event") == "join":
        online.add(who)
        send({"type": "hello", "you": who}, to=[who])
        send({"type": "presence", "online": len(online)})
    elif m.get("event") == "leave":
        online.discard(who)
        send({"type": "presence", "online": len(online)})
    elif m.get("event") is None:
        try:
            msg = json.loads(m["data"])
        except ValueError:
            continue  # not ours: ignore it
        if msg.get("type") == "say":
            n += 1
            mid = "%s-%d" % (program, n)
            sender[mid], readers[mid] = who, set()
            send({"type": "msg", "id": mid, "from": who, "text": str(msg.get("text", ""))})
        elif msg.get("type") == "read" and msg.get("id") in sender and who != sender[msg["id"]]:
            readers[msg["id"]].add(who)
            send({"type": "receipt", "id": msg["id"], "readBy": len(readers[msg["id"]])}, to=[sender[msg["id"]]])
