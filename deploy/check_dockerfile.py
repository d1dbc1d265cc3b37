#!/usr/bin/env python3
"""Checks deploy/Dockerfile with BuildKit's own parser (the PyPI package `dockerfile` wraps it);
exits 1 with every problem listed. Run from the repository's root:

    .venv/bin/python deploy/check_dockerfile.py [DOCKERFILE]

What the operations issue asks: a multi-stage build whose runtime stage is small (distroless,
not the build image) and runs as a numeric non-root user, the same user the Kubernetes
Deployment runs as; the context's ignore file lets through what the build copies.
"""

import fnmatch
import os
import sys

import dockerfile
import yaml

DOCKERFILE = "deploy/Dockerfile"
IGNORE = "deploy/Dockerfile.dockerignore"
DEPLOYMENT = "deploy/kubernetes/deployment.yaml"


def main(path):
    global DOCKERFILE
    DOCKERFILE = path
    problems = []
    commands = dockerfile.parse_file(DOCKERFILE)
    stages = []
    for command in commands:
        if command.cmd == "FROM":
            stages.append({"from": command.value, "commands": []})
        elif stages:
            stages[-1]["commands"].append(command)
        if command.cmd == "ADD":
            problems.append(f"line {command.start_line}: ADD (use COPY; ADD fetches URLs and unpacks)")
    if len(stages) < 2:
        problems.append("not a multi-stage build")
        return report(problems)
    build, runtime = stages[0], stages[-1]
    build_names = {v for v in build["from"][1:] if v.upper() != "AS"}
    if not runtime["from"][0].startswith(("gcr.io/distroless/", "scratch")):
        problems.append(f"the runtime stage is {runtime['from'][0]}, not distroless")

    def last(stage, cmd):
        found = [c for c in stage["commands"] if c.cmd == cmd]
        return found[-1] if found else None

    user = last(runtime, "USER")
    uid = user.value[0].split(":")[0] if user else None
    if uid is None or not uid.isdigit() or int(uid) == 0:
        problems.append(f"the runtime stage's USER is {uid!r}, not a numeric non-root uid")
    entrypoint = last(runtime, "ENTRYPOINT")
    if entrypoint is None or not entrypoint.json:
        problems.append("no exec-form ENTRYPOINT (a shell form needs a shell, which distroless lacks)")
    copies = [c for c in runtime["commands"] if c.cmd == "COPY"]
    if not any(f"--from={name}" in c.flags for c in copies for name in build_names):
        problems.append("the runtime stage copies nothing from the build stage")

    deployment = yaml.safe_load(open(DEPLOYMENT, encoding="utf-8"))
    run_as = deployment["spec"]["template"]["spec"]["securityContext"].get("runAsUser")
    if uid is not None and str(run_as) != uid:
        problems.append(f"the Deployment runs as {run_as}, the image as {uid}")

    # The build copies from the context: each source must exist and pass the ignore file.
    patterns = [
        line.strip()
        for line in open(IGNORE, encoding="utf-8")
        if line.strip() and not line.startswith("#")
    ]
    for command in build["commands"]:
        if command.cmd != "COPY" or command.flags:
            continue
        for source in command.value[:-1]:
            if not os.path.exists(source):
                problems.append(f"line {command.start_line}: COPY {source}: no such file")
            included = True
            for pattern in patterns:
                negated = pattern.startswith("!")
                glob = pattern.lstrip("!").rstrip("/")
                if fnmatch.fnmatch(source, glob):
                    included = negated
            if not included:
                problems.append(f"line {command.start_line}: COPY {source}: excluded by {IGNORE}")
    return report(problems)


def report(problems):
    for problem in problems:
        print(f"{DOCKERFILE}: {problem}")
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else DOCKERFILE))
