#!/usr/bin/env python3
# Answers each line NAME with "Hello, NAME!". Run: wsbridge --port=8080 ./examples/greeter.py
import sys

for line in sys.stdin:
    name = line.rstrip("\r\n")
    print(f"Hello, {name}!", flush=True)
