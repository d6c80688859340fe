"""deploy/production: every built-in resource validates against the Kubernetes JSON schemas
(kubernetes-validate), and what the files say of each other and of the code holds: every
referenced ConfigMap, Secret, port and selector exists, workers scale on the lag of their own
group and topic up to the partition count, and the Kafka and ClickHouse clusters match the
settings (replication factor, min ISR, cluster name)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from processors.app import FLAGGER_GROUP, SINK_GROUP
from telemetry_core import topics

PRODUCTION = Path(__file__).resolve().parents[3] / "deploy" / "production"
KUBERNETES_VERSION = "1.33.0"
CRD_GROUPS = ("kafka.strimzi.io/", "clickhouse.altinity.com/", "clickhouse-keeper.altinity.com/", "keda.sh/")


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((PRODUCTION / name).read_text()) if d]
    return docs


DOCS = documents()


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in DOCS if d["kind"] == kind}


def settings() -> dict[str, str]:
    return dict(of_kind("ConfigMap")["telemetry-settings"]["data"])


def out_of_band_secrets() -> set[str]:
    """Secrets config.yaml tells the operator to create (never kept in the repository)."""
    return set(re.findall(r"kubectl create secret generic ([a-z0-9-]+)", (PRODUCTION / "config.yaml").read_text()))


def pod_specs() -> dict[str, dict[str, Any]]:
    workloads = {**of_kind("Deployment"), **of_kind("Job")}
    return {name: d["spec"]["template"]["spec"] for name, d in workloads.items()}


def test_every_file_is_listed_in_the_kustomization() -> None:
    listed = set(yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in PRODUCTION.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("doc", [d for d in DOCS if not d["apiVersion"].startswith(CRD_GROUPS)],
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_built_in_resources_match_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_every_custom_resource_is_of_a_known_operator() -> None:
    kinds = {(d["apiVersion"], d["kind"]) for d in DOCS if d["apiVersion"].startswith(CRD_GROUPS)}
    assert kinds == {
        ("kafka.strimzi.io/v1beta2", "Kafka"), ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
        ("clickhouse.altinity.com/v1", "ClickHouseInstallation"),
        ("clickhouse-keeper.altinity.com/v1", "ClickHouseKeeperInstallation"),
        ("keda.sh/v1alpha1", "ScaledObject"),
    }


def test_every_referenced_config_map_secret_and_port_exists() -> None:
    config_maps, secrets = set(of_kind("ConfigMap")), out_of_band_secrets()
    for name, pod in pod_specs().items():
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, (name, volume)
        for container in pod.get("initContainers", []) + pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, name
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, name
            port_names = {p["name"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in container:
                    assert container[probe]["httpGet"]["port"] in port_names, (name, probe)


def test_every_service_selects_pods_and_targets_a_named_port() -> None:
    deployments = of_kind("Deployment")
    for name, service in of_kind("Service").items():
        selector = service["spec"]["selector"]
        matching = [d for d in deployments.values()
                    if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert matching, name
        ports = {p["name"] for c in matching[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert all(p["targetPort"] in ports for p in service["spec"]["ports"]), name


def test_container_ports_are_the_configured_ones() -> None:
    ports = {"telemetry-ingest": 8080, "telemetry-query": 8081, "telemetry-flagger": 9101, "telemetry-sink": 9102}
    for name, port in ports.items():
        container = pod_specs()[name]["containers"][0]
        assert container["ports"][0]["containerPort"] == port, name


def test_workers_scale_on_their_own_lag_up_to_the_partition_count() -> None:
    partitions, config = int(settings()["TELEMETRY_TOPIC_PARTITIONS"]), settings()
    expected = {"telemetry-flagger": (FLAGGER_GROUP, topics.RAW), "telemetry-sink": (SINK_GROUP, topics.FLAGGED)}
    scaled = of_kind("ScaledObject")
    assert set(scaled) == set(expected)
    for name, (group, topic) in expected.items():
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] in of_kind("Deployment")
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions, name
        assert of_kind("Deployment")[name]["spec"]["replicas"] <= partitions
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "kafka"
        assert (trigger["metadata"]["consumerGroup"], trigger["metadata"]["topic"]) == (group, topic)
        assert trigger["metadata"]["bootstrapServers"] == config["TELEMETRY_KAFKA_BOOTSTRAP"]


def test_kafka_cluster_tolerates_one_node_down_with_the_settings_replication() -> None:
    (kafka,) = of_kind("Kafka").values()
    (pool,) = of_kind("KafkaNodePool").values()
    broker = kafka["spec"]["kafka"]["config"]
    replication = int(settings()["TELEMETRY_TOPIC_REPLICATION"])
    assert pool["spec"]["replicas"] >= replication == broker["default.replication.factor"] == 3
    assert broker["min.insync.replicas"] == broker["transaction.state.log.min.isr"] == 2
    assert broker["unclean.leader.election.enable"] is False
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert settings()["TELEMETRY_KAFKA_BOOTSTRAP"].startswith(f"{kafka['metadata']['name']}-kafka-bootstrap:")


def test_clickhouse_cluster_is_the_configured_one_with_keeper_and_replicas() -> None:
    (chi,) = of_kind("ClickHouseInstallation").values()
    (keeper,) = of_kind("ClickHouseKeeperInstallation").values()
    (cluster,) = chi["spec"]["configuration"]["clusters"]
    assert cluster["name"] == settings()["TELEMETRY_CLICKHOUSE_CLUSTER"]
    assert cluster["layout"]["replicasCount"] >= 2 and cluster["layout"]["shardsCount"] >= 1
    assert chi["spec"]["configuration"]["zookeeper"]["nodes"][0]["host"] == f"keeper-{keeper['metadata']['name']}"
    assert keeper["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] == 3
    assert settings()["TELEMETRY_CLICKHOUSE_URL"].startswith(f"http://clickhouse-{chi['metadata']['name']}:")
    secret = chi["spec"]["configuration"]["users"]["telemetry/k8s_secret_password"].split("/")[0]
    assert secret in out_of_band_secrets()
