"""`make demo` itself: every scene's requests answer as the demo expects, and the command line agrees
with the proxy (the demo exits non-zero otherwise), so the README's first command stays working."""

import subprocess
import sys

from .harness.envoy import REPO


def test_demo_runs_and_every_answer_is_the_expected_one():
    subprocess.run(["cargo", "build", "--quiet", "--bin", "meshguard"], cwd=REPO, check=True)
    out = subprocess.run([sys.executable, "-m", "tests.integration.demo"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "BAD" not in out.stdout
    for shown in ("jwt_expired", "mtls_required", "egress_not_registered", "https_redirect",
                  '"dry_run": {"decision": "deny", "policy": "production.deny-delete"}',
                  "the CLI decides as the proxy did", "info[MG013]"):
        assert shown in out.stdout, f"the demo no longer shows {shown}"
    assert "all 12 requests and the command line answered as expected" in out.stdout
