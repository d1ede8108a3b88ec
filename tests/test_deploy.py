"""deploy/ checked without a cluster.

* Every YAML document under deploy/k8s/ validates against the Kubernetes object schemas
  (kubernetes-validate, strict: unknown fields fail, for Kubernetes K8S_VERSION) and loads into
  the `kubernetes` client's models (dagster-k8s's strict loader: unknown keys fail).
* deploy/helm/values.yaml parses and uses only the chart's keys; the parts the chart turns into
  Kubernetes objects (the code server's, webserver's and daemon's containers: probes,
  resources, securityContext, env, volumes) are assembled as the chart's templates do and
  validated as Pods; the run Job is built by dagster-k8s itself (K8sRunLauncher's own code, up
  to the API call) from the chart's instance and from the cluster instance, and validated.
* No Secret, ConfigMap, values or instance file carries a secret value: Secrets in the template
  are empty, secret-looking settings are references (secretKeyRef, envSecrets, {env: VAR}), no
  URL carries a password (and the checker catches planted leaks).
* deploy/dagster.yaml, deploy/k8s/dagster-instance.yaml and the instance the chart writes from
  the values (restated below for the keys these values set) load in Dagster's instance schema,
  each configurable class's config (IntelPostgresStorage, dagster-postgres, K8sRunLauncher, the
  run coordinator...) processes against that class's own schema with dagster-k8s installed, and
  they agree with each other and with intel_assets/run_limits.py. Nothing connects anywhere.
* The executor follows settings (INTEL_EXECUTOR).

kubernetes-validate and dagster-k8s are in the `test` and `k8s` extras; a test that needs one
skips with the reason when it is missing.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from intel_assets.jobs import REFRESH_JOB
from intel_assets.definitions import build_definitions
from intel_assets.run_limits import run_limits
from intel_assets.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VALUES = DEPLOY / "helm" / "values.yaml"
INSTANCE_CONFIGMAP = DEPLOY / "k8s" / "dagster-instance.yaml"
MANIFESTS = sorted((DEPLOY / "k8s").rglob("*.yaml"))
#: The Kubernetes version the manifests are validated for (the oldest we support).
K8S_VERSION = "1.30.0"
NAMESPACE = "intel-assets"
IMAGE = "ghcr.io/intel-assets/intel-assets"
#: Top-level keys of dagster/dagster's values (chart 1.13: helm/dagster/schema/.../values.py).
CHART_KEYS = {
    "dagsterWebserver", "dagster-user-deployments", "postgresql",
    "generatePostgresqlPasswordSecret", "generateCeleryConfigSecret", "rabbitmq", "redis",
    "flower", "ingress", "imagePullSecrets", "computeLogManager", "scheduler", "runLauncher",
    "pythonLogs", "dagsterDaemon", "busybox", "migrate", "telemetry", "serviceAccount", "global",
    "retention", "additionalInstanceConfig", "concurrency",
}
#: Instance keys the chart writes itself (configmap-instance.yaml); additionalInstanceConfig
#: must not repeat one the values make it write.
CHART_INSTANCE_KEYS = {
    "scheduler", "schedule_storage", "run_launcher", "run_storage", "event_log_storage",
    "run_coordinator", "compute_logs", "python_logs", "run_monitoring", "run_retries", "sensors",
    "schedules", "telemetry", "retention", "concurrency",
}


def _kubernetes_validate():
    return pytest.importorskip("kubernetes_validate",
                               reason="kubernetes-validate is not installed (the test extra)")


def _dagster_k8s_models():
    return pytest.importorskip("dagster_k8s.models",
                               reason="dagster-k8s is not installed (the k8s extra)")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def _instance_from_configmap() -> dict[str, Any]:
    (configmap,) = _documents(INSTANCE_CONFIGMAP)
    return yaml.safe_load(configmap["data"]["dagster.yaml"])


def _validate_object(doc: dict[str, Any]) -> None:
    """Strict schema validation and a load into the kubernetes client's model of the kind."""
    kubernetes_validate = _kubernetes_validate()
    models = _dagster_k8s_models()
    import kubernetes.client

    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    version = doc["apiVersion"].split("/")[-1]
    model = getattr(kubernetes.client, f"{version.capitalize()}{doc['kind']}")
    models.k8s_model_from_dict(model, models.k8s_snake_case_dict(model, doc))


def _k8s_part(model_name: str, value: Any) -> None:
    """A fragment (a pod spec without containers, a job spec without template) as a client model:
    every key known and every nested value of its type."""
    models = _dagster_k8s_models()
    import kubernetes.client

    models.k8s_snake_case_dict(getattr(kubernetes.client, model_name), value)


# ---- manifests ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_is_a_valid_kubernetes_object(path):
    docs = _documents(path)
    assert docs, f"{path} holds no document"
    for doc in docs:
        _validate_object(doc)
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]


def test_the_validator_refuses_what_kubernetes_would():
    """The strict check is not a rubber stamp: a misspelt field and a bad probe fail."""
    kubernetes_validate = _kubernetes_validate()
    (deployment,) = [d for d in _documents(DEPLOY / "k8s" / "serving.yaml")
                     if d["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    for broken in ({**container, "readinesProbe": container["readinessProbe"]},
                   {**container, "livenessProbe": {"httpGet": {"path": "/healthz"}}}):
        bad = {**deployment, "spec": {**deployment["spec"], "template": {
            **deployment["spec"]["template"], "spec": {
                **deployment["spec"]["template"]["spec"], "containers": [broken]}}}}
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_serving_deployment_meets_the_brief():
    docs = {d["kind"]: d for d in _documents(DEPLOY / "k8s" / "serving.yaml")}
    deployment, service, pdb = docs["Deployment"], docs["Service"], docs["PodDisruptionBudget"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] >= 2
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    tmp = {m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp"}
    assert {v["name"] for v in pod["volumes"] if "emptyDir" in v} >= tmp and tmp
    assert container["command"] == ["intel-assets", "serve"]
    assert container["image"].startswith(IMAGE + ":")
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/torghut/market-context/health"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {"configMapRef": {"name": "intel-assets-config"}} in container["envFrom"]
    assert all("secretKeyRef" in e["valueFrom"] for e in container["env"])
    labels = spec["template"]["metadata"]["labels"]
    for selector in (spec["selector"]["matchLabels"], pdb["spec"]["selector"]["matchLabels"],
                     service["spec"]["selector"]):
        assert selector.items() <= labels.items()
    assert pdb["spec"]["minAvailable"] == 1
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_everything_referenced_is_defined_or_documented():
    """Every ConfigMap the pods read is in deploy/k8s/; every Secret is in the template, or is
    the CA CNPG creates for our cluster; each Secret key a pod asks for is in the template."""
    docs = [d for p in MANIFESTS for d in _documents(p)]
    configmaps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"]: set(d["stringData"]) for d in docs if d["kind"] == "Secret"}
    secrets["intel-pg-ca"] = {"ca.crt"}  # created by CNPG for the cluster intel-pg
    trees = [*docs, _values(), _instance_from_configmap()]
    seen_configmaps = set(_names_under(trees, "configMapRef")) | set(
        _names_under(trees, "envConfigMaps")) | set(_strings_under(trees, "env_config_maps"))
    seen_secrets = set(_names_under(trees, "secretRef")) | set(_names_under(trees, "envSecrets")) \
        | set(_strings_under(trees, "env_secrets")) | {_values()["global"]["postgresqlSecretName"],
                                                       _instance_from_configmap()["run_launcher"]
                                                       ["config"]["postgres_password_secret"]}
    for ref in _walk_key(trees, "secretKeyRef"):
        assert ref["key"] in secrets[ref["name"]], ref
        seen_secrets.add(ref["name"])
    for source in _walk_key(trees, "secret"):
        if isinstance(source, dict) and "name" in source:
            assert {i["key"] for i in source.get("items", [])} <= secrets[source["name"]]
            seen_secrets.add(source["name"])
    assert seen_configmaps - {"intel-dagster-instance"} <= configmaps
    assert seen_configmaps >= {"intel-assets-config"}
    assert seen_secrets <= set(secrets), seen_secrets - set(secrets)
    assert "postgresql-password" in secrets[_values()["global"]["postgresqlSecretName"]]


def _walk_key(trees: list[Any], key: str) -> Iterator[Any]:
    for tree in trees:
        for found_key, value, _ in _walk(tree):
            if found_key == key:
                yield value


def _names_under(trees: list[Any], key: str) -> Iterator[str]:
    for value in _walk_key(trees, key):
        for item in value if isinstance(value, list) else [value]:
            yield item["name"]


def _strings_under(trees: list[Any], key: str) -> Iterator[str]:
    for value in _walk_key(trees, key):
        yield from value


# ---- Helm values ----------------------------------------------------------------------------

def _probe(probe: dict[str, Any], port: int) -> dict[str, Any]:
    """A user deployment's probe as the chart writes it: `enabled` dropped, the chart's gRPC
    health check as the handler when none is given."""
    out = {k: v for k, v in probe.items() if k != "enabled"}
    if not any(k in out for k in ("exec", "httpGet", "tcpSocket", "grpc")):
        out["exec"] = {"command": ["dagster", "api", "grpc-health-check", "-p", str(port)]}
    return out


def _env_from(config_maps: list[dict], secrets: list[dict]) -> list[dict]:
    return [{"configMapRef": c} for c in config_maps] + [{"secretRef": s} for s in secrets]


def _pod(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {**{k: v for k, v in spec.items() if v is not None},
                     "containers": [{"name": name, **container}]}}


def test_values_parse_and_use_only_the_charts_keys():
    values = _values()
    assert set(values) <= CHART_KEYS, set(values) - CHART_KEYS
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["computeLogManager"]["type"] == "NoOpComputeLogManager"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["repository"] == IMAGE
    assert deployment["codeServerArgs"] == ["-m", "intel_assets.definitions"]
    assert deployment["port"] == 4000
    rendered = _chart_instance(values)
    extra = set(values["additionalInstanceConfig"])
    assert not extra & set(_chart_instance(values, with_additional=False)), (
        "additionalInstanceConfig repeats a key the chart writes")
    assert extra <= set(rendered)


def test_values_parts_validate_as_kubernetes_objects():
    """The pods the chart makes from these values, assembled from the values as the chart's
    templates do, validate strictly; so does a run Job from the run launcher's settings."""
    values = _values()
    (d,) = values["dagster-user-deployments"]["deployments"]
    image = f"{d['image']['repository']}:{d['image']['tag']}"
    code_server = _pod(
        d["name"],
        {"image": image, "imagePullPolicy": d["image"]["pullPolicy"],
         "args": ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", str(d["port"]),
                  *d["codeServerArgs"]],
         "env": d["env"], "envFrom": _env_from(d["envConfigMaps"], d["envSecrets"]),
         "resources": d["resources"], "securityContext": d["securityContext"],
         "volumeMounts": d["volumeMounts"],
         "readinessProbe": _probe(d["readinessProbe"], d["port"]),
         "livenessProbe": _probe(d["livenessProbe"], d["port"]),
         "startupProbe": _probe(d["startupProbe"], d["port"])},
        securityContext=d["podSecurityContext"], volumes=d["volumes"])
    _validate_object(code_server)
    for component in ("dagsterWebserver", "dagsterDaemon"):
        part = values[component]
        _validate_object(_pod(component.lower(), {
            "image": "docker.io/dagster/dagster-celery-k8s:1.13.27", "env": part["env"],
            "resources": part["resources"], "volumeMounts": part["volumeMounts"]},
            volumes=part["volumes"]))

    # The run Job: test_run_job_built_by_dagster_k8s_is_valid builds it with dagster-k8s.
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["jobNamespace"] == NAMESPACE
    assert d["includeConfigInLaunchedRuns"]["enabled"] is False


def test_values_mirror_deploy_dagster_yaml():
    """The run queue, run monitoring and event-write settings equal deploy/dagster.yaml's, and
    run monitoring is still what run_limits derives from the default budgets."""
    values = _values()
    local = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] == local["concurrency"]["runs"]["max_concurrent_runs"]
    assert queued["dequeueIntervalSeconds"] == local["run_coordinator"]["config"][
        "dequeue_interval_seconds"]
    assert not queued["tagConcurrencyLimits"] and "tag_concurrency_limits" not in local[
        "run_coordinator"]["config"]
    monitoring = values["additionalInstanceConfig"]["run_monitoring"]
    assert monitoring == local["run_monitoring"] == run_limits().monitoring()
    storage = local["storage"]["custom"]["config"]
    wanted = {"DAGSTER_EVENT_BATCH_SIZE": str(storage["event_batch_size"]),
              "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS":
                  str(storage["planned_partition_subset"]).lower()}
    (d,) = values["dagster-user-deployments"]["deployments"]
    for env in (d["env"], values["dagsterWebserver"]["env"], values["dagsterDaemon"]["env"]):
        assert {e["name"]: e["value"] for e in env} == wanted
    envvars = values["runLauncher"]["config"]["k8sRunLauncher"]["envVars"]
    assert dict(item.split("=", 1) for item in envvars) == wanted


# ---- secrets --------------------------------------------------------------------------------

_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|credential|dsn)")
_SECRET_ENV = re.compile(r"(?i)(password|secret|token|api_key|key_id|_dsn$|clickhouse_url$)")
_CREDENTIAL_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
#: Keys whose values name a Secret (a reference), never hold one.
_REFERENCE_KEYS = {"postgresqlSecretName", "postgres_password_secret", "secretName",
                   "generatePostgresqlPasswordSecret"}


def _walk(node: Any, path: str = "") -> Iterator[tuple[str | None, Any, str]]:
    """(key, value, path) for every value in a YAML tree; list items have the key None."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            yield key, value, here
            yield from _walk(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            here = f"{path}[{index}]"
            yield None, value, here
            yield from _walk(value, here)


def inline_secrets(tree: Any) -> list[str]:
    """Paths in a parsed YAML tree that hold a secret value rather than a reference."""
    found = []
    for key, value, path in _walk(tree):
        if isinstance(value, str) and _CREDENTIAL_URL.search(value):
            found.append(f"{path}: a URL with a password")
        if isinstance(key, str) and _SECRET_NAME.search(key) and key not in _REFERENCE_KEYS:
            # a string or a number (an unquoted numeric password); mappings are references
            # ({env: VAR}, secretKeyRef, a projected secret) whose strings are checked in turn
            inline = (isinstance(value, str) and value.strip()) or (
                isinstance(value, (int, float)) and not isinstance(value, bool))
            if inline:
                found.append(f"{path}: a value under a secret-looking key")
        if isinstance(value, dict) and isinstance(value.get("name"), str) and "value" in value \
                and _SECRET_ENV.search(value["name"]) and str(value["value"]).strip():
            found.append(f"{path}: env {value['name']} set inline (use secretKeyRef)")
        if key is None and isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]*=.+", value) \
                and _SECRET_ENV.search(value.split("=", 1)[0]):
            found.append(f"{path}: env {value.split('=', 1)[0]} set inline")
    if isinstance(tree, dict) and tree.get("kind") == "Secret":
        for field in ("data", "stringData"):
            for name, value in (tree.get(field) or {}).items():
                if str(value).strip():
                    found.append(f"Secret {tree['metadata']['name']} {field}.{name} is filled in")
    if isinstance(tree, dict) and tree.get("kind") == "ConfigMap":
        for name in tree.get("data") or {}:
            if _SECRET_ENV.search(name):
                found.append(f"ConfigMap {tree['metadata']['name']} holds {name}: a Secret's key")
    return found


def _secret_scan_targets() -> list[tuple[str, Any]]:
    targets = [(str(p.relative_to(ROOT)), doc) for p in MANIFESTS for doc in _documents(p)]
    targets.append(("deploy/k8s/dagster-instance.yaml dagster.yaml", _instance_from_configmap()))
    targets.append(("deploy/helm/values.yaml", _values()))
    targets.append(("deploy/dagster.yaml", yaml.safe_load((DEPLOY / "dagster.yaml").read_text())))
    return targets


def test_no_file_carries_a_secret_value():
    found = [f"{name}: {problem}" for name, tree in _secret_scan_targets()
             for problem in inline_secrets(tree)]
    assert not found, "\n".join(found)
    secrets = [d for p in MANIFESTS for d in _documents(p) if d["kind"] == "Secret"]
    assert secrets and all(p.parent.name == "secret-templates" for p in MANIFESTS
                           if any(d["kind"] == "Secret" for d in _documents(p)))


@pytest.mark.parametrize("leak", [
    {"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"INTEL_BUNDLE_STORE_DSN": "x"}},
    {"env": [{"name": "ALPACA_API_SECRET_KEY", "value": "abc"}]},
    {"envVars": ["TORGHUT_DB_DSN=postgresql://u@h/db"]},
    {"postgresql": {"postgresqlPassword": "hunter2"}},
    {"x": "https://intel_assets:pw@ch:8443"},
    {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"INTEL_CLICKHOUSE_URL": "https://h"}},
    {"storage": {"postgres": {"postgres_db": {"password": "hunter2"}}}},
])
def test_the_secret_check_catches_planted_leaks(leak):
    assert inline_secrets(leak)


# ---- Dagster instance configs ---------------------------------------------------------------

def _chart_instance(values: dict[str, Any], with_additional: bool = True) -> dict[str, Any]:
    """The dagster.yaml dagster/dagster 1.13 writes (templates/configmap-instance.yaml and its
    helpers), restated for the keys these values set; a value this does not handle fails."""
    pg = values["postgresql"]
    postgres = {"postgres_db": {
        "username": pg["postgresqlUsername"], "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"], "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"], "params": pg["postgresqlParams"],
        "scheme": pg["postgresqlScheme"]}}
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    handled = {"jobNamespace", "loadInclusterConfig", "imagePullPolicy", "envConfigMaps",
               "envSecrets", "envVars", "volumes", "volumeMounts", "resources", "securityContext",
               "failPodOnRunFailure", "runK8sConfig"}
    assert set(launcher) <= handled, set(launcher) - handled
    run_k8s = {"podSpecConfig": "pod_spec_config", "jobSpecConfig": "job_spec_config",
               "containerConfig": "container_config",
               "podTemplateSpecMetadata": "pod_template_spec_metadata",
               "jobMetadata": "job_metadata"}
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator_config = {"max_concurrent_runs": queued.get("maxConcurrentRuns", -1)}
    if queued.get("tagConcurrencyLimits"):
        coordinator_config["tag_concurrency_limits"] = queued["tagConcurrencyLimits"]
    if queued.get("dequeueIntervalSeconds"):
        coordinator_config["dequeue_interval_seconds"] = queued["dequeueIntervalSeconds"]
    assert values["computeLogManager"]["type"] == "NoOpComputeLogManager"
    instance: dict[str, Any] = {
        "scheduler": {"module": "dagster.core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage",
                             "class": "PostgresScheduleStorage", "config": postgres},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": {
            "load_incluster_config": launcher["loadInclusterConfig"],
            "job_namespace": launcher["jobNamespace"],
            "image_pull_policy": launcher["imagePullPolicy"],
            "service_account_name": "dagster",
            "dagster_home": "/opt/dagster/dagster_home",
            "instance_config_map": "dagster-instance",
            "postgres_password_secret": values["global"]["postgresqlSecretName"],
            "env_config_maps": [c["name"] for c in launcher["envConfigMaps"]],
            "env_secrets": [s["name"] for s in launcher["envSecrets"]],
            "env_vars": launcher["envVars"],
            "volume_mounts": launcher["volumeMounts"],
            "volumes": launcher["volumes"],
            "resources": launcher["resources"],
            "fail_pod_on_run_failure": launcher["failPodOnRunFailure"],
            "security_context": launcher["securityContext"],
            "run_k8s_config": {run_k8s[k]: v for k, v in launcher["runK8sConfig"].items()},
        }},
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage",
                        "config": postgres},
        "event_log_storage": {"module": "dagster_postgres.event_log",
                              "class": "PostgresEventLogStorage", "config": postgres},
        "run_coordinator": {"module": "dagster.core.run_coordinator",
                            "class": "QueuedRunCoordinator", "config": coordinator_config},
        "compute_logs": {"module": "dagster.core.storage.noop_compute_log_manager",
                         "class": "NoOpComputeLogManager"},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    assert daemon["enabled"] and daemon["runCoordinator"]["enabled"]
    if daemon["runMonitoring"]["enabled"]:
        pytest.fail("restate the chart's run_monitoring block here before enabling it")
    if values["retention"]["enabled"]:
        instance["retention"] = {
            name: {"purge_after_days": values["retention"][key]["purgeAfterDays"]}
            for key, name in (("sensor", "sensor"), ("schedule", "schedule"),
                              ("autoMaterialize", "auto_materialize"))
            if values["retention"].get(key)}
    if with_additional:
        instance.update(values.get("additionalInstanceConfig") or {})
    return instance


def _load_instance_config(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Dagster's instance schema (dagster_instance_config, as DagsterInstance.from_config reads
    dagster.yaml), then each configurable class's config against that class's own config schema,
    as instantiating it would, but without instantiating (which would connect)."""
    pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed (the k8s extra)")
    from intel_assets.dagster_internals import (
        ConfigurableClassData,
        dagster_instance_config,
        process_config,
        resolve_to_config_type,
    )

    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    validated, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    sections = [validated[k] for k in ("run_launcher", "run_coordinator", "compute_logs",
                                       "scheduler", "run_storage", "event_log_storage",
                                       "schedule_storage") if validated.get(k)]
    if "custom" in (validated.get("storage") or {}):
        sections.append(validated["storage"]["custom"])
    for section in sections:
        # ConfigurableClassData maps Dagster's public module names (dagster.core...) to its own
        data = ConfigurableClassData(section["module"], section["class"],
                                     yaml.safe_dump(section.get("config") or {}))
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
        assert result.success, f"{section['module']}.{section['class']}: {result.errors}"
    return validated


@pytest.fixture
def pg_env(monkeypatch):
    for name, value in {"DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": "unused",
                        "DAGSTER_PG_HOST": "intel-pg-rw.intel-assets.svc",
                        "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_DB": "dagster"}.items():
        monkeypatch.setenv(name, value)


def test_instance_configs_load_in_dagsters_schema(tmp_path, pg_env):
    local = _load_instance_config(tmp_path / "local",
                                  yaml.safe_load((DEPLOY / "dagster.yaml").read_text()))
    cluster = _load_instance_config(tmp_path / "cluster", _instance_from_configmap())
    chart = _load_instance_config(tmp_path / "chart", _chart_instance(_values()))
    assert cluster["run_launcher"]["class"] == chart["run_launcher"]["class"] == "K8sRunLauncher"
    assert cluster["storage"]["custom"]["class"] == "IntelPostgresStorage"
    assert cluster["storage"]["custom"] == {
        **local["storage"]["custom"],
        "config": {**local["storage"]["custom"]["config"], "postgres_db": {
            **local["storage"]["custom"]["config"]["postgres_db"],
            "params": cluster["storage"]["custom"]["config"]["postgres_db"]["params"]}}}
    assert chart["event_log_storage"]["class"] == "PostgresEventLogStorage"


def test_cluster_instance_agrees_with_the_chart(tmp_path, pg_env):
    """deploy/k8s/dagster-instance.yaml and the chart's instance from the values: the same run
    queue, run monitoring, retention, compute logs, TLS, namespace, env sources and Job shape."""
    cluster = _instance_from_configmap()
    chart = _chart_instance(_values())
    assert cluster["run_monitoring"] == chart["run_monitoring"] == run_limits().monitoring()
    assert cluster["retention"] == chart["retention"]
    assert cluster["compute_logs"] == chart["compute_logs"]
    assert cluster["telemetry"] == chart["telemetry"]
    queue = chart["run_coordinator"]["config"]
    assert cluster["concurrency"]["runs"]["max_concurrent_runs"] == queue["max_concurrent_runs"]
    assert cluster["run_coordinator"]["config"]["dequeue_interval_seconds"] == queue[
        "dequeue_interval_seconds"]
    pg = cluster["storage"]["custom"]["config"]["postgres_db"]
    assert pg["params"] == chart["run_storage"]["config"]["postgres_db"]["params"]
    ours, theirs = cluster["run_launcher"]["config"], chart["run_launcher"]["config"]
    for key in ("job_namespace", "image_pull_policy", "env_config_maps", "env_secrets",
                "resources", "security_context", "fail_pod_on_run_failure", "volumes",
                "volume_mounts", "postgres_password_secret", "service_account_name",
                "dagster_home"):
        assert ours[key] == theirs[key], key
    assert ours["run_k8s_config"] == theirs["run_k8s_config"]
    (d,) = _values()["dagster-user-deployments"]["deployments"]
    assert ours["volumes"] == d["volumes"] and ours["volume_mounts"] == d["volumeMounts"]
    for volume in ours["volumes"]:
        _k8s_part("V1Volume", volume)
    for mount in ours["volume_mounts"]:
        _k8s_part("V1VolumeMount", mount)
    _k8s_part("V1PodSpec", ours["run_k8s_config"]["pod_spec_config"])
    _k8s_part("V1JobSpec", ours["run_k8s_config"]["job_spec_config"])
    _k8s_part("V1SecurityContext", ours["security_context"])
    _k8s_part("V1ResourceRequirements", ours["resources"])


def _run_job(run_launcher_config: dict[str, Any]) -> dict[str, Any]:
    """The Kubernetes Job dagster-k8s's K8sRunLauncher creates for a run of our image, built by
    dagster-k8s itself from this run launcher config (as K8sRunLauncher.launch_run does, up to
    the API call), as the dict it sends."""
    pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed (the k8s extra)")
    from unittest import mock

    import kubernetes
    from dagster import DagsterRun
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.job import construct_dagster_k8s_job

    from intel_assets.dagster_internals import (
        JobPythonOrigin,
        ModuleCodePointer,
        RepositoryPythonOrigin,
        process_config,
        resolve_to_config_type,
    )

    processed = process_config(resolve_to_config_type(K8sRunLauncher.config_type()),
                               run_launcher_config)
    assert processed.success, processed.errors
    with mock.patch("kubernetes.config.load_incluster_config"):  # no cluster to read
        launcher = K8sRunLauncher.from_config_value(None, processed.value)
    origin = JobPythonOrigin(REFRESH_JOB, RepositoryPythonOrigin(
        "/opt/venv/bin/python", ModuleCodePointer("intel_assets.definitions", "defs", None),
        container_image=f"{IMAGE}:0.1.0"))  # what the code server reports (DAGSTER_CURRENT_IMAGE)
    run = DagsterRun(job_name=REFRESH_JOB, run_id="0123abcd-0000-4000-8000-000000000000",
                     job_code_origin=origin)
    context = launcher.get_container_context_for_run(run)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=origin.repository_origin.container_image,
                                              run_launcher=launcher),
        args=["dagster", "api", "execute_run", "{}"], job_name="dagster-run-0123abcd",
        pod_name="dagster-run-0123abcd", component="run_worker",
        user_defined_k8s_config=context.run_k8s_config, labels={"dagster/job": REFRESH_JOB},
        env_vars=[{"name": "DAGSTER_RUN_JOB_NAME", "value": REFRESH_JOB}])
    doc = kubernetes.client.ApiClient().sanitize_for_serialization(job)
    return {"apiVersion": "batch/v1", "kind": "Job", **doc,
            "metadata": {**doc["metadata"], "namespace": context.namespace}}


@pytest.mark.parametrize("source", ["chart", "cluster"])
def test_run_job_built_by_dagster_k8s_is_valid(source):
    """The run Job from the chart's instance (values) and from deploy/k8s/dagster-instance.yaml:
    a valid Kubernetes Job running as uid 10001 on a read-only root with /tmp writable, the
    launcher's resources, settings from the ConfigMap and every secret by reference."""
    values = _values()
    instance = _chart_instance(values) if source == "chart" else _instance_from_configmap()
    launcher = instance["run_launcher"]["config"]
    job = _run_job(launcher)
    _validate_object(job)
    assert not inline_secrets(job), inline_secrets(job)
    assert job["metadata"]["namespace"] == NAMESPACE
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"{IMAGE}:0.1.0"
    assert container["resources"] == launcher["resources"]
    assert pod["securityContext"]["runAsUser"] == container["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"configMapRef": {"name": "intel-assets-config"}} in container["envFrom"]
    assert {"secretRef": {"name": "intel-assets-secrets"}} in container["envFrom"]
    env = {e["name"]: e for e in container["env"]}
    assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": values["global"]["postgresqlSecretName"], "key": "postgresql-password"}
    if source == "chart":  # the event-write variables (the cluster instance's storage sets them)
        assert env["DAGSTER_EVENT_BATCH_SIZE"]["value"] == "500"
        assert env["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"]["value"] == "true"


def test_a_broken_instance_config_is_refused(tmp_path, pg_env):
    """The schema check bites: a misspelt launcher key and a storage without its database."""
    from dagster import DagsterInvalidConfigError

    broken = _instance_from_configmap()
    broken["run_launcher"]["config"]["job_namespaces"] = "intel-assets"
    with pytest.raises(AssertionError, match="K8sRunLauncher"):
        _load_instance_config(tmp_path / "a", broken)
    broken = _instance_from_configmap()
    broken["run_monitoring"]["max_runtime"] = 1
    with pytest.raises(DagsterInvalidConfigError):
        _load_instance_config(tmp_path / "b", broken)
    broken = _instance_from_configmap()
    del broken["storage"]["custom"]["config"]["postgres_db"]["db_name"]
    with pytest.raises(AssertionError, match="IntelPostgresStorage"):
        _load_instance_config(tmp_path / "c", broken)


# ---- the executor follows settings ----------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch):
    for name in ("INTEL_CLICKHOUSE_URL", "INTEL_EXECUTOR", "TORGHUT_DB_DSN", "INTEL_ENV"):
        monkeypatch.delenv(name, raising=False)


def _executor(tmp_path, **overrides) -> str:
    defs = build_definitions(load_settings(home=tmp_path, universe="AAA,BBB", **overrides))
    return defs.resolve_job_def(REFRESH_JOB).executor_def.name


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, "in_process"),  # embedded chdb
    ({"clickhouse_url": "chdb:///tmp/x"}, "in_process"),
    ({"clickhouse_url": "http://ch:8123"}, "multiprocess"),
    ({"clickhouse_url": "https://ch:8443", "executor": "in_process"}, "in_process"),
    ({"executor": "in_process"}, "in_process"),
    ({"clickhouse_url": "https://ch:8443", "executor": "multiprocess"}, "multiprocess"),
])
def test_executor_follows_settings(tmp_path, clean_env, overrides, expected):
    assert _executor(tmp_path, **overrides) == expected


def test_k8s_executor_is_dagster_k8s_job_executor(tmp_path, clean_env, monkeypatch):
    dagster_k8s = pytest.importorskip("dagster_k8s",
                                      reason="dagster-k8s is not installed (the k8s extra)")
    monkeypatch.setenv("INTEL_EXECUTOR", "k8s")
    monkeypatch.setenv("INTEL_CLICKHOUSE_URL", "https://ch:8443")
    defs = build_definitions(load_settings(home=tmp_path, universe="AAA"))
    assert defs.resolve_job_def(REFRESH_JOB).executor_def is dagster_k8s.k8s_job_executor


def test_k8s_executor_without_dagster_k8s_is_one_line(tmp_path, clean_env, monkeypatch):
    monkeypatch.setitem(sys.modules, "dagster_k8s", None)  # import fails as if not installed
    with pytest.raises(SettingsError) as err:
        _executor(tmp_path, clickhouse_url="https://ch:8443", executor="k8s")
    assert "\n" not in str(err.value) and "intel_assets[k8s]" in str(err.value)


@pytest.mark.parametrize("executor", ["multiprocess", "k8s"])
def test_several_processes_are_refused_on_chdb(tmp_path, clean_env, executor):
    with pytest.raises(SettingsError, match=rf"INTEL_EXECUTOR={executor} .*\(chdb\)"):
        load_settings(home=tmp_path, executor=executor)


def test_an_unknown_executor_names_the_choices(tmp_path, clean_env, monkeypatch):
    monkeypatch.setenv("INTEL_EXECUTOR", "celery")
    with pytest.raises(SettingsError, match="INTEL_EXECUTOR: .*'in_process', 'multiprocess'"):
        load_settings(home=tmp_path)
