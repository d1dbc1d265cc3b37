#!/usr/bin/env python3
"""Validates casegate's Kubernetes manifests; exits 1 with every problem listed.

    python3 -m venv .venv && .venv/bin/pip install -r deploy/kubernetes/requirements.txt
    .venv/bin/python deploy/kubernetes/validate.py deploy/kubernetes/*.yaml

1. Schemas, strictly (unknown fields are errors): built-in kinds with kubernetes-validate (the
   Kubernetes OpenAPI schemas of the version below); the Prometheus Operator's ServiceMonitor,
   a custom resource kubernetes-validate has no schema for, with the JSON schema of cloudcoil's
   model of that CRD, made strict the same way. Any other kind is an error: nothing goes
   unchecked.
2. What the operations issue asks of the manifests and how they fit together: probes on the
   admin port, resources, the security context, the PodDisruptionBudget, HPA and ServiceMonitor
   pointing at the right objects, config and secrets mounted from the right names.
"""

import sys

import jsonschema
import kubernetes_validate
import yaml
from cloudcoil.models.prometheus_operator import v1 as monitoring_v1

# The oldest minor the manifests support and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]

CUSTOM = {("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring_v1.ServiceMonitor}


def strict(schema):
    """Objects with known properties reject others, as the API server does for CRDs."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


def schema_problems(doc):
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CUSTOM:
        schema = strict(CUSTOM[key].model_json_schema(by_alias=True))
        validator = jsonschema.Draft202012Validator(schema)
        return [
            f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in validator.iter_errors(doc)
        ]
    problems = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"no {version} schema for {key[1]} {key[0]}: add one to validate.py")
        except kubernetes_validate.ValidationError as error:
            path = ".".join(map(str, error.path)) or "(top)"
            problems.append(f"Kubernetes {version}: {path}: {error.message}")
    return problems


def casegate_problems(docs):
    """The issue's requirements, and the names that tie the manifests together."""
    problems = []
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    for kind in [
        "Deployment",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ServiceMonitor",
    ]:
        if kind not in by_kind:
            problems.append(f"no {kind}")
    if problems:
        return problems

    deployment = by_kind["Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = pod["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
    if "admin" not in ports:
        problems.append("the container names no admin port")

    for probe, path in [
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ]:
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("admin", ports.get("admin")):
            problems.append(f"{probe} is not GET {path} on the admin port")

    resources = container.get("resources", {})
    for need in ["requests.cpu", "requests.memory", "limits.memory"]:
        group, name = need.split(".")
        if name not in resources.get(group, {}):
            problems.append(f"no resources.{need}")

    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    checks = [
        (pod_security.get("runAsNonRoot") is True, "runAsNonRoot"),
        (
            pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault",
            "seccompProfile RuntimeDefault",
        ),
        (security.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem"),
        (security.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false"),
        (security.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL"),
        (pod.get("automountServiceAccountToken") is False, "automountServiceAccountToken: false"),
    ]
    problems += [f"the pod lacks {what}" for ok, what in checks if not ok]

    def selects_pods(selector):
        wanted = selector.get("matchLabels", {})
        return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())

    if deployment["spec"]["selector"]["matchLabels"] != {
        k: labels[k] for k in deployment["spec"]["selector"]["matchLabels"] if k in labels
    }:
        problems.append("the Deployment's selector does not match its pods")
    for pdb in by_kind["PodDisruptionBudget"]:
        if not selects_pods(pdb["spec"]["selector"]):
            problems.append("the PodDisruptionBudget does not select casegate's pods")
    for hpa in by_kind["HorizontalPodAutoscaler"]:
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) != ("Deployment", deployment["metadata"]["name"]):
            problems.append("the HorizontalPodAutoscaler does not scale the Deployment")
        if hpa["spec"].get("minReplicas", 1) < 2:
            problems.append("the HorizontalPodAutoscaler allows a single replica")

    services = by_kind["Service"]
    for service in services:
        if not selects_pods({"matchLabels": service["spec"]["selector"]}):
            problems.append(f"Service {service['metadata']['name']} selects no casegate pod")
        for port in service["spec"]["ports"]:
            if port["targetPort"] not in ports and port["targetPort"] not in ports.values():
                problems.append(f"Service {service['metadata']['name']} targets unknown port")
    for monitor in by_kind["ServiceMonitor"]:
        wanted = monitor["spec"]["selector"]["matchLabels"]
        chosen = [
            s
            for s in services
            if all(s["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]
        admin_ports = {p["name"] for s in chosen for p in s["spec"]["ports"] if p["targetPort"] == "admin"}
        endpoints = monitor["spec"]["endpoints"]
        if not chosen or any(e.get("port") not in admin_ports for e in endpoints):
            problems.append("the ServiceMonitor does not scrape the admin port of a Service")
        if any(e.get("path", "/metrics") != "/metrics" for e in endpoints):
            problems.append("the ServiceMonitor does not scrape /metrics")

    config_maps = {c["metadata"]["name"]: c for c in by_kind["ConfigMap"]}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for volume in volumes.values():
        if "configMap" in volume:
            data = config_maps.get(volume["configMap"]["name"], {}).get("data", {})
            if not {"casegate.toml", "policy.toml"} <= set(data):
                problems.append("the config volume lacks casegate.toml or policy.toml")
    for mount in container.get("volumeMounts", []):
        if mount.get("subPath"):
            problems.append(f"{mount['name']} uses subPath: updates would never reach the pod")
        if not mount.get("readOnly"):
            problems.append(f"{mount['name']} is mounted writable")
    if not any("secret" in v for v in volumes.values()):
        problems.append("no Secret is mounted")
    return problems


def main(paths):
    problems = []
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as file:
            for doc in yaml.safe_load_all(file):
                if doc is None:
                    continue
                name = f"{path}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
                problems += [f"{name}: {p}" for p in schema_problems(doc)]
                docs.append(doc)
    problems += [f"manifests: {p}" for p in casegate_problems(docs)]
    for problem in problems:
        print(problem)
    print(f"{len(docs)} manifests checked, {len(problems)} problems")
    return 1 if problems or not docs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
