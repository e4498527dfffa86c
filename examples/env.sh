#!/bin/sh
# Prints the CGI environment the connection got, one VAR=value per line, sorted.
# Run: wsbridge --port=8080 ./examples/env.sh
env | sort
