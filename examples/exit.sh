#!/bin/sh
# Reads one line N and exits with status N: the client sees close code 4000+N.
# Run: wsbridge --port=8080 ./examples/exit.sh
read -r n
exit "$n"
