#!/bin/sh
# Seed C/R test: a shell loop appending a counter to the file "$1" once a
# second. tests/run.py (flavour "script") runs the non-comment lines as
#   sh -c '<loop>' sh FILE
# in a new session, dumps the tree (sh plus its sleep or expr child, the
# latter with a pipe back to sh) several times at random phases, restores
# it and checks the file counts on with no gap or duplicate and same pids.
i=0; while true; do echo $i >> "$1"; i=$(expr $i + 1); sleep 1; done
