#!/bin/sh
# name: sparkq-watcher
# description: Wake an idle SparkQ worker of a stream as soon as work is pending
# inputs: STREAM
# tags: sparkq, watcher
#
# A thin wrapper over `sparkq watch STREAM`, which does the whole protocol:
# the lock /tmp/sparkq-STREAM.lock (refused while a live watcher holds it,
# taken over from a dead one), the FIFO /tmp/sparkq-STREAM-pipe, the done
# flag /tmp/sparkq-STREAM-done, dead-claim sweeps, and cleanup on SIGTERM or
# SIGINT. The worker waits with:
#   touch /tmp/sparkq-STREAM-done && cat /tmp/sparkq-STREAM-pipe >/dev/null && sparkq claim --stream=STREAM
#
# $SPARKQ names the binary (default: sparkq on PATH); $SPARKQ_RUNTIME_DIR
# moves the files away from /tmp.
if [ "$#" -ne 1 ]; then
  echo "Usage: $0 STREAM" >&2
  exit 2
fi
exec "${SPARKQ:-sparkq}" watch "$1"
