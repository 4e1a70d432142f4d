#!/usr/bin/env python3
# w6 app: grow RSS by RATE MiB/s (touched memory, in 10 steps per second) up to CAP MiB,
# then hold it forever.  usage: grow.py TAG [RATE_MiB_per_s] [CAP_MiB]
# (adapted from /work/shared/bench/peers/apps/grow.py: rate and cap made parameters)
import sys, time
rate = int(sys.argv[2]) if len(sys.argv) > 2 else 20
cap = int(sys.argv[3]) if len(sys.argv) > 3 else 300
step = max(1, rate // 10)
hold = []
while True:
    if len(hold) < cap:
        for _ in range(step):
            hold.append(b'g' * (1 << 20))   # bytes * n writes every page -> real RSS
    time.sleep(0.1)
