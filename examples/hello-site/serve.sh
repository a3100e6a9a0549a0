#!/bin/sh
# An executable file, so the example's NAR records an executable bit.
exec busybox httpd -f -p 8080 -h "$(dirname "$0")"
