#!/usr/bin/python3
# Speaks wsbridge --framing=length: every message, both ways, is a record,
# a 5-byte header (type 1 text or 2 binary, then the length, 4 bytes big
# endian) and the payload. Answers each message with its type, its length
# and its payload reversed (by character for text, by byte for binary).
import struct
import sys

stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
while header := stdin.read(5):
    kind, length = struct.unpack(">BI", header)
    payload = stdin.read(length)
    if kind == 1:
        answer = f"text, {length} bytes: {payload.decode()[::-1]}".encode()
    else:
        answer = b"binary, %d bytes: " % length + payload[::-1]
    stdout.write(struct.pack(">BI", kind, len(answer)) + answer)
    stdout.flush()
