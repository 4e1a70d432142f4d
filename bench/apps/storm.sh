#!/bin/sh
# w8 app: append one line to $1 (echo is a shell builtin: no extra fork), exit 1 at once.
# The line count of $1 is the ground truth of how many times the app was really executed.
echo x >> "$1"
exit 1
