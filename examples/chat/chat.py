#!/usr/bin/python3
# A chat room with read receipts, for wsbridge --broadcast --envelope: one
# process per room; wsbridge tells it who joins and leaves and who says what.
#   wsbridge --port=8080 --broadcast --envelope --staticdir=examples/chat examples/chat/chat.py
# Clients send {"type":"say","text":...} and {"type":"read","id":N} (when
# they have displayed message N); they get {"type":"hello","you":ID},
# {"type":"msg","id":N,"from":ID,"text":...}, {"type":"presence","online":N}
# and, as the sender of message N, {"type":"receipt","id":N,"readBy":N}.
import json, sys

online, sender, readers, next_id = set(), {}, {}, 1

def send(msg, to=None):
    out = {"data": json.dumps(msg)}
    if to is not None:
        out["to"] = to
    print(json.dumps(out), flush=True)

for line in sys.stdin:
    m = json.loads(line)
    who = m["client"]
    if m.get("event") == "join":
        online.add(who)
        send({"type": "hello", "you": who}, to=[who])
        send({"type": "presence", "online": len(online)})
    elif m.get("event") == "leave":
        online.discard(who)
        send({"type": "presence", "online": len(online)})
    else:
        try:
            msg = json.loads(m["data"])
        except ValueError:
            continue  # not ours: ignore it
        if msg.get("type") == "say":
            sender[next_id], readers[next_id] = who, set()
            send({"type": "msg", "id": next_id, "from": who, "text": str(msg.get("text", ""))})
            next_id += 1
        elif msg.get("type") == "read" and msg.get("id") in sender and who != sender[msg["id"]]:
            readers[msg["id"]].add(who)
            send({"type": "receipt", "id": msg["id"], "readBy": len(readers[msg["id"]])}, to=[sender[msg["id"]]])
