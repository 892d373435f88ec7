#!/usr/bin/env bash
# The live demo: install, build, then checkpoint a running shell loop, kill it,
# restore it, and show it carried on from where it stopped with the same PID.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
CRYO=$PWD/build/cryo
W=$(mktemp -d /tmp/cryo-demo.XXXXXX)
FILE=$W/counter.txt
echo "==> starting the seed loop (writes a counter to $FILE every second)"
# the loop must not inherit stray descriptors of whatever runs this script
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
( setsid sh -c "echo \$\$ > $W/pid; i=0; while true; do echo \$i >> $FILE; i=\$(expr \$i + 1); sleep 1; done" </dev/null >/dev/null 2>&1 & )
sleep 3.5
PID=$(cat "$W/pid")
echo "    pid $PID, counter so far: $(tr '\n' ' ' < "$FILE")"
echo "==> cryo dump -t $PID -D $W/img"
"$CRYO" dump -t "$PID" -D "$W/img" -o "$W/dump.log"
# killed; its parent (init here) reaps it a moment later
for _ in $(seq 50); do
    st=$(awk '{print $3}' "/proc/$PID/stat" 2>/dev/null || true)
    [ -z "$st" ] && break
    sleep 0.1
done
if [ -n "${st:-}" ] && [ "$st" != Z ]; then echo "    !! pid $PID still runs"; exit 1; fi
echo "    the loop is gone (pid $PID no longer exists); images: $(ls "$W/img" | tr '\n' ' ')"
before=$(tail -n1 "$FILE")
sleep 2
echo "    two seconds later the counter is still at $(tail -n1 "$FILE") (was $before)"
echo "==> cryo restore -D $W/img -d"
"$CRYO" restore -D "$W/img" -d -o "$W/restore.log"
sleep 3.2
echo "    running again: $(ps -o pid=,cmd= -p "$PID")"
echo "    counter now: $(tr '\n' ' ' < "$FILE")"
last=$(tail -n1 "$FILE")
if [ "$last" -gt "$before" ] && kill -0 "$PID" 2>/dev/null; then
    echo "==> it carried on from $before to $last with the same pid $PID"
    status=0
else
    echo "==> FAILED: the restored loop did not continue"
    status=1
fi
kill -9 "$PID" 2>/dev/null || true
exit $status
