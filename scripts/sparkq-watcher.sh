#!/bin/sh
# name: sparkq-watcher
# description: Wake an idle SparkQ worker of a stream as soon as work is pending
# inputs: STREAM
# tags: sparkq, watcher
#
# A thin wrapper over `sparkq watch STREAM`, which does the whole protocol:
# the lock STREAM.lock (refused while a live watcher holds it, taken over
# from a dead one), the FIFO STREAM.pipe and the done flag STREAM.done, all
# in this project's private runtime folder; dead-claim sweeps; cleanup on
# SIGTERM or SIGINT. The watcher prints the worker's wait command with the
# real paths when it starts; the worker can also run it with:
#   eval "$(sparkq watch STREAM --wait-command)"
#
# $SPARKQ names the binary (default: sparkq on PATH); $SPARKQ_RUNTIME_DIR
# chooses the folder that holds each project's runtime folder.
if [ "$#" -ne 1 ]; then
  echo "Usage: $0 STREAM" >&2
  exit 2
fi
exec "${SPARKQ:-sparkq}" watch "$1"
