#!/usr/bin/env python3
"""scale.py - bench/scale: `autocert serve` over N local sets (DESIGN.md §7).

    bench/scale.py BUILD_DIR [N ...]        (default N: 1000 10000 100000)

For each N: writes N sets with bench/scale_gen.py (EC P-256, GoDoxy's `extra:`
form; kept in $SCALE_DIR, default /tmp/autocert-scale, and reused), then
starts BUILD_DIR/admin/autocert serve on loopback and prints one row:

  start_s       spawn -> first handshake that returns the right certificate for
                a random set (SNI site<i>.example<i%100>.com)
  start_cpu_s   CPU time (user + sys) the daemon used until then
  settle_s      first handshake -> the daemon quiet (under 2 % of a core over
                0.5 s): the work after serving starts (above 1,000 sets the
                private keys' own check, the file watches and their stamps)
  kib_per_cert  (VmRSS after loading - VmRSS of the same daemon over 1 set) / N
  watch_s       one set's files rewritten -> its new certificate served (inotify)
  reload_s      SIGHUP -> "configuration reloaded" (the file re-read and applied,
                every set's files stat'ed, changed ones re-read)
  lookup_ns     autocert_manager_lookup per call (bench/scale_lookup, in process)
  status_ms     GET /api/v1/cert/status?name=extra[i] (median of 21)
  idle_cpu_pct  CPU used by the idle daemon over 10 s

Build BUILD_DIR with -DCMAKE_BUILD_TYPE=Release (or RelWithDebInfo) and
-DAUTOCERT_BENCH=ON. Figures are wall-clock on whatever else the machine runs.
"""
import os
import random
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request

from cryptography import x509
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def host_of(i):
    return "site%d.example%d.com" % (i, i % 100)


def peer_cert(port, sni, timeout=2.0):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            return x509.load_der_x509_certificate(t.getpeercert(binary_form=True))


def cn_of(c):
    return c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid, window=0.5, quiet=0.02, limit_s=120):
    """The moment (time.monotonic) pid's CPU use over `window` seconds fell
    under `quiet` of a core: the end of that window."""
    end = time.monotonic() + limit_s
    c0, w0 = cpu_s(pid), time.monotonic()
    while time.monotonic() < end:
        time.sleep(window)
        c1, w1 = cpu_s(pid), time.monotonic()
        if (c1 - c0) < quiet * (w1 - w0):
            return w0
        c0, w0 = c1, w1
    return w0


def gen(n, d):
    if os.path.exists(os.path.join(d, "autocert.yml")):
        return
    subprocess.run([sys.executable, os.path.join(HERE, "scale_gen.py"), d, str(n)], check=True)


def write_config(d, name, n, tls, admin):
    """A copy of DIR/autocert.yml over the first n sets, with listeners."""
    src = open(os.path.join(d, "autocert.yml")).read().split("\n")
    out, sets = [], 0
    for line in src:
        if line.startswith("    - provider: local"):
            sets += 1
            if sets >= n:
                break
        if line.strip() == "":
            continue
        out.append(line)
    if out and out[-1].strip() == "extra:":
        out.pop()
    out += ["serve:", "  listen: 127.0.0.1:%d" % tls, "admin:", "  listen: 127.0.0.1:%d" % admin]
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


def start(binary, cfg, d, log):
    return subprocess.Popen([binary, "serve", "-c", cfg], cwd=d, stdout=log, stderr=log)


def wait_handshake(port, i, deadline_s=600, want_serial=None):
    sni = host_of(i)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            c = peer_cert(port, sni)
            if cn_of(c) == sni and (want_serial is None or c.serial_number == want_serial):
                return True
        except (OSError, ssl.SSLError):
            pass
        time.sleep(0.002)
    return False


def wait_http(url, deadline_s=600):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return True
        except OSError:
            time.sleep(0.01)
    return False


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def baseline(binary, d):
    tls, admin = free_port(), free_port()
    cfg = write_config(d, "one.yml", 1, tls, admin)
    with open(os.path.join(d, "one.log"), "w") as log:
        p = start(binary, cfg, d, log)
        try:
            wait_handshake(tls, 0)
            wait_http("http://127.0.0.1:%d/healthz" % admin)
            time.sleep(0.5)
            return rss_kib(p.pid)
        finally:
            stop(p)


def one(build, n, root):
    binary = os.path.join(build, "admin", "autocert")
    d = os.path.join(root, "n%d" % n)
    gen(n, d)
    base = baseline(binary, d)
    tls, admin = free_port(), free_port()
    cfg = write_config(d, "bench.yml", n, tls, admin)
    rng = random.Random(n)
    r = rng.randrange(n)
    row = {"n": n}
    with open(os.path.join(d, "serve.log"), "w") as log:
        t0 = time.monotonic()
        p = start(binary, cfg, d, log)
        try:
            if not wait_handshake(tls, r):
                raise SystemExit("scale: no correct handshake for set %d" % r)
            row["start_s"] = time.monotonic() - t0
            row["start_cpu_s"] = cpu_s(p.pid)
            wait_http("http://127.0.0.1:%d/healthz" % admin)
            row["settle_s"] = settle(p.pid) - t0 - row["start_s"]
            row["kib_per_cert"] = (rss_kib(p.pid) - base) / n
            # idle CPU
            c0, w0 = cpu_s(p.pid), time.monotonic()
            time.sleep(10)
            row["idle_cpu_pct"] = 100.0 * (cpu_s(p.pid) - c0) / (time.monotonic() - w0)
            # one set's status over the API
            k = rng.randrange(1, n) if n > 1 else 0
            name = "extra%%5B%d%%5D" % k if k > 0 else "main"
            url = "http://127.0.0.1:%d/api/v1/cert/status?name=%s" % (admin, name)
            times = []
            for _ in range(21):
                t = time.monotonic()
                urllib.request.urlopen(url, timeout=30).read()
                times.append(time.monotonic() - t)
            row["status_ms"] = 1000 * statistics.median(times)
            # reload with one set changed
            j = rng.randrange(n)
            subprocess.run([sys.executable, os.path.join(HERE, "scale_gen.py"), d, str(n),
                            "--only", str(j)], check=True)
            crt = os.path.join(d, "certs/%d/s%d.crt" % (j // 1000, j))
            want = x509.load_pem_x509_certificate(open(crt, "rb").read()).serial_number
            # the watch on local files serves it without a reload ...
            t = time.monotonic()
            if not wait_handshake(tls, j, want_serial=want):
                raise SystemExit("scale: the watch did not serve set %d's new certificate" % j)
            row["watch_s"] = time.monotonic() - t
            # ... and a SIGHUP reload (configuration re-read, one stat pass)
            # ends with "configuration reloaded"
            logp = os.path.join(d, "serve.log")
            before = open(logp).read().count("configuration reloaded")
            t = time.monotonic()
            p.send_signal(signal.SIGHUP)
            while open(logp).read().count("configuration reloaded") == before:
                time.sleep(0.005)
            row["reload_s"] = time.monotonic() - t
        finally:
            stop(p)
    lk = subprocess.run([os.path.join(build, "bench", "scale_lookup"), cfg, "1000000"], cwd=d,
                        capture_output=True, text=True)
    row["lookup_ns"] = float(lk.stdout.split()[-1]) if lk.returncode == 0 else float("nan")
    return row


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    build = os.path.abspath(sys.argv[1])
    ns = [int(a) for a in sys.argv[2:]] or [1000, 10000, 100000]
    root = os.environ.get("SCALE_DIR", "/tmp/autocert-scale")
    os.makedirs(root, exist_ok=True)
    print("%8s %9s %11s %9s %13s %8s %9s %10s %10s %13s" % (
        "sets", "start_s", "start_cpu_s", "settle_s", "kib_per_cert", "watch_s", "reload_s",
        "lookup_ns", "status_ms", "idle_cpu_pct"))
    for n in ns:
        r = one(build, n, root)
        print("%8d %9.3f %11.3f %9.3f %13.2f %8.3f %9.3f %10.1f %10.2f %13.2f" % (
            r["n"], r["start_s"], r["start_cpu_s"], r["settle_s"], r["kib_per_cert"],
            r["watch_s"], r["reload_s"], r["lookup_ns"], r["status_ms"], r["idle_cpu_pct"]),
            flush=True)


if __name__ == "__main__":
    main()
