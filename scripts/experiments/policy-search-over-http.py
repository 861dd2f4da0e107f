#!/usr/bin/env python3
"""The policy search's first round over the real feedback path, on real faces.

`policy-search-simulation --export-round-one DIR` writes, for each cohort of rotation 0, the
outcomes its kiosks send in the search's first round (today's score, the label, and the shadow
scores of the candidates each verification had time for, from the real pipeline on LFW frames)
and the ranking the simulation made of them in process. This script plays the fleet and the
engineer against real binaries: a fresh `faceloop-server` on 127.0.0.1 (SQLite), one enrolled
kiosk for the cohorts' sites, consent texts and each subject's grants for both purposes,
`faceloop policy-search start` per cohort (the 15-policy grid, published as candidate
releases), the outcomes recorded and uploaded by `faceloop-agent` (signed batches over mutual
TLS), and `policy-search show`. It then checks that the server ranks the candidates in the
simulation's order, with the same verdicts, FNMRs and thresholds (each model's exact threshold
at FMR 1e-3 on the attempts both scored), and names the same leader, and exits non-zero if not.

    swift build --product faceloop-server --product faceloop --product faceloop-agent
    .build/release/policy-search-simulation ... --rounds 1 --export-round-one /tmp/round-one
    python3 scripts/experiments/policy-search-over-http.py --export /tmp/round-one --bin .build/debug

The server is stopped (SIGTERM to the PID this script started) when the script ends.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CONSENT_TEXT = "I agree that the outcome of my face verification is used to improve this service."
CONSENT_VERSION = "sim-1"
PURPOSES = ["threshold-calibration", "model-improvement"]
DEVICE = "kiosk-lfw-sim"


def run(args, stdin=None, check=True):
    result = subprocess.run(args, input=stdin, capture_output=True)
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(args[:4])}… failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--export", required=True, help="the folder --export-round-one wrote")
    parser.add_argument("--bin", default=".build/debug", help="folder holding faceloop-server, faceloop and faceloop-agent")
    parser.add_argument("--work", help="scratch folder (default: a new temporary one, removed afterwards)")
    parser.add_argument("--only", action="append", default=[], help="only this cohort (a condition name); repeatable")
    parser.add_argument("--resume", action="store_true",
                        help="the outcomes are in --work's server already (an earlier run uploaded them): rank and compare only")
    args = parser.parse_args()
    cohorts = sorted(c for c in os.listdir(args.export) if os.path.exists(os.path.join(args.export, c, "expected.json"))
                     and (not args.only or c in args.only))
    if not cohorts:
        sys.exit(f"no exported cohort in {args.export}")
    if args.resume and not (args.work and os.path.exists(os.path.join(args.work, "server", "admin.token"))):
        sys.exit("--resume needs --work with the server data of an earlier run")
    work = args.work or tempfile.mkdtemp(prefix="policy-search-http-")
    data, kiosk = os.path.join(work, "server"), os.path.join(work, "kiosk")
    os.makedirs(data, exist_ok=True)
    faceloop, agent = os.path.join(args.bin, "faceloop"), os.path.join(args.bin, "faceloop-agent")
    log = open(os.path.join(work, "server.log"), "ab")
    log_start = log.tell()
    server = subprocess.Popen([os.path.join(args.bin, "faceloop-server"), "--data-dir", data, "--host", "127.0.0.1", "--port", "0",
                               "--metrics-address", "127.0.0.1", "--metrics-port", "0", "--log-level", "notice"],
                              stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        url = None
        for _ in range(600):
            with open(os.path.join(work, "server.log"), "rb") as handle:
                handle.seek(log_start)
                text = handle.read().decode(errors="replace")
            match = re.search(r"listening on (https://127\.0\.0\.1:[0-9]+) ", text)
            if match:
                url = match.group(1)
                break
            if server.poll() is not None:
                sys.exit(f"faceloop-server stopped: {text[-2000:]}")
            time.sleep(0.1)
        if not url:
            sys.exit("faceloop-server did not say where it listens within 60 s")
        access = ["--server", url, "--token-file", os.path.join(data, "admin.token"), "--ca-file", os.path.join(data, "ca.crt")]
        # An engineer starts and reads the searches; the admin token sets up consent texts, sites and the kiosk.
        engineer = ["--server", url, "--token", run([faceloop, "tokens", "create", "--role", "engineer", "--label", "policy-search-sim"]
                                                     + access).stdout.decode().strip(), "--ca-file", os.path.join(data, "ca.crt")]
        searches = {}
        if args.resume:
            listed = json.loads(run([faceloop, "policy-search", "list", "--json"] + engineer).stdout)
            for search in listed["searches"]:
                if search["site"] in cohorts:
                    searches[search["site"]] = (search["id"], json.load(open(os.path.join(args.export, search["site"], "expected.json"))))
        else:
            upload_all(args, cohorts, work, data, kiosk, url, faceloop, agent, access, engineer, searches)
        rank_and_compare(faceloop, engineer, searches, failures)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


def upload_all(args, cohorts, work, data, kiosk, url, faceloop, agent, access, engineer, searches):
    """Consent texts, sites, the kiosk, each subject's grants, then per cohort: the search and its outcomes."""
    text_file = os.path.join(work, "consent.txt")
    open(text_file, "w").write(CONSENT_TEXT)
    for purpose in PURPOSES:
        run([faceloop, "compliance", "text", "--purpose", purpose, "--version", CONSENT_VERSION, "--file", text_file,
             "--effective-at", "2020-01-01T00:00:00Z"] + access)
    for cohort in cohorts:
        run([faceloop, "compliance", "site", cohort, "--jurisdiction", "default"] + access)
    token = json.loads(run([faceloop, "devices", "enroll-token", DEVICE, "--json"] + access
                           + [arg for c in cohorts for arg in ("--site", c)]).stdout)["token"]
    run([agent, "enroll", "--data-dir", kiosk, "--server", url, "--device-id", DEVICE, "--token", token,
         "--ca-file", os.path.join(data, "ca.crt")])
    digest = hashlib.sha256(CONSENT_TEXT.encode()).hexdigest()
    for cohort in cohorts:
        expected = json.load(open(os.path.join(args.export, cohort, "expected.json")))
        grants = [json.dumps({"occurred_at": "2020-01-02T00:00:00Z", "subject_pseudonym": subject, "purpose": purpose,
                              "kind": "grant", "method": "touch", "site": cohort, "text_version": CONSENT_VERSION,
                              "text_sha256": digest}) for subject in expected["subjects"] for purpose in PURPOSES]
        run([agent, "consent", "--stdin", "--data-dir", kiosk], stdin="\n".join(grants).encode())
        # The cohort exists once its kiosk has uploaded: one genuine attempt without shadow
        # scores (a genuine score moves no threshold, and it is paired with no candidate).
        first = {"attempted_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 86_400)),
                 "model_version": "dlib_face_recognition_resnet_model_v1", "threshold_version": "t-0",
                 "cohort": {"site": cohort, "camera_model": expected["camera_model"]}, "score": 1.0, "decision": "accept",
                 "label": "genuine", "label_source": "fallback_id_check",
                 "quality": {"face_size_px": 100, "sharpness": 50, "brightness": 0.5},
                 "subject": {"pseudonym": expected["subjects"][0], "consent_ref": "sim"}}
        run([agent, "record", "--stdin", "--data-dir", kiosk], stdin=json.dumps(first).encode())
        run([agent, "upload", "--data-dir", kiosk, "--batch-size", "1000"])
        started = json.loads(run([faceloop, "policy-search", "start", "--camera-model", expected["camera_model"], "--site", cohort,
                                  "--json"] + engineer).stdout)
        names = {c["policy_id"]: c["model_version"] for c in started["candidates"]}
        missing = {c["policy_id"] for c in expected["candidates"]} - set(names)
        if missing:
            sys.exit(f"{cohort}: the server's grid lacks {sorted(missing)}")
        searches[cohort] = (started["id"], expected)
        began = time.time()
        with open(os.path.join(args.export, cohort, "outcomes.jsonl")) as lines:
            chunk, count = [], 0
            for line in lines:
                chunk.append(re.sub(r'"policy:([0-9a-f]{12})"', lambda m: json.dumps(names[m.group(1)]), line))
                if len(chunk) == 50_000:
                    run([agent, "record", "--stdin", "--data-dir", kiosk], stdin="".join(chunk).encode())
                    count += len(chunk)
                    chunk = []
                    run([agent, "upload", "--data-dir", kiosk, "--batch-size", "1000"])
            if chunk:
                run([agent, "record", "--stdin", "--data-dir", kiosk], stdin="".join(chunk).encode())
                count += len(chunk)
            run([agent, "upload", "--data-dir", kiosk, "--batch-size", "1000"])
        print(f"{cohort}: search {started['id']}, {count} outcomes recorded and uploaded in {time.time() - began:.0f} s", flush=True)


def rank_and_compare(faceloop, engineer, searches, failures):
    """Each search's ranking against the simulation's."""
    for cohort, (search, expected) in searches.items():
        shown = json.loads(run([faceloop, "policy-search", "show", str(search), "--json"] + engineer).stdout)
        ranked = sorted((c for c in shown["candidates"] if c.get("rank") is not None), key=lambda c: c["rank"])
        server_order = [c["policy_id"] for c in ranked]
        simulation_order = [r["policy_id"] for r in expected["ranking"]]
        by_id = {c["policy_id"]: c for c in shown["candidates"]}
        leader = next((c["policy_id"] for c in shown["candidates"] if c["version"] == shown.get("leader")), None)
        problems = []
        if server_order != simulation_order:
            problems.append(f"order {server_order} != {simulation_order}")
        if leader != expected["leader"]:
            problems.append(f"leader {leader} != {expected['leader']}")
        for r in expected["ranking"]:
            c = by_id.get(r["policy_id"], {})
            figures = c.get("figures") or {}
            pairs = [("verdict", c.get("verdict"), r["verdict"].replace("-", "_")),
                     ("current FNMR", figures.get("current_fnmr"), r["current_fnmr"]),
                     ("candidate FNMR", figures.get("candidate_fnmr"), r["candidate_fnmr"]),
                     ("current threshold", c.get("current_threshold"), r["current_threshold"]),
                     ("candidate threshold", c.get("candidate_threshold"), r["candidate_threshold"]),
                     ("genuine attempts", c.get("genuine_attempts"), r["genuine_attempts"]),
                     ("impostor attempts", c.get("impostor_attempts"), r["impostor_attempts"])]
            for name, got, want in pairs:
                same = got == want if not isinstance(want, float) else (got is not None and abs(got - want) <= 1e-12)
                if not same:
                    problems.append(f"{r['policy_id']} {name}: server {got}, simulation {want}")
        top = ranked[0] if ranked else {}
        print(f"{cohort}: server ranks {len(ranked)} candidates; first {top.get('policy_id')} {top.get('verdict')} "
              f"FNMR {(top.get('figures') or {}).get('current_fnmr')} → {(top.get('figures') or {}).get('candidate_fnmr')}; "
              f"leader {leader}; " + ("same as the simulation" if not problems else f"{len(problems)} differences"), flush=True)
        for problem in problems[:20]:
            print("   ", problem)
        failures += problems


if __name__ == "__main__":
    main()
