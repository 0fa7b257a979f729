"""The training job as one thing, on one machine: three simulated hosts (network namespaces on a
bridge, each with its own agent and CPU cgroup), neutracer-server in the root namespace, a 3-rank
PyTorch DDP job across them. Halfway through, host 1's link is rate-limited (tbf); the server names
it. Prints what the server found and where the dashboard is; everything is removed at the end."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "helpers"))
from job_cluster import TrainingCluster  # noqa: E402


def say(text):
    print(f"demo-cluster: {text}", flush=True)


def describe(finding):
    return (f"{finding['subject']} ({finding['kind'].replace('_', ' ')}): {finding['metric']} {finding['value']:.3g}"
            f" vs its peers' {finding['peers_median']:.3g}, since {time.strftime('%H:%M:%S', time.localtime(finding['since']))}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=90, help="how long the job trains")
    args = parser.parse_args()
    with TrainingCluster(3, seconds=args.seconds) as cluster:
        started = time.time()
        say(f"dashboard: http://{cluster.server.http}/#/job?job={cluster.job} (token: {cluster.server.token}), "
            "open while the demo runs")
        ranks = cluster.wait_for_ranks()
        say(f"job {cluster.job}: " + ", ".join(f"rank {r['rank']} on {r['host']} (pid {r['pid']}, step "
                                                 f"{1000 * r['step_s']:.0f} ms)" for r in ranks))
        time.sleep(max(0.0, started + args.seconds / 2 - time.time()))
        fault = time.time()
        cluster.rate_limit(1)
        say("host-1's link limited to 40 Mbit/s (tbf on its bridge port)")
        named = []
        while time.time() < fault + 20 and not named:
            time.sleep(1)
            named = cluster.findings(fault)
        if named:
            time.sleep(5)  # what else it names as the fault goes on
            named = cluster.findings(fault)
            say(f"the server named, {named[-1]['ts'] - fault:.1f} s after the fault:")
            for finding in reversed(named):
                print(f"  {describe(finding)}", flush=True)
        else:
            say("the server named nothing within 20 s")
        view = cluster.view(5)
        for rank in view["ranks"]:
            print(f"  rank {rank['rank']} on {rank['host']}: step {1000 * rank.get('step_s', 0):.0f} ms, "
                  f"{rank['tx_bytes_per_s'] / 1e6:.1f} MB/s out, run-queue {rank['runq_share']:.2f}", flush=True)
        for link in view["links"]:
            if link["bytes_per_s"] > 100_000:
                print(f"  link {link['from_rank']}>{link['to_rank']}: {link['bytes_per_s'] / 1e6:.1f} MB/s, "
                      f"srtt {link.get('srtt_us', 0) / 1000:.1f} ms, {link['retransmits_per_s']:.1f} retransmits/s",
                      flush=True)
        cluster.heal()
        for proc in cluster.procs:
            proc.wait(timeout=args.seconds + 120)
    say("done; namespaces, cgroups and processes removed")
    return 0 if named else 1


if __name__ == "__main__":
    sys.exit(main())
