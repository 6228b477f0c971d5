"""Staged rollout of a published build (after hawkBit): stages of a share of the profile's devices or
of named groups; after each stage, wait until its devices have settled (updated, failed or rolled back)
and stop the whole rollout as soon as the failure rate passes the threshold. The last stage is sent as
such, so the server marks the rollout `complete` once its devices have settled."""
import time


class RolloutStopped(Exception):
    pass


def parse_stages(text):
    """'group:pilot,10%,100%' -> [{"groups": ["pilot"]}, {"share": 0.1}, {"share": 1.0}]."""
    stages = []
    for item in text.split(","):
        item = item.strip()
        if item.startswith("group:"):
            names = [n for n in item[6:].split("+") if n]
            if not names:
                raise ValueError("empty group in stage %r" % item)
            stages.append({"groups": names})
        elif item.endswith("%"):
            share = float(item[:-1]) / 100
            if not 0 < share <= 1:
                raise ValueError("stage share must be in (0%%, 100%%]: %r" % item)
            stages.append({"share": share})
        else:
            raise ValueError("a stage is N%% or group:NAME[+NAME]: %r" % item)
    if not stages:
        raise ValueError("no stages")
    return stages


def failure_rate(status):
    failed = status.get("failed", 0) + status.get("rolled_back", 0)
    settled = status.get("updated", 0) + failed
    return (failed / settled if settled else 0.0), settled


def run_rollout(client, rollout_id, stages, threshold, poll_s=10.0, stage_timeout_s=3600.0,
                min_settled=1, echo=print, clock=time.monotonic, sleep=time.sleep):
    """Run every stage; raise RolloutStopped (after stopping it on the server) when the failure rate
    passes threshold or a stage does not settle in stage_timeout_s. Returns the last status."""
    status = {}
    for number, stage in enumerate(stages, 1):
        answer = client.add_stage(rollout_id, last=number == len(stages), **stage)
        echo("stage %d/%d (%s): offered to %s devices" % (
            number, len(stages), stage_label(stage), answer.get("devices", "?")))
        deadline = clock() + stage_timeout_s
        while True:
            status = client.rollout_status(rollout_id)
            rate, settled = failure_rate(status)
            echo("  updated %d, failed %d, rolled back %d, waiting %d (failure rate %.1f%%)" % (
                status.get("updated", 0), status.get("failed", 0), status.get("rolled_back", 0),
                max(status.get("offered", 0) - settled, 0), rate * 100))
            if settled >= min_settled and rate > threshold:
                reason = "failure rate %.1f%% passed the threshold %.1f%% at stage %d" % (
                    rate * 100, threshold * 100, number)
                client.stop_rollout(rollout_id, reason)
                raise RolloutStopped("rollout %s stopped: %s" % (rollout_id, reason))
            if settled >= status.get("offered", 0) and (number < len(stages) or status.get("state") != "final_stage"):
                break       # after the last stage: until the server has marked it complete too
            if clock() > deadline:
                reason = "stage %d did not settle within %d s" % (number, stage_timeout_s)
                client.stop_rollout(rollout_id, reason)
                raise RolloutStopped("rollout %s stopped: %s" % (rollout_id, reason))
            sleep(poll_s)
    return status


def stage_label(stage):
    if "groups" in stage:
        return "groups " + ", ".join(stage["groups"])
    return "%g%% of devices" % (stage["share"] * 100)
