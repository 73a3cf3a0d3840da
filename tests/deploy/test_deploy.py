"""Checks of the deployment files that run without Docker or a cluster.

  /usr/bin/python3 -m unittest tests/deploy/test_deploy.py   (from the repository root)
"""

import json
import os
import re
import subprocess
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(path):
  with open(os.path.join(ROOT, path)) as f:
    return f.read()


class DeployTest(unittest.TestCase):

  def test_dockerfile_builds_with_the_scripts_ci_runs(self):
    docker = read("Dockerfile")
    make = read("Makefile")
    self.assertIn("deploy/install-deps.sh build", docker)
    self.assertIn("deploy/install-deps.sh", make)
    self.assertIn("cmake --preset release", docker)
    self.assertIn("cmake --preset release", make)  # the preset `make run` uses
    self.assertIn("install-deps.sh runtime", docker)
    self.assertRegex(docker, r"USER 10001")
    self.assertRegex(docker, r"EXPOSE 50051 9464")
    self.assertIn("HEALTHCHECK", docker)
    self.assertIn("TERRASERVE_HOST=0.0.0.0", docker)
    self.assertTrue(os.path.exists(os.path.join(ROOT, ".dockerignore")))
    self.assertIn("make test", read(".ci/run"))

  def test_yamllint(self):
    r = subprocess.run(["yamllint", "-s", "."], cwd=ROOT, capture_output=True, text=True)
    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

  def test_kustomization_lists_every_manifest(self):
    k = yaml.safe_load(read("deploy/k8s/kustomization.yaml"))
    files = sorted(f for f in os.listdir(os.path.join(ROOT, "deploy/k8s"))
                   if f.endswith(".yaml") and f != "kustomization.yaml")
    self.assertEqual(sorted(k["resources"]), files)

  def test_deployment_probes_and_grace(self):
    d = yaml.safe_load(read("deploy/k8s/deployment.yaml"))
    pod = d["spec"]["template"]["spec"]
    c = pod["containers"][0]
    self.assertEqual(c["readinessProbe"]["grpc"]["service"], "terraserve.v1.TextGeneration")
    self.assertEqual(c["livenessProbe"]["grpc"]["service"], "")
    grace = int(re.search(r"--shutdown_grace=(\d+)", " ".join(c["args"])).group(1))
    pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
    self.assertGreaterEqual(pod["terminationGracePeriodSeconds"], grace + pre_stop)
    self.assertIn("memory", c["resources"]["limits"])

  def test_services_hpa_and_monitoring(self):
    docs = list(yaml.safe_load_all(read("deploy/k8s/service.yaml")))
    self.assertEqual({d["metadata"]["name"] for d in docs}, {"terraserve", "terraserve-headless"})
    self.assertEqual([d for d in docs if d["metadata"]["name"] == "terraserve-headless"][0]
                     ["spec"]["clusterIP"], "None")
    hpa = yaml.safe_load(read("deploy/k8s/hpa.yaml"))
    metric = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    self.assertIn(metric, read("deploy/k8s/prometheus-adapter-rules.yaml"))

  def test_dashboard_uses_metrics_the_server_exports(self):
    dash = json.loads(read("deploy/grafana/dashboards/terraserve.json"))
    exported = set(re.findall(r'"(terraserve_[a-z_]+)"', read("server/metrics/server_metrics.cc")))
    self.assertGreater(len(exported), 10)
    for panel in dash["panels"]:
      for target in panel["targets"]:
        for name in re.findall(r"terraserve_[a-z_]+", target["expr"]):
          base = re.sub(r"_(bucket|sum|count)$", "", name)
          self.assertIn(base, exported, f"{panel['title']}: {name}")

  def test_compose_wires_prometheus_and_grafana(self):
    c = yaml.safe_load(read("deploy/compose.yaml"))
    self.assertEqual(set(c["services"]), {"terraserve", "prometheus", "grafana"})
    prom = yaml.safe_load(read("deploy/prometheus/prometheus.yml"))
    self.assertEqual(prom["scrape_configs"][0]["static_configs"][0]["targets"], ["terraserve:9464"])


if __name__ == "__main__":
  unittest.main()
