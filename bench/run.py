"""Benchmark driver: Switchgear vs nginx as a plain reverse proxy, on the PERFORMANCE.md rig.

Run through ``bash bench/run.sh`` (installs nginx and wrk if missing). Layout:

    core 0   the proxy under test (nginx or `switchgear serve`), pinned with taskset
    core 1   wrk (1 thread), the nginx mock upstream, and mock_delay.py (50 ms upstream)

Every scenario is measured three ways in the same run: wrk straight at the mock
("direct", a reference), through nginx, and through Switchgear. Results go to
bench/RESULTS.md and stdout. Everything binds to 127.0.0.1; every process started
here is stopped on exit, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import fcntl
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
PIDS = WORK / "pids"
sys.path.insert(0, str(BENCH))
import fixtures  # noqa: E402

PROXY_CPU = "0"
LOAD_CPU = "1"  # wrk and the mocks
CLIENT_KEY = "sk-bench-client-0123456789abcdef"
UPSTREAM_KEY = "sk-bench-upstream"
SLOW_UPSTREAM_CONNECTIONS = 512  # both proxies may keep this many connections to the 50 ms mock

# Targets from the issue.
RPS_SHARE = 0.50
ADDED_P50_SLACK_MS = 0.5
P99_FACTOR_512 = 1.5
IDLE_RSS_MB = 80.0
GROWTH_LIMIT_MB = 5.0  # "no growth": under 5 bytes per request over a million requests
DISTURBED_CORES = 0.25  # CPU used by other people's jobs during a row above which the row is flagged


# ---------------------------------------------------------------------------------------------
# processes


class Procs:
    """Children in their own sessions, so stopping one stops its workers too."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen] = {}
        PIDS.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], cpu: str, log: Path, env: dict | None = None) -> subprocess.Popen:
        with open(log, "ab") as out:
            p = subprocess.Popen(["taskset", "-c", cpu, *argv], stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT, env=env)
        self.running[name] = p
        (PIDS / f"{name}.pid").write_text(str(p.pid))
        return p

    def stop(self, name: str, grace: float = 15.0) -> None:
        p = self.running.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            _signal_group(p.pid, signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # Workers may outlive a master that died; the group goes either way.
        _signal_group(p.pid, signal.SIGKILL)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        (PIDS / f"{name}.pid").unlink(missing_ok=True)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d.name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
    return kids


def tree_rss_mb(pid: int) -> float:
    """RSS of a process plus its children (nginx: master + workers)."""
    return (rss_kb(pid) + sum(rss_kb(c) for c in children(pid))) / 1024


def new_log_lines(path: Path, offset: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def summarize_lines(lines: list[str], top: int = 8) -> list[str]:
    """Distinct log lines with counts, most frequent first (numbers kept: they are usually ports)."""
    counts: dict[str, int] = {}
    for line in lines:
        if line.strip():
            counts[line.strip()[:300]] = counts.get(line.strip()[:300], 0) + 1
    return [f"{n} × {text}" for text, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]]


_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0.0


def tree_cpu_s(pid: int) -> float:
    return proc_cpu_s(pid) + sum(proc_cpu_s(c) for c in children(pid))


def machine_busy_s() -> float:
    """CPU seconds spent busy on all cores so far, hypervisor steal included."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = f[:8]
    return (user + nice + system + irq + softirq + steal) / _TICK


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has been waited for
    return ru.ru_utime + ru.ru_stime


class CpuMeter:
    """Who used the CPU during one measured run: the proxy, and everything not ours.

    The 2 cores are shared with other people's jobs. CPU time per request of the proxy
    barely moves when they steal time; "others" tells how disturbed a row was.
    """

    def __init__(self, proxy_pids: list[int], own_pids: list[int]) -> None:
        self.proxy_pids, self.own_pids = proxy_pids, own_pids

    def __enter__(self) -> "CpuMeter":
        self.t0 = time.monotonic()
        self.busy0 = machine_busy_s()
        self.proxy0 = sum(tree_cpu_s(p) for p in self.proxy_pids)
        self.own0 = sum(tree_cpu_s(p) for p in self.own_pids) + children_cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self.t0
        busy = machine_busy_s() - self.busy0
        self.proxy = sum(tree_cpu_s(p) for p in self.proxy_pids) - self.proxy0
        own = sum(tree_cpu_s(p) for p in self.own_pids) + children_cpu_s() - self.own0
        self.others_cores = max(0.0, busy - self.proxy - own) / wall if wall else 0.0
        self.proxy_cores = self.proxy / wall if wall else 0.0


def wait_quiet(limit_s: float, own_pids: list[int], threshold: float = DISTURBED_CORES) -> None:
    """Wait (up to limit_s) for a second in which processes outside the bench use < threshold cores."""
    deadline = time.monotonic() + limit_s
    while True:
        with CpuMeter([], [p for p in own_pids if p]) as m:
            time.sleep(1.0)
        if m.others_cores < threshold or time.monotonic() >= deadline:
            return


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------
# configs


def _nginx_quote(body: bytes) -> str:
    text = body.decode()
    assert "$" not in text, "nginx would expand $ in a return body"
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _nginx_common(name: str) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root nginx would drop workers to nobody
    tmp = WORK / f"nginx-{name}" / "tmp"
    temps = "".join(f"    {d}_temp_path {tmp / d};\n" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        f"{user}worker_processes 1;\n"
        f"pid {WORK / f'nginx-{name}' / 'nginx.pid'};\n"
        f"error_log {WORK / f'nginx-{name}' / 'error.log'} warn;\n"
        "worker_rlimit_nofile 20000;\n"
        "events { worker_connections 8192; }\n"
        "http {\n"
        "    access_log off;\n"
        "    keepalive_requests 1000000;\n"
        "    keepalive_timeout 75s;\n"
        f"{temps}"
    )


def _nginx_body_maps(prefix: str, body: bytes, piece: int = 2000) -> tuple[str, str]:
    """A body too long for one nginx token (4 KB) as constant map variables, and their concatenation."""
    text = body.decode()
    parts = [text[i:i + piece] for i in range(0, len(text), piece)]
    maps = "".join(f"    map $uri ${prefix}{i} {{ default {_nginx_quote(p.encode())}; }}\n" for i, p in enumerate(parts))
    return maps, '"' + "".join(f"${prefix}{i}" for i in range(len(parts))) + '"'


def nginx_mock_conf(port: int) -> str:
    maps, stream_body = _nginx_body_maps("sse", fixtures.chat_stream())
    return _nginx_common("mock") + maps + f"""
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /v1/chat/completions {{
            default_type application/json;
            return 200 {_nginx_quote(fixtures.chat_completion())};
        }}
        location = /stream/v1/chat/completions {{
            default_type text/event-stream;
            add_header Cache-Control no-cache;
            return 200 {stream_body};
        }}
    }}
}}
"""


def nginx_proxy_conf(port: int, mock_port: int, slow_port: int) -> str:
    return _nginx_common("proxy") + f"""
    upstream mock {{
        server 127.0.0.1:{mock_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    upstream slow {{
        server 127.0.0.1:{slow_port};
        keepalive {SLOW_UPSTREAM_CONNECTIONS};
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /v1/ {{
            proxy_pass http://mock;
        }}
        location /stream/ {{
            proxy_pass http://mock;
            proxy_buffering off;
        }}
        location /slow/ {{
            proxy_pass http://slow/;
        }}
    }}
}}
"""


def store_identity(work: Path, audit: bool = True) -> dict:
    """--identity store: a fresh SQLite store with one service account and its key; the
    bench then runs with key verification from the store's snapshot and the audit record on."""
    global CLIENT_KEY
    sys.path.insert(0, str(BENCH.parent / "src"))
    from switchgear.identity import repository as repo
    from switchgear.store import migrate
    from switchgear.store.database import Database

    for old in work.glob("store.db*"):
        old.unlink()
    url = f"sqlite:///{work / 'store.db'}"
    migrate.upgrade(url)
    db = Database(url)

    def boot(conn):  # type: ignore[no-untyped-def]
        org = repo.create_org(conn, "bench")
        sa = repo.create_principal(conn, org.id, "service_account", "bench")
        repo.create_grant(conn, org.id, "principal", sa.id, models=["*"], endpoints=["chat", "messages", "models"])
        return repo.create_key(conn, org.id, sa.id, "bench")[1]

    try:
        CLIENT_KEY = db.run_sync(boot)
    finally:
        db.close_sync()
    return {"store": {"url": url}, "audit": {"enabled": audit, "signing_key_file": str(work / "audit-key.pem")}}


def limits_conf(kind: str) -> dict:
    """--limits memory|redis: one budget and one rate limit on every request, set high
    enough never to refuse: the cost of admission and settlement, not of refusals."""
    if kind == "none":
        return {}
    return {"limits": {
        "backend": kind, "key_prefix": f"sgbench:{os.getpid()}:",
        "budgets": [{"name": "bench-daily", "scope": {"key": "*"}, "period": "daily", "limit_usd": 1e6}],
        "rate_limits": [{"name": "bench-rpm", "scope": {"key": "*"}, "rpm": 100_000_000, "tpm": 10**15}],
    }}


def switchgear_conf(port: int, mock_port: int, slow_port: int, group: str = "single") -> dict:
    """One deployment per model, or (group "weighted3") a three-deployment weighted group:
    three providers in front of the same mock with weights 3:2:1, strategy weighted."""

    def provider(name: str, base: str, **extra: object) -> dict:
        return {"name": name, "vendor": "openai_compatible", "base_url": base, "api_key": UPSTREAM_KEY, **extra}

    kinds = {
        "chat": (f"http://127.0.0.1:{mock_port}/v1", {}),
        "stream": (f"http://127.0.0.1:{mock_port}/stream/v1", {}),
        "slow": (f"http://127.0.0.1:{slow_port}/v1", {"max_connections": SLOW_UPSTREAM_CONNECTIONS}),
    }
    copies = ("",) if group == "single" else ("-a", "-b", "-c")
    providers = [provider(f"mock-{k}{c}", base, **extra) for k, (base, extra) in kinds.items() for c in copies]
    models = []
    for k in kinds:
        deps = [{"provider": f"mock-{k}{c}", "model": "gpt-4o-mini"} for c in copies]
        model: dict = {"name": f"bench-{k}", "deployments": deps}
        if group == "weighted3":
            for d, w in zip(deps, (3, 2, 1), strict=True):
                d["weight"] = w
            model["strategy"] = "weighted"
        models.append(model)
    return {
        "server": {"host": "127.0.0.1", "port": port},
        "auth": {"keys": [{"name": "bench", "key": CLIENT_KEY, "grants": [{"models": ["*"]}]}]},
        "providers": providers,
        "models": models,
    }


_LUA_HEAD = """-- generated by bench/run.py
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""

# wrk calls done() once at the end; latency figures are microseconds.
_LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"mean":%.1f,"max":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
"""


def lua_single(body: str) -> str:
    return _LUA_HEAD.format(key=CLIENT_KEY) + f"wrk.body = [==[{body}]==]\n" + _LUA_DONE


def lua_mixed(path: str, bodies: list[str]) -> str:
    """Cycle through several request bodies on one path (the memory-growth run)."""
    items = ", ".join(f"[==[{b}]==]" for b in bodies)
    return _LUA_HEAD.format(key=CLIENT_KEY) + f"""
local bodies = {{{items}}}
local reqs, i = {{}}, 0
function init(args)
  for k, b in ipairs(bodies) do reqs[k] = wrk.format("POST", "{path}", nil, b) end
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
""" + _LUA_DONE


# ---------------------------------------------------------------------------------------------
# load


@dataclass
class Run:
    requests: int = 0
    seconds: float = 0.0
    bytes: int = 0
    non2xx: int = 0
    socket_errors: int = 0
    timeouts: int = 0
    p50: float = 0.0  # ms
    p90: float = 0.0
    p99: float = 0.0
    mean: float = 0.0
    max: float = 0.0
    note: str = ""
    proxy_cpu_s: float = 0.0  # CPU the server under test used during the run
    proxy_cores: float = 0.0
    others_cores: float = 0.0  # CPU used by processes that are not part of the bench
    log_lines: list[str] = field(default_factory=list)  # what the proxy logged during the measured run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors + self.timeouts

    @property
    def cpu_us_per_req(self) -> float:
        return self.proxy_cpu_s * 1e6 / self.requests if self.requests else 0.0

    @property
    def bytes_per_req(self) -> float:
        return self.bytes / self.requests if self.requests else 0.0


def wrk(url: str, script: Path, conns: int, seconds: float, tag: str) -> Run:
    argv = ["taskset", "-c", LOAD_CPU, "wrk", "-t", "1", "-c", str(conns), "-d", f"{max(1, round(seconds))}s",
            "--timeout", "5s", "-s", str(script), url]
    # Own session and a pid file, so run.sh's trap can stop it if this driver is killed outright.
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    pidfile = PIDS / "wrk.pid"
    pidfile.write_text(str(p.pid))
    try:
        stdout, stderr = p.communicate(timeout=seconds + 60)
    except BaseException:
        _signal_group(p.pid, signal.SIGKILL)
        p.wait()
        raise
    finally:
        pidfile.unlink(missing_ok=True)
    out = subprocess.CompletedProcess(argv, p.returncode, stdout, stderr)
    (WORK / "wrk").mkdir(exist_ok=True)
    (WORK / "wrk" / f"{tag}.txt").write_text(" ".join(argv) + "\n\n" + out.stdout + out.stderr)
    m = re.search(r"^WRKJSON (\{.*\})$", out.stdout, re.M)
    if not m:
        return Run(note=f"wrk failed (rc {out.returncode}): {(out.stderr or out.stdout).strip()[:200]}")
    d = json.loads(m.group(1))
    ms = 1000.0
    return Run(requests=d["requests"], seconds=d["duration_us"] / 1e6, bytes=d["bytes"], non2xx=d["status"],
               socket_errors=d["connect"] + d["read"] + d["write"], timeouts=d["timeout"],
               p50=d["p50"] / ms, p90=d["p90"] / ms, p99=d["p99"] / ms, mean=d["mean"] / ms, max=d["max"] / ms)


def post(port: int, path: str, body: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, body=body.encode(), headers={"Content-Type": "application/json",
                                                             "Authorization": f"Bearer {CLIENT_KEY}"})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def get(port: int, path: str, timeout: float = 1.0) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------
# the bench


@dataclass
class Scenario:
    key: str
    title: str
    conns: int
    body: str
    paths: dict[str, str]  # target -> path


@dataclass
class Env:
    mock_port: int
    slow_port: int
    nginx_port: int
    sg_port: int
    nginx_pid: int = 0
    mock_pid: int = 0
    slow_pid: int = 0
    sg_proc: subprocess.Popen | None = None
    sg_status: str = "not started"  # "ok" once it served the sanity requests
    sg_log: Path = WORK / "switchgear.log"


TARGETS = ("direct", "nginx", "switchgear")


def check_reply(status: int, headers: dict[str, str], body: bytes, stream: bool) -> str:
    """Empty when the reply looks like the mock's answer passed through."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    if stream:
        n = body.count(b"data: ")
        if b"data: [DONE]" not in body or b"chat.completion.chunk" not in body:
            return f"stream without chunks/[DONE] ({len(body)} bytes): {body[:200]!r}"
        return "" if n >= fixtures.STREAM_EVENTS - 1 else f"only {n} events"
    return "" if b'"chat.completion"' in body else f"not a chat.completion: {body[:200]!r}"


def main() -> int:
    ap = argparse.ArgumentParser(description="Switchgear vs nginx benchmark (see bench/README.md)")
    ap.add_argument("--quick", action="store_true", help="2 s warm-up, 5 s measured")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run (default 5)")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 20)")
    ap.add_argument("--million", action="store_true", help="also run the memory-growth test (~1M requests)")
    ap.add_argument("--million-requests", type=int, default=1_000_000)
    ap.add_argument("--million-warmup", type=int, default=100_000)
    ap.add_argument("--scenarios", default="chat,stream,conn1,c512", help="comma list of chat,stream,conn1,c512")
    ap.add_argument("--no-switchgear", action="store_true", help="only the mock and nginx (harness check)")
    ap.add_argument("--group", choices=("single", "weighted3"), default="single",
                    help="each bench model as one deployment, or a three-deployment weighted group")
    ap.add_argument("--identity", choices=("config", "store", "store-noaudit"), default="config",
                    help="store: keys verified from a SQLite store's snapshot, audit record on "
                         "(store-noaudit: the same with the audit record off)")
    ap.add_argument("--limits", choices=("none", "memory", "redis"), default="none",
                    help="a budget and a rate limit on every request, in-process or in Redis")
    ap.add_argument("--switchgear-wait", type=float, default=30.0, help="seconds to wait for it to come up")
    ap.add_argument("--results", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every row N times, alternating targets; report the fastest undisturbed round")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each row, wait up to S seconds for other jobs to use < 0.25 cores")
    a = ap.parse_args()
    warm = a.warmup if a.warmup is not None else (2.0 if a.quick else 5.0)
    dur = a.duration if a.duration is not None else (5.0 if a.quick else 20.0)

    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    for tool in (nginx_bin, "wrk", "taskset"):
        if not shutil.which(tool):
            print(f"bench: {tool} not found (run through bench/run.sh, which installs it)", file=sys.stderr)
            return 2
    if (os.cpu_count() or 1) < 2:
        print("bench: needs 2 cores (proxy on core 0, load on core 1)", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 20000), hard), hard))  # 512 conns each side

    WORK.mkdir(exist_ok=True)
    # One bench at a time: two would share bench/.work and ruin each other's figures.
    lock = open(WORK / "lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("bench: another bench run holds bench/.work/lock; waiting for it to finish", file=sys.stderr, flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    for d in ("nginx-mock", "nginx-proxy", "lua"):
        (WORK / d).mkdir(exist_ok=True)
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (WORK / "nginx-mock" / "tmp" / d).mkdir(parents=True, exist_ok=True)
        (WORK / "nginx-proxy" / "tmp" / d).mkdir(parents=True, exist_ok=True)
    for old in ("switchgear.log", "mock_delay.log", "nginx-mock/error.log", "nginx-proxy/error.log",
                "nginx-mock/stdout.log", "nginx-proxy/stdout.log"):
        (WORK / old).unlink(missing_ok=True)

    env = Env(free_port(), free_port(), free_port(), free_port())
    (WORK / "chat.json").write_bytes(fixtures.chat_completion())
    (WORK / "stream.sse").write_bytes(fixtures.chat_stream())
    (WORK / "nginx-mock" / "nginx.conf").write_text(nginx_mock_conf(env.mock_port))
    (WORK / "nginx-proxy" / "nginx.conf").write_text(nginx_proxy_conf(env.nginx_port, env.mock_port, env.slow_port))
    (WORK / "switchgear.yaml").write_text(
        "# generated by bench/run.py\n" + yaml.safe_dump(
            {**switchgear_conf(env.sg_port, env.mock_port, env.slow_port, a.group),
             **({"auth": {"keys": []}, **store_identity(WORK, a.identity == "store")}
                if a.identity.startswith("store") else {}),
             **limits_conf(a.limits)},
            sort_keys=False))

    procs = Procs()

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        return bench(a, warm, dur, env, procs, nginx_bin)
    except KeyboardInterrupt:
        print("bench: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()


def start_nginx(procs: Procs, name: str, nginx_bin: str, cpu: str, port: int) -> int:
    d = WORK / f"nginx-{name}"
    argv = [nginx_bin, "-p", str(d), "-e", str(d / "error.log"), "-c", str(d / "nginx.conf"), "-g", "daemon off;"]
    test = subprocess.run(argv[:-2] + ["-t"], capture_output=True, text=True)
    if test.returncode != 0:
        raise SystemExit(f"bench: nginx {name} config is invalid:\n{test.stderr}")
    p = procs.start(f"nginx-{name}", argv, cpu, d / "stdout.log")
    if not wait_port(port, p, 10):
        raise SystemExit(f"bench: nginx {name} did not start:\n{log_tail(d / 'error.log')}")
    return p.pid


def start_switchgear(a: argparse.Namespace, env: Env, procs: Procs) -> None:
    exe = ROOT / ".venv" / "bin" / "switchgear"
    cfg = WORK / "switchgear.yaml"
    chk = subprocess.run([str(exe), "check-config", str(cfg)], capture_output=True, text=True, cwd=ROOT)
    if chk.returncode != 0:
        env.sg_status = f"config rejected by `switchgear check-config`: {(chk.stderr or chk.stdout).strip()}"
        return
    p = procs.start("switchgear", [str(exe), "serve", "--config", str(cfg), "--port", str(env.sg_port)],
                    PROXY_CPU, env.sg_log)
    env.sg_proc = p
    deadline = time.monotonic() + a.switchgear_wait
    while time.monotonic() < deadline:
        if p.poll() is not None:
            env.sg_status = f"exited with code {p.returncode} at start"
            return
        try:
            if get(env.sg_port, "/health") == 200:
                env.sg_status = "up"
                return
        except OSError:
            pass
        time.sleep(0.1)
    env.sg_status = f"no 200 from /health within {a.switchgear_wait:.0f} s"


def sanity(env: Env, ports: dict[str, int], paths: dict[str, dict[str, str]]) -> dict[str, str]:
    """One chat and one stream request per target: catch a broken rig before loading it."""
    bad = {}
    for target, port in ports.items():
        for kind, body, stream in (("chat", fixtures.CHAT_REQUEST, False), ("stream", fixtures.STREAM_REQUEST, True),
                                   ("c512", fixtures.SLOW_REQUEST, False)):
            try:
                status, headers, reply = post(port if kind != "c512" or target != "direct" else env.slow_port,
                                              paths[kind][target], fixtures.request_json(body))
                problem = check_reply(status, headers, reply, stream)
            except OSError as e:
                problem = f"{type(e).__name__}: {e}"
            if problem:
                bad[f"{target}/{kind}"] = problem
    return bad


def bench(a: argparse.Namespace, warm: float, dur: float, env: Env, procs: Procs, nginx_bin: str) -> int:
    started = _dt.datetime.now().astimezone()
    meta = machine_info(nginx_bin)
    print(f"bench: {meta['cpu']} x{meta['nproc']}, commit {meta['commit']}; warm-up {warm:g} s, measured {dur:g} s",
          flush=True)

    # Upstreams on core 1.
    env.mock_pid = start_nginx(procs, "mock", nginx_bin, LOAD_CPU, env.mock_port)
    slow = procs.start("mock_delay", [sys.executable, str(BENCH / "mock_delay.py"), "--port", str(env.slow_port),
                                      "--body", str(WORK / "chat.json"), "--delay", "0.05"],
                       LOAD_CPU, WORK / "mock_delay.log")
    if not wait_port(env.slow_port, slow, 10):
        raise SystemExit(f"bench: mock_delay did not start:\n{log_tail(WORK / 'mock_delay.log')}")
    env.slow_pid = slow.pid
    # Proxies on core 0.
    env.nginx_pid = start_nginx(procs, "proxy", nginx_bin, PROXY_CPU, env.nginx_port)
    if a.no_switchgear:
        env.sg_status = "skipped (--no-switchgear)"
    else:
        start_switchgear(a, env, procs)
    time.sleep(1.0)  # let both settle before reading idle memory
    idle = {"nginx": tree_rss_mb(env.nginx_pid)}
    if env.sg_status == "up":
        idle["switchgear"] = tree_rss_mb(env.sg_proc.pid)
    print(f"bench: idle RSS nginx {idle['nginx']:.1f} MB, switchgear "
          f"{idle.get('switchgear', float('nan')):.1f} MB ({env.sg_status})", flush=True)

    ports = {"direct": env.mock_port, "nginx": env.nginx_port, "switchgear": env.sg_port}
    paths = {
        "chat": {"direct": "/v1/chat/completions", "nginx": "/v1/chat/completions",
                 "switchgear": "/v1/chat/completions"},
        "stream": {"direct": "/stream/v1/chat/completions", "nginx": "/stream/v1/chat/completions",
                   "switchgear": "/v1/chat/completions"},
        "c512": {"direct": "/v1/chat/completions", "nginx": "/slow/v1/chat/completions",
                 "switchgear": "/v1/chat/completions"},
    }
    if env.sg_status != "up":
        del ports["switchgear"]
    bad = sanity(env, ports, paths)
    for where, problem in bad.items():
        print(f"bench: sanity check failed for {where}: {problem}", flush=True)
    sg_bad = {k: v for k, v in bad.items() if k.startswith("switchgear/")}
    other_bad = {k: v for k, v in bad.items() if not k.startswith("switchgear/")}
    if other_bad:
        raise SystemExit("bench: the rig itself is broken (mock or nginx); see above")
    if env.sg_status == "up":
        env.sg_status = "ok" if not sg_bad else "up, but sanity requests failed"

    lua = WORK / "lua"
    scripts = {}
    for name, req in (("chat", fixtures.CHAT_REQUEST), ("stream", fixtures.STREAM_REQUEST),
                      ("c512", fixtures.SLOW_REQUEST)):
        scripts[name] = lua / f"{name}.lua"
        scripts[name].write_text(lua_single(fixtures.request_json(req)))

    scenarios = [
        Scenario("chat", "chat, 64 conns", 64, "chat", paths["chat"]),
        Scenario("stream", "stream (50 events), 64 conns", 64, "stream", paths["stream"]),
        Scenario("conn1", "chat, 1 conn", 1, "chat", paths["chat"]),
        Scenario("c512", "chat, 512 conns, 50 ms upstream", 512, "c512", paths["c512"]),
    ]
    wanted = set(a.scenarios.split(","))
    if wanted - {sc.key for sc in scenarios}:
        raise SystemExit(f"bench: unknown scenario(s) {sorted(wanted - {sc.key for sc in scenarios})}")
    results: dict[str, dict[str, Run]] = {}
    rounds: dict[str, dict[str, list[Run]]] = {}
    sg_failures: list[str] = list(f"{k}: {v}" for k, v in sg_bad.items())
    for sc in scenarios:
        if sc.key not in wanted:
            continue
        results[sc.key] = {}
        rounds[sc.key] = {t: [] for t in TARGETS}
        for rnd in range(a.rounds):
            for target in TARGETS:
                if target == "switchgear" and env.sg_status != "ok":
                    results[sc.key][target] = Run(note=f"not run: switchgear {env.sg_status}")
                    continue
                r = measure(a, env, sc, target, ports, scripts, warm if rnd == 0 else 0, dur, rnd)
                rounds[sc.key][target].append(r)
                results[sc.key][target] = pick_round(rounds[sc.key][target])
                tag = f" (round {rnd + 1})" if a.rounds > 1 else ""
                print(f"  {sc.title:<34} {target:<10} {r.rps:>9,.0f} req/s  p50 {r.p50:6.2f}  p99 {r.p99:7.2f} ms  "
                      f"errors {r.errors}  {r.bytes_per_req:,.0f} B/resp  server {r.cpu_us_per_req:5.1f} µs CPU/req "
                      f"({r.proxy_cores:.2f} cores)  others {r.others_cores:.2f} cores{tag} {r.note}", flush=True)
                if target == "switchgear" and env.sg_proc is not None and env.sg_proc.poll() is not None:
                    msg = f"switchgear died during '{sc.title}' (exit code {env.sg_proc.returncode})"
                    print("bench: " + msg, flush=True)
                    sg_failures.append(msg)
                    env.sg_status = "crashed"
                elif target == "switchgear" and r.errors:
                    sg_failures.append(f"'{sc.title}': {r.non2xx} non-2xx, {r.socket_errors} socket errors, "
                                       f"{r.timeouts} timeouts")

    after = {"nginx": tree_rss_mb(env.nginx_pid)}
    if env.sg_status == "ok":
        after["switchgear"] = tree_rss_mb(env.sg_proc.pid)

    growth = None
    if a.million and env.sg_status == "ok":
        growth = memory_growth(a, env, lua)
        if growth["errors"]:
            sg_failures.append(f"memory-growth run: {growth['errors']} errors")
        if env.sg_proc.poll() is not None:
            sg_failures.append(f"switchgear died during the memory-growth run (exit code {env.sg_proc.returncode})")
            env.sg_status = "crashed"

    finished = _dt.datetime.now().astimezone()
    text = report(meta, started, finished, warm, dur, a, env, idle, after, results, growth, sg_failures, rounds)
    Path(a.results).write_text(text)
    print()
    print(text)
    return 0


def pick_round(runs: list[Run]) -> Run:
    """Noise from other jobs only ever slows a row down: of the undisturbed rounds the fastest,
    else the least disturbed one. The same rule for every target keeps the comparison fair."""
    def key(r: Run) -> tuple:
        disturbed = r.others_cores > DISTURBED_CORES
        return (not r.requests, disturbed, r.others_cores if disturbed else 0.0, -r.rps)

    return min(runs, key=key)


def measure(a: argparse.Namespace, env: Env, sc: Scenario, target: str, ports: dict[str, int],
            scripts: dict[str, Path], warm: float, dur: float, rnd: int) -> Run:
    """One row: optional warm-up, then the measured wrk run with CPU accounting and the proxy's log."""
    port = ports[target] if not (sc.key == "c512" and target == "direct") else env.slow_port
    url = f"http://127.0.0.1:{port}{sc.paths[target]}"
    sg_pid = env.sg_proc.pid if env.sg_proc else 0
    ours = [env.nginx_pid, sg_pid, env.mock_pid, env.slow_pid]
    if a.wait_quiet > 0:
        wait_quiet(a.wait_quiet, ours)
    tag = f"{sc.key}-{target}" + (f"-r{rnd + 1}" if rnd else "")
    if warm > 0:
        wrk(url, scripts[sc.body], sc.conns, warm, f"{tag}-warmup")
    log_from = env.sg_log.stat().st_size if target == "switchgear" and env.sg_log.exists() else 0
    if target == "direct":
        server = env.slow_pid if sc.key == "c512" else env.mock_pid
    else:
        server = env.nginx_pid if target == "nginx" else sg_pid
    with CpuMeter([server], [p for p in set(ours) - {server, 0}]) as cpu:
        r = wrk(url, scripts[sc.body], sc.conns, dur, tag)
    r.proxy_cpu_s, r.proxy_cores, r.others_cores = cpu.proxy, cpu.proxy_cores, cpu.others_cores
    if target == "switchgear":
        time.sleep(1.0)  # what wrk's closing connections make it log comes just after the run
        r.log_lines = new_log_lines(env.sg_log, log_from)
    return r


def memory_growth(a: argparse.Namespace, env: Env, lua: Path) -> dict:
    """RSS after a warm-up of N requests, then after a further ~1M, in wrk runs of 10 s.

    Four chat requests to one stream request, 64 connections; each wrk run reconnects, so
    connection set-up and tear-down are in the mix too.
    """
    script = lua / "mixed.lua"
    bodies = [fixtures.request_json(fixtures.CHAT_REQUEST)] * 4 + [fixtures.request_json(fixtures.STREAM_REQUEST)]
    script.write_text(lua_mixed("/v1/chat/completions", bodies))
    url = f"http://127.0.0.1:{env.sg_port}/v1/chat/completions"
    pid = env.sg_proc.pid
    out: dict = {"samples": [], "errors": 0}

    def drive(total: int, label: str) -> int:
        done, rate = 0, 0.0
        while done < total and env.sg_proc.poll() is None:
            # A short first run measures the rate; the rest are sized so the phase ends near its count.
            secs = 3.0 if not rate else min(10.0, max(1.0, (total - done) / rate))
            r = wrk(url, script, 64, secs, f"million-{label}-{done}")
            if not r.requests:
                out["note"] = r.note or "wrk made no requests"
                break
            done += r.requests
            rate = r.rps
            out["errors"] += r.errors
            out["samples"].append((label, done, rss_kb(pid) / 1024))
            print(f"  memory {label:<7} {done:>9,} requests  RSS {rss_kb(pid) / 1024:6.1f} MB  "
                  f"{r.rps:,.0f} req/s  errors {r.errors}", flush=True)
        return done

    t0 = time.monotonic()
    out["warmup_requests"] = drive(a.million_warmup, "warm-up")
    time.sleep(1.0)
    out["rss_before"] = rss_kb(pid) / 1024
    out["requests"] = drive(a.million_requests, "million")
    time.sleep(1.0)
    out["rss_after"] = rss_kb(pid) / 1024
    out["seconds"] = time.monotonic() - t0
    return out


# ---------------------------------------------------------------------------------------------
# report


def machine_info(nginx_bin: str) -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    git_env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                            env=git_env).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=ROOT,
                           env=git_env).stdout.strip()
    nginx_v = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip()
    wrk_v = wrk_v.removeprefix("wrk ").strip()
    return {
        "cpu": cpu,
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "nginx": nginx_v,
        "wrk": wrk_v,
        "load_start": _loadavg(),
    }


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _ms(v: float) -> str:
    return f"{v:.2f}"


def _warn(r: Run) -> str:
    return " ⚠" if r.others_cores > DISTURBED_CORES else ""


def _disturbed(*runs: Run | None) -> str:
    """A caveat for a target row when a compared run shared the machine with other jobs."""
    worst = max((r.others_cores for r in runs if r is not None), default=0.0)
    return f" ⚠ other jobs used up to {worst:.2f} cores during these rows" if worst > DISTURBED_CORES else ""


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def report(meta, started, finished, warm, dur, a, env, idle, after, results, growth, sg_failures, rounds) -> str:  # type: ignore[no-untyped-def]
    L: list[str] = []
    w = L.append
    w("# Switchgear benchmark results")
    w("")
    w(f"- Date: {started:%Y-%m-%d %H:%M %Z} (took {(finished - started).total_seconds() / 60:.1f} min)")
    w(f"- Machine: `nproc` = {meta['nproc']}, CPU: {meta['cpu']}, kernel {meta['kernel']}")
    w(f"- Commit: `{meta['commit']}`; Python {meta['python']}, nginx {meta['nginx']}, wrk {meta['wrk']}")
    w(f"- Runs: {warm:g} s warm-up + {dur:g} s measured per row"
      + (f", {a.rounds} rounds alternating the targets (reported: the fastest round other jobs did not disturb, "
         "else the least disturbed)" if a.rounds > 1 else "")
      + "; wrk 1 thread on core 1 with the mocks; the proxy under test alone on core 0")
    w(f"- Switchgear: {env.sg_status}")
    w("- Command: `bash bench/run.sh" + "".join(" " + x for x in sys.argv[1:]) + "`")
    w(f"- Load average (1/5/15 min) at start: {meta['load_start']}; at end: {_loadavg()} "
      "(other people's jobs share these 2 cores; a high figure means noisy rows)")
    w("")
    w("Expect ±20 % between runs on this shared 2-core machine; compare ratios from the same run.")
    w("")
    w("## Measurements")
    w("")
    w("| scenario | target | req/s | p50 ms | p90 ms | p99 ms | mean ms | non-2xx | socket errors | timeouts "
      "| bytes/resp | server CPU µs/req (cores) | others' CPU (cores) |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    titles = {"chat": "chat, 64 conns", "stream": "stream (50 events), 64 conns", "conn1": "chat, 1 conn",
              "c512": "chat, 512 conns, 50 ms upstream"}
    for key, per in results.items():
        for target in TARGETS:
            r = per.get(target)
            if r is None:
                continue
            if not r.requests:
                w(f"| {titles[key]} | {target} | — | — | — | — | — | — | — | — | {r.note or 'no data'} | — | — |")
                continue
            w(f"| {titles[key]} | {target} | {r.rps:,.0f} | {_ms(r.p50)} | {_ms(r.p90)} | {_ms(r.p99)} | {_ms(r.mean)} | "
              f"{r.non2xx} | {r.socket_errors} | {r.timeouts} | {r.bytes_per_req:,.0f} | "
              f"{r.cpu_us_per_req:.1f} ({r.proxy_cores:.2f}) | {r.others_cores:.2f}{_warn(r)} |")
    w("")
    w("`direct` is wrk straight at the mock (same core as wrk): a reference, not a target. "
      "bytes/resp includes response headers. Server CPU is the CPU time the server under test "
      "(for `direct`: the mock) used per request, and how many cores it kept busy; others' CPU is "
      "what processes outside the bench used meanwhile (this machine is shared): a row where it is "
      f"high (⚠: over {DISTURBED_CORES} cores) was disturbed. CPU µs/req changes little with such noise, "
      "so it is the steadier comparison of cost.")
    w("")
    w("| memory | nginx (master + worker) | switchgear |")
    w("|---|---:|---:|")
    sg_idle = f"{idle['switchgear']:.1f} MB" if "switchgear" in idle else "—"
    sg_after = f"{after['switchgear']:.1f} MB" if "switchgear" in after else "—"
    w(f"| idle RSS (after start, before load) | {idle['nginx']:.1f} MB | {sg_idle} |")
    w(f"| RSS after the scenarios above | {after['nginx']:.1f} MB | {sg_after} |")
    if growth:
        w(f"| RSS after {growth['warmup_requests']:,}-request warm-up | — | {growth['rss_before']:.1f} MB |")
        w(f"| RSS after a further {growth['requests']:,} requests | — | {growth['rss_after']:.1f} MB |")
    w("")

    # Targets.
    def get(key: str, target: str) -> Run | None:
        r = results.get(key, {}).get(target)
        return r if r is not None and r.requests else None

    rows: list[tuple[str, str, str, bool | None]] = []
    for key, label in (("chat", "non-streaming req/s ≥ 50 % of nginx"), ("stream", "streaming req/s ≥ 50 % of nginx")):
        n, s = get(key, "nginx"), get(key, "switchgear")
        if key not in results:
            continue
        if n and s:
            ratio = s.rps / n.rps
            ok = ratio >= RPS_SHARE and s.errors == 0
            meas = f"{s.rps:,.0f} vs {n.rps:,.0f} req/s = **{ratio:.0%}**" + (f", {s.errors} errors" if s.errors else "")
            if s.cpu_us_per_req:
                meas += (f" (CPU per request {s.cpu_us_per_req:.0f} vs {n.cpu_us_per_req:.0f} µs: "
                         f"{n.cpu_us_per_req / s.cpu_us_per_req:.0%})")
            meas += _disturbed(n, s)
            rows.append((label, meas, f"≥ {RPS_SHARE:.0%}", ok))
        else:
            rows.append((label, "not measured", f"≥ {RPS_SHARE:.0%}", None if a.no_switchgear else False))
    if "conn1" in results:
        d, n, s = get("conn1", "direct"), get("conn1", "nginx"), get("conn1", "switchgear")
        label = "added p50 at 1 conn ≤ nginx's + 0.5 ms"
        if d and n and s:
            an, as_ = n.p50 - d.p50, s.p50 - d.p50
            ok = as_ <= an + ADDED_P50_SLACK_MS and s.errors == 0
            rows.append((label, f"switchgear +{as_:.2f} ms, nginx +{an:.2f} ms (direct p50 {d.p50:.2f} ms) → "
                                f"**{as_ - an:+.2f} ms**{_disturbed(d, n, s)}", f"≤ +{ADDED_P50_SLACK_MS} ms", ok))
        else:
            rows.append((label, "not measured", f"≤ +{ADDED_P50_SLACK_MS} ms", None if a.no_switchgear else False))
    if "c512" in results:
        n, s = get("c512", "nginx"), get("c512", "switchgear")
        label = "512 conns, 50 ms upstream: no errors, p99 ≤ 1.5 × nginx's"
        if n and s:
            ok = s.errors == 0 and s.p99 <= P99_FACTOR_512 * n.p99
            rows.append((label, f"p99 {s.p99:.1f} vs {n.p99:.1f} ms = **{s.p99 / n.p99:.2f}×**, errors {s.errors}; "
                                f"{s.rps:,.0f} vs {n.rps:,.0f} req/s{_disturbed(n, s)}", f"0 errors, ≤ {P99_FACTOR_512}×", ok))
        else:
            rows.append((label, "not measured", f"0 errors, ≤ {P99_FACTOR_512}×", None if a.no_switchgear else False))
    if "switchgear" in idle:
        rows.append(("idle RSS ≤ 80 MB", f"**{idle['switchgear']:.1f} MB** (nginx {idle['nginx']:.1f} MB)",
                     f"≤ {IDLE_RSS_MB:.0f} MB", idle["switchgear"] <= IDLE_RSS_MB))
    else:
        rows.append(("idle RSS ≤ 80 MB", "not measured", f"≤ {IDLE_RSS_MB:.0f} MB",
                     None if a.no_switchgear else False))
    label = "no memory growth over a million requests"
    if growth and "rss_after" in growth:
        delta = growth["rss_after"] - growth["rss_before"]
        per_req = delta * 1024 * 1024 / growth["requests"] if growth["requests"] else 0.0
        ok = delta < GROWTH_LIMIT_MB and growth["errors"] == 0 and growth["requests"] >= 0.9 * a.million_requests
        rows.append((label, f"{growth['rss_before']:.1f} → {growth['rss_after']:.1f} MB = **{delta:+.1f} MB** "
                            f"({per_req:+.1f} B/request) over {growth['requests']:,} requests, "
                            f"{growth['errors']} errors", f"< {GROWTH_LIMIT_MB:g} MB", ok))
    elif a.million:
        rows.append((label, "not measured", f"< {GROWTH_LIMIT_MB:g} MB", None if a.no_switchgear else False))
    else:
        rows.append((label, "not run (add --million)", f"< {GROWTH_LIMIT_MB:g} MB", None))

    w("## Targets")
    w("")
    w("| target | measured (switchgear vs nginx) | goal | verdict |")
    w("|---|---|---|---|")
    for label, meas, goal, ok in rows:
        w(f"| {label} | {meas} | {goal} | {_verdict(ok)} |")
    w("")
    w("A row with errors is a MISS whatever its speed.")
    if growth and growth["samples"]:
        w("")
        w("<details><summary>Switchgear RSS during the memory-growth run</summary>")
        w("")
        w("| phase | requests in phase | RSS MB |")
        w("|---|---:|---:|")
        for label, n, mb in growth["samples"]:
            w(f"| {label} | {n:,} | {mb:.1f} |")
        w("")
        w("</details>")
    if a.rounds > 1:
        w("")
        w("<details><summary>Every round</summary>")
        w("")
        w("| scenario | target | round | req/s | p50 ms | p99 ms | errors | server CPU µs/req | others' CPU (cores) |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for key, per in rounds.items():
            for target in TARGETS:
                for i, r in enumerate(per[target]):
                    chosen = " ✓" if r is results[key].get(target) else ""
                    w(f"| {titles[key]} | {target} | {i + 1}{chosen} | {r.rps:,.0f} | {_ms(r.p50)} | {_ms(r.p99)} | "
                      f"{r.errors} | {r.cpu_us_per_req:.1f} | {r.others_cores:.2f} |")
        w("")
        w("</details>")
    logged = [(titles[k], [line for r in per["switchgear"] for line in r.log_lines])
              for k, per in rounds.items() if any(r.log_lines for r in per["switchgear"])]
    if logged:
        w("")
        w("## What Switchgear logged during the measured runs")
        w("")
        w(f"Full log: `{env.sg_log.relative_to(ROOT)}`. wrk cuts the requests in flight when a run ends "
          "(up to one per connection), so a few disconnect messages per run are expected.")
        w("")
        for title, lines in logged:
            w(f"- {title}: {len(lines)} lines" + (f" over {a.rounds} measured runs" if a.rounds > 1 else ""))
            for line in summarize_lines(lines):
                w(f"    - `{line}`")
    if sg_failures or env.sg_status not in ("ok", "skipped (--no-switchgear)"):
        w("")
        w("## Switchgear problems")
        w("")
        for f in sg_failures:
            w(f"- {f}")
        if env.sg_status not in ("ok",):
            w(f"- status: {env.sg_status}")
        w("")
        w(f"Last lines of `{env.sg_log.relative_to(ROOT)}`:")
        w("")
        w("```")
        w(log_tail(env.sg_log, 30))
        w("```")
    w("")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
