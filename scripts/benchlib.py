"""Shared by the benchmark scripts: a VT100 screen just big enough to read what the console draws,
the console in a pseudo-terminal with every byte counted, the simulated estate in its own process
(`shipdeck demo --serve`), and /proc readings. Needs Linux and python3 only."""
import codecs, fcntl, json, os, pty, select, signal, struct, subprocess, sys, tempfile, termios
import time, unicodedata, urllib.request

SYNC_BEGIN = b"\x1b[?2026h"
CLEAR = b"\x1b[2J"


class Screen:
    """Just enough of a VT100 to read what ratatui/crossterm draw: cursor moves, text, erase."""

    def __init__(self, rows, cols):
        self.rows, self.cols = rows, cols
        self.grid = [[" "] * cols for _ in range(rows)]
        self.r = self.c = 0
        self.dec = codecs.getincrementaldecoder("utf-8")("replace")
        self.state, self.buf = "text", ""

    def feed(self, data):
        for ch in self.dec.decode(data):
            self._ch(ch)

    def _put(self, ch):
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if unicodedata.combining(ch):
            return
        if self.c + w > self.cols:
            self.c = self.cols - w
        if 0 <= self.r < self.rows and self.c >= 0:
            self.grid[self.r][self.c] = ch
            if w == 2 and self.c + 1 < self.cols:
                self.grid[self.r][self.c + 1] = ""
        self.c = min(self.c + w, self.cols)

    def _ch(self, ch):
        if self.state == "text":
            if ch == "\x1b":
                self.state, self.buf = "esc", ""
            elif ch == "\r":
                self.c = 0
            elif ch == "\n":
                self.r = min(self.r + 1, self.rows - 1)
            elif ch == "\b":
                self.c = max(self.c - 1, 0)
            elif ch >= " ":
                self._put(ch)
        elif self.state == "esc":
            if ch == "[":
                self.state = "csi"
            elif ch == "]":
                self.state = "osc"
            elif ch in "()":
                self.state = "charset"
            else:
                self.state = "text"
        elif self.state == "charset":
            self.state = "text"
        elif self.state == "osc":
            if ch == "\x07" or (ch == "\\" and self.buf.endswith("\x1b")):
                self.state = "text"
            self.buf += ch
        elif self.state == "csi":
            if "@" <= ch <= "~":
                self._csi(self.buf, ch)
                self.state = "text"
            else:
                self.buf += ch

    def _csi(self, params, final):
        if params.startswith("?"):
            return
        nums = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []
        n = lambda i, d=1: (nums[i] or d) if i < len(nums) else d
        if final in "Hf":
            self.r, self.c = min(n(0) - 1, self.rows - 1), min(n(1) - 1, self.cols - 1)
        elif final == "A":
            self.r = max(self.r - n(0), 0)
        elif final == "B":
            self.r = min(self.r + n(0), self.rows - 1)
        elif final == "C":
            self.c = min(self.c + n(0), self.cols - 1)
        elif final == "D":
            self.c = max(self.c - n(0), 0)
        elif final == "G":
            self.c = min(n(0) - 1, self.cols - 1)
        elif final == "d":
            self.r = min(n(0) - 1, self.rows - 1)
        elif final == "J":
            mode = nums[0] if nums else 0
            rows = range(self.rows) if mode in (2, 3) else (
                range(self.r + 1, self.rows) if mode == 0 else range(0, self.r))
            for r in rows:
                self.grid[r] = [" "] * self.cols
            if mode == 0:
                self.grid[self.r][self.c:] = [" "] * (self.cols - self.c)
        elif final == "K":
            mode = nums[0] if nums else 0
            row = self.grid[self.r]
            if mode == 0:
                row[self.c:] = [" "] * (self.cols - self.c)
            elif mode == 1:
                row[: self.c + 1] = [" "] * (self.c + 1)
            else:
                self.grid[self.r] = [" "] * self.cols
        elif final == "X":
            for i in range(self.c, min(self.c + n(0), self.cols)):
                self.grid[self.r][i] = " "

    def text(self):
        return "\n".join("".join(row) for row in self.grid)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mem_kb(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM", "VmRSS", "RssAnon", "RssFile")):
                    k, v = line.split(":")
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def http(method, url, body=None, ctype=None):
    req = urllib.request.Request(url, method=method, data=body)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=30) as r:
        data = r.read()
    return json.loads(data) if data else None


class Server:
    """`shipdeck demo --serve` in its own process (`scale` None: the default estate)."""

    def __init__(self, binary, scale, paused, seed):
        self.dir = tempfile.mkdtemp(prefix="shipdeck-bench-")
        cmd = [binary, "demo", "--serve", "--write-config", self.dir, "--seed", str(seed)]
        if scale is not None:
            cmd += ["--scale", str(scale)]
        if paused:
            cmd.append("--paused")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = None
        for line in self.proc.stdout:
            if line.startswith("kubernetes API:"):
                self.url = line.split(":", 1)[1].strip()
            if line.startswith("running"):
                break
        if not self.url:
            sys.exit(f"`{' '.join(cmd)}` did not start")
        self.seed_s = time.monotonic() - t0
        self.config = os.path.join(self.dir, "config.toml")

    def counts(self):
        return http("GET", f"{self.url}/debug/requests")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Console:
    """The console in a pty; every byte it writes goes through `Screen` and is counted."""

    def __init__(self, binary, config, cols, rows, stats, args=None):
        """`args` replaces `--config CONFIG` (e.g. `["demo", "--paused"]`)."""
        self.stats_path, self.rows, self.cols = stats, rows, cols
        args = args if args is not None else ["--config", config]
        env = dict(os.environ, TERM="xterm-256color", SHIPDECK_STATS=stats)
        env.pop("NO_COLOR", None)
        self.t0 = time.monotonic()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.execvpe(binary, [binary, *args], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.screen = Screen(rows, cols)
        self.total = 0
        self.frames = 0
        self.clears = 0
        self.tail = b""
        self.frame_times = []
        self.peak_kb = 0
        self.capture = None  # a list while `frames_of` records raw output

    def pump(self, timeout):
        """Reads what is there within `timeout`; returns the byte count."""
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not r:
            return 0
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError:
            return 0
        now = time.monotonic()
        both = self.tail + data
        new_frames = both.count(SYNC_BEGIN) - self.tail.count(SYNC_BEGIN)
        self.frames += new_frames
        self.frame_times += [now] * new_frames
        self.clears += both.count(CLEAR) - self.tail.count(CLEAR)
        self.tail = data[-8:]
        self.total += len(data)
        if self.capture is not None:
            self.capture.append(data)
        self.screen.feed(data)
        return len(data)

    def run_for(self, seconds):
        n, end = 0, time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            n += self.pump(left)
        return n

    def quiet(self, quiet_s, limit_s):
        """Reads until nothing arrives for `quiet_s` (or `limit_s` passed); returns bytes read."""
        n, end = 0, time.monotonic() + limit_s
        while time.monotonic() < end:
            got = self.pump(quiet_s)
            if not got:
                break
            n += got
        return n

    def frames_of(self, k, quiet_s=0.4, limit_s=5):
        """Sends `k` and reads until quiet: the byte size of each frame written, in order."""
        self.capture = []
        self.key(k)
        self.quiet(quiet_s, limit_s)
        data, self.capture = b"".join(self.capture), None
        return [len(SYNC_BEGIN) + len(f) for f in data.split(SYNC_BEGIN)[1:]]

    def key(self, k):
        os.write(self.fd, k.encode() if isinstance(k, str) else k)

    def wait_text(self, text, limit_s, poke=None, every=0.1):
        end, next_poke = time.monotonic() + limit_s, 0.0
        while time.monotonic() < end:
            if text in self.screen.text():
                return time.monotonic() - self.t0
            if poke and self.total and time.monotonic() >= next_poke:
                self.key(poke)
                next_poke = time.monotonic() + every
            self.pump(0.02)
            self.peak_kb = max(self.peak_kb, mem_kb(self.pid).get("VmRSS", 0))
        return None

    def quit(self):
        # Leave any text field or view first (a key plan may end mid-filter), then quit.
        self.key("\x1b")
        self.quiet(0.1, 2)
        self.key("\x1b")
        self.quiet(0.1, 2)
        self.key("q")
        end = time.monotonic() + 20
        while time.monotonic() < end:
            self.pump(0.05)
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        try:
            with open(self.stats_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]
