"""The example Python clients (examples/) against the real server: one with generated
stubs, one with server reflection only.

Run by ctest with TERRASERVE_SERVER_BIN, TERRASERVE_PYTHON_STUBS and TERRASERVE_TEST_MODEL_DIR.
"""

import os
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class PythonClientsTest(unittest.TestCase):

  @classmethod
  def setUpClass(cls):
    cls.tmp = tempfile.TemporaryDirectory()
    port_file = os.path.join(cls.tmp.name, "port")
    model = os.environ.get("TERRASERVE_TEST_MODEL_DIR", os.path.join(ROOT, "models/terraformer-tiny"))
    cls.server = subprocess.Popen(
        [os.environ["TERRASERVE_SERVER_BIN"], "--host=127.0.0.1", "--port=0", "--metrics_port=-1",
         "--model_dir=" + model, "--port_file=" + port_file, "--log_requests=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
      if time.time() > deadline or cls.server.poll() is not None:
        raise RuntimeError("server did not start")
      time.sleep(0.05)
    cls.addr = "127.0.0.1:" + open(port_file).read().split()[0]

  @classmethod
  def tearDownClass(cls):
    cls.server.terminate()
    cls.server.wait(timeout=60)
    cls.tmp.cleanup()

  def run_example(self, name, *args):
    env = dict(os.environ, PYTHONPATH=os.environ["TERRASERVE_PYTHON_STUBS"])
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), "--addr", self.addr, *args],
                          env=env, capture_output=True, text=True, timeout=120)

  def test_stub_client_streams_text(self):
    r = self.run_example("python_client.py", "--max_new_tokens", "8", "A wise man")
    self.assertEqual(r.returncode, 0, r.stderr)
    self.assertIn("health: SERVING", r.stdout)
    self.assertIn("finish: FINISH_REASON_LENGTH, 8 tokens", r.stdout)

  def test_reflection_only_client_uses_every_kind_of_rpc(self):
    r = self.run_example("reflection_client.py")
    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
    self.assertIn("terraserve.v1.TextGeneration", r.stdout)
    self.assertIn("tokens: [", r.stdout)
    self.assertIn("detokenized: 'Hello world'", r.stdout)
    self.assertIn("streamed:", r.stdout)


if __name__ == "__main__":
  unittest.main()
