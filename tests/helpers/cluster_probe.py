"""WIP (issue 16): one 3-namespace DDP run with rank 2 slowed from 25 s; prints each interval's per-rank step
and onset lateness from the job records. Not a test: the probe behind docs/issue16-plan.md."""
import sys, os, time, json, subprocess
sys.path.insert(0, "/work/main/tests/helpers")
from ntlib import Cluster, Agent
DDP = "/work/main/scripts/ddp_demo.py"
slow = "/tmp/nt-slow"
if os.path.exists(slow): os.unlink(slow)
with Cluster(3) as c:
    master = c.hosts[0].address
    with Agent("--collect", "net,cpu", "--no-detect", interval_ms=1000) as agent:
        ranks = []
        for i, ns in enumerate(c.hosts):
            env = {**os.environ, "RANK": str(i), "WORLD_SIZE": "3", "LOCAL_RANK": "0", "MASTER_ADDR": master,
                   "MASTER_PORT": "29511", "GLOO_SOCKET_IFNAME": "eth0"}
            ranks.append(subprocess.Popen(["nsenter", f"--net=/run/netns/{ns.name}", "/usr/bin/python3", DDP,
                                           "--seconds", "45", "--slow-file", slow], env=env))
        t0 = time.time()
        time.sleep(25)
        busy = None
        if os.environ.get("PROBE_FAULT") == "cpu":  # rank 2 shares one CPU with a busy loop
            subprocess.run(["taskset", "-a", "-p", "-c", "1", str(ranks[2].pid)], check=True, stdout=subprocess.DEVNULL)
            busy = subprocess.Popen(["taskset", "-c", "1", "/usr/bin/python3", "-c", "while True: pass"])
        else:
            with open(slow, "w") as f: f.write("2 0.05")
        fault = time.time()
        for p in ranks: p.wait(timeout=200)
        if busy:
            busy.kill(); busy.wait()
    if os.path.exists(slow): os.unlink(slow)
print("fault at", round(fault - t0, 1))
def wrap(d, P):
    return ((d / P + 0.5) % 1) * P - P / 2
for r in agent.records:
    if r["type"] == "job" and r["job"].endswith(":29511"):
        steps = {x["rank"]: x for x in r["ranks"] if "step_s" in x and x.get("receive_onset")}
        if len(steps) < 3: continue
        P = sorted(x["step_s"] for x in steps.values())[1]
        # Ring r -> r+1: how long data sent on each link waits before its receiver starts receiving.
        waits = {f"{a}>{(a + 1) % 3}": round(wrap(steps[(a + 1) % 3]["receive_onset"] - steps[a]["onset"], P), 4)
                 for a in range(3)}
        print(round(r["ts"] - t0, 1), "step", round(P, 4), "link waits", waits)
