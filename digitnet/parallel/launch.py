"""`--workers N`: run this same command again as N MPI processes on this machine, and look after them.

The command line is started under `mpiexec -n N` (the one the `mpich` wheel puts next to this Python, or the
system's), in a session of its own. While it runs this process
  - passes its output through, without the MPI launcher's own banners;
  - forwards Ctrl-C, SIGTERM and SIGHUP to every worker, which then agree to stop after the same step
    (see comm.py), but not a signal it was started ignoring (nohup's SIGHUP: stop_signals.heeded);
  - reports the first worker that failed on its own (comm.fail_alone: its line, naming it, from the worker
    folder), as WorkerFailed;
  - watches the workers: one that vanishes without exiting through Python (kill -9, out of memory, a crash)
    ends the job within seconds, reported as WorkerLost, and no process of the job is left behind.
The workers import the digitnet this process runs (worker_command), not whatever the current folder holds,
and a small reaper process ends the job and removes its folder should this process be killed outright.
"""
import contextlib
import importlib.util
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..stop_signals import heeded
from .comm import FAILURE_FILE, INSTALL_HINT, WORKER_DIR_VAR, ParallelError, alive
from .job_output import Output, pass_through, pump

TERMINAL_VAR = "DIGITNET_TERMINAL"  # set for the workers when the launcher's stderr is a terminal

POLL_S = 0.02  # a worker is watched for its end (Watcher.note_deaths) from the first poll that finds its pid file
PF_EXITING = 0x4  # the flags of /proc/<pid>/stat: the process has begun to exit


class WorkerLost(ParallelError):
    """A worker process vanished without exiting through Python; the job was stopped."""

    def __init__(self, rank, pid, how, others=()):
        if rank is None:  # before it had said which it was (its pid file)
            message = f"a worker ended while starting, before it had joined the job ({how}); the job was stopped"
        elif others:  # several ended outside Python at once: which one took the others down is not known
            names = " and ".join(f"{r} (pid {p})" for r, p in [(rank, pid), *others])
            message = (f"workers {names} ended outside Python at once ({how}): one was lost and the others "
                       "ended with it; the job was stopped")
        else:
            message = f"worker {rank} (pid {pid}) was lost ({how}); the job was stopped"
        super().__init__(message)
        self.rank, self.pid, self.how, self.others = rank, pid, how, list(others)


class WorkerFailed(ParallelError):
    """A worker ended by an error of its own (or an interrupt), and the job with it: its one line."""

    def __init__(self, line, exit_code):
        super().__init__(line)
        self.exit_code = exit_code


def usable_cores():
    """The cores this process may run on (its affinity mask; a container's or taskset's limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_workers(value):
    """--workers: a positive count, or 'auto' for every usable core."""
    if str(value).lower() == "auto":
        return usable_cores()
    try:
        n = int(value)
    except ValueError:
        raise ParallelError(f"--workers takes a number or 'auto', not {value!r}") from None
    if n < 1:
        raise ParallelError(f"--workers must be at least 1, not {n}")
    return n


def mpi4py_installed():
    return importlib.util.find_spec("mpi4py") is not None


def find_mpiexec():
    """The mpiexec of the installed `mpich` wheel (beside this Python), else the system's mpiexec or mpirun.
    Raises ParallelError with the one thing to install when mpi4py or an MPI launcher is missing."""
    if not mpi4py_installed():
        raise ParallelError(f"--workers needs MPI for Python, which is not installed: {INSTALL_HINT}")
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if found is None:
        raise ParallelError(f"--workers needs an MPI launcher (mpiexec), and none was found: {INSTALL_HINT}")
    return found


def worker_command(n, args, mpiexec):
    """mpiexec running `digitnet ARGS` n times with this Python, importing the digitnet this process runs:
    `python -m digitnet` would put the current folder first on the path, and another clone's digitnet/ (or a
    digitnet.py) there would be the one run."""
    # MPICH's hydra kills the other workers the moment one ends badly, in the same instant: which one ended
    # first is then lost. Without its clean-up, the Watcher sees the first one gone, names it, and ends the job.
    cleanup = ["-disable-auto-cleanup"] if is_hydra(mpiexec) else []
    return [mpiexec, *cleanup, "-n", str(n), *this_digitnet(WORKER_MAIN), *args]


# A worker joins MPI first (world(): its pid file for the Watcher), so that an error before the command reaches
# its own world() (a checkpoint that cannot be read on --resume) is one line that ends the job (fail_alone):
# before, the Watcher, which starts once every pid file is there, waited for good. A Ctrl-C while it imports
# ends it with 130 and no traceback.
WORKER_MAIN = """
try:
    from digitnet.parallel.comm import world
    world()
    from digitnet.cli import main
except KeyboardInterrupt:
    sys.exit(130)
main(sys.argv[1:], prog_name='digitnet')
"""


def this_digitnet(code):
    """[python, -c, code] where code imports the digitnet this process runs, whatever the current folder."""
    root = str(Path(__file__).resolve().parents[2])  # the folder that holds this digitnet package
    return [sys.executable, "-c", f"import sys; sys.path[:1 if sys.path[:1] == [''] else 0] = [{root!r}]\n{code}"]


def start_reaper(job, folder, leftovers=()):
    """A process of its own that, should this one be killed outright (kill -9), ends the job and removes the
    worker folder and the files the workers were writing (leftovers): the job runs in a session of its own,
    so nothing else would."""
    code = (f"from digitnet.parallel.launch import reap; "
            f"reap({os.getpid()}, {str(folder)!r}, {job.pid}, {[tuple(map(str, x)) for x in leftovers]!r})")
    return subprocess.Popen(this_digitnet(code), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def reap(launcher, folder, job, leftovers=(), every_s=0.5):
    """The reaper's work: wait for the launcher to go; if it left its worker folder, end the job's processes
    (mpiexec's process group, then every worker by its pid file), remove the folder, and once the workers are
    gone, the temporary files they were writing: leftovers, [(folder, glob pattern)]."""
    while alive(launcher):
        time.sleep(every_s)
    folder = Path(folder)
    if not folder.is_dir():
        return  # the launcher ended normally and cleaned up
    workers = [int(p.read_text()) for p in folder.glob("rank*.pid") if p.read_text().isdigit()]
    for pid in [job, *workers]:
        try:
            os.killpg(pid, signal.SIGKILL) if pid == job else os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    shutil.rmtree(folder, ignore_errors=True)
    gone_by = time.monotonic() + 10  # SIGKILL cannot be caught: they go, and write nothing after (a pid file
    while any(alive(pid) for pid in workers) and time.monotonic() < gone_by:  # naming a pid reused: no hang)
        time.sleep(0.05)
    for where, pattern in leftovers:
        for tmp in Path(where).glob(pattern):
            tmp.unlink(missing_ok=True)


def is_hydra(mpiexec):
    """True for MPICH's (and Intel MPI's) mpiexec, hydra."""
    try:
        found = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return "HYDRA" in found.stdout


def run_workers(n, args, *, environ=None, leftovers=()):
    """Run `digitnet ARGS` as n MPI processes; returns mpiexec's exit status.

    args: the command line after `digitnet` (what the running command was invoked with); leftovers: [(folder,
    glob pattern)] of the temporary files the workers write, removed should this process be killed outright
    (start_reaper). Raises WorkerLost
    when a worker was killed, WorkerFailed when one ended by an error of its own."""
    mpiexec = find_mpiexec()
    with tempfile.TemporaryDirectory(prefix="digitnet-workers-") as folder:
        env = dict(os.environ if environ is None else environ, PYTHONUNBUFFERED="1", **{WORKER_DIR_VAR: folder})
        if sys.stderr.isatty():  # the workers' output is a pipe, but it ends on a terminal: show the progress bar
            env[TERMINAL_VAR] = "1"
        job = subprocess.Popen(worker_command(n, args, mpiexec), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)  # signals are ours to forward
        reaper = start_reaper(job, folder, leftovers)
        watcher = Watcher(job, Path(folder), n)
        stdout, stderr = Output(sys.stdout), Output(sys.stderr)
        pumps = [threading.Thread(target=pump, args=(job.stdout, stdout, watcher), daemon=True),
                 threading.Thread(target=pass_through, args=(job.stderr, stderr), daemon=True)]
        for thread in pumps:
            thread.start()
        previous = {signum: signal.signal(signum, lambda signum, frame: watcher.forward(signum))
                    for signum in heeded()}  # not one this process was started ignoring (nohup's SIGHUP)
        try:
            status = watcher.watch()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            watcher.stop_job()
            for thread in pumps:
                thread.join(timeout=5)
            failure, lost = watcher.failure(), watcher.verdict()
            watcher.kill_workers()  # normally none is left; after a loss, whatever mpiexec left behind
            reaper.kill()
            reaper.wait()
        if watcher.cut_short or (watcher.interrupted and failure is None and lost is not None):
            print("interrupted", file=sys.stderr)  # a worker ended by the interrupt as it started is no loss
            return 130
        if failure is not None:
            raise WorkerFailed(*failure)
        if lost is not None:
            raise WorkerLost(*lost)
        if status and len(watcher.pids) < n and not watcher.interrupted:  # ended before leaving its pid file
            raise WorkerLost(None, None, f"mpiexec's exit status {status}")
        if stdout.gone or stderr.gone:  # the reader left (`| head`): quietly, as a process SIGPIPE ended
            os.dup2(os.open(os.devnull, os.O_WRONLY), (sys.stdout if stdout.gone else sys.stderr).fileno())
            return status or 128 + signal.SIGPIPE
        return status


class Watcher:
    """Knows the workers by the pid files they leave (parallel.leave_pid_for_launcher): rank<r>.pid when
    it starts, rank<r>.exit when it exits through Python, whatever the status."""

    def __init__(self, job, folder, n):
        self.job, self.folder, self.n = job, folder, n
        self.pids = {}  # rank -> pid
        self.ended = {}  # rank -> in which wake of the watching thread its process was seen ended (0: first)
        self.seen_an_end = threading.Event()
        self.watching = False
        self.first_gone = []  # the ranks seen vanished first, while mpiexec still ran
        self.reported_pid = self.reported_code = None
        self.held = []  # signals that came before every worker had joined MPI, for them once they have
        self.cut_short = False  # a second signal came before they had: the job was ended outright
        self.interrupted = False  # a signal came for the workers (forward): what ends them then is that

    def read_pids(self):
        for rank in range(self.n):
            if rank not in self.pids:
                try:
                    self.pids[rank] = int((self.folder / f"rank{rank}.pid").read_text())
                except (OSError, ValueError):
                    continue
        if len(self.pids) == self.n and not self.watching:
            self.watching = True
            self.note_deaths()

    def note_deaths(self):
        """One thread in one select() over every worker's pidfd, which becomes readable when the process ends.
        The kernel fills in which ones are readable as it wakes the thread, before the thread waits for
        Python's lock: so when hydra kills the others the moment one is killed, the first wake holds only the
        one that was lost (threads of their own, one a worker, recorded the order in which they got the lock,
        and the launcher named the wrong worker about half the time)."""
        fds = {}
        for rank, pid in self.pids.items():
            try:
                fds[os.pidfd_open(pid)] = rank
            except (AttributeError, OSError):  # not Linux 5.3+, or already gone
                continue

        def wait():
            wake = 0
            try:
                while fds:
                    ready, _, _ = select.select(list(fds), [], [])
                    for fd in ready:
                        self.ended.setdefault(fds.pop(fd), wake)
                        os.close(fd)
                    wake += 1
                    self.seen_an_end.set()
            finally:
                for fd in fds:
                    os.close(fd)
        threading.Thread(target=wait, daemon=True).start()

    def vanished(self, rank):
        """True when rank's process is gone, or going, without having exited through Python (kill -9, a crash)."""
        return ending(self.pids[rank]) and not (self.folder / f"rank{rank}.exit").exists()

    def watch(self):
        """Wait for mpiexec; when a worker vanishes or one failed alone, end the job at once."""
        while True:
            try:
                return self.job.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                pass
            self.read_pids()
            self.pass_held_signals()
            if not self.first_gone:
                self.first_gone = [rank for rank in self.pids if self.vanished(rank)]
            if self.first_gone or (self.folder / FAILURE_FILE).exists():
                self.stop_job()  # the others would wait for the one gone forever
                return self.job.wait()

    def failure(self):
        """(line, exit status) of the first worker that failed on its own (comm.fail_alone), or None."""
        try:
            status, line = (self.folder / FAILURE_FILE).read_text().split("\n", 1)
            return line, int(status)
        except (OSError, ValueError):
            return None

    def verdict(self):
        """(rank, pid, how, others) of the worker that was lost, or None; others: [(rank, pid)] of the workers
        that vanished as well, when which was first is not known. When the MPI launcher names the first
        worker that ended badly, that one decides: if it exited through Python (an error it reported
        itself), the others it took down are no loss."""
        self.read_pids()
        if self.watching and any(self.vanished(rank) for rank in self.pids):
            self.seen_an_end.wait(timeout=2.0)  # mpiexec may end before the watching thread has had the lock
        by_pid = {pid: rank for rank, pid in self.pids.items()}
        if self.reported_pid in by_pid:  # hydra names the first one killed by a signal
            candidates = [by_pid[self.reported_pid]]
        else:  # the first to end; hydra kills the others at once after a signal, and may not say whom
            candidates = sorted(self.first_gone or self.pids, key=lambda r: self.ended.get(r, float("inf")))
        lost = [rank for rank in candidates if self.vanished(rank)]
        if not lost:
            return None
        how = "it ended outside Python: killed, out of memory, or a crash"
        if self.reported_code is not None and 0 < self.reported_code < signal.NSIG:
            how = f"killed by {signal.Signals(self.reported_code).name}"
        # Neither the order in which the kernel reports the ends nor what /proc shows at a poll says which worker
        # went first: a process killed with SIGKILL may take longer to end than the one that loses its peer. So
        # when others vanished too (and the MPI launcher named none), they are all named, the likeliest first.
        others = [] if self.reported_pid in by_pid else [rank for rank in self.pids if rank not in lost[:1]
                                                             and self.vanished(rank)]
        if others:
            how = "killed, out of memory, or a crash"
        return lost[0], self.pids[lost[0]], how, [(rank, self.pids[rank]) for rank in others]

    def forward(self, signum):
        """Ctrl-C, SIGTERM, SIGHUP: to every worker (each asks the loop to stop after the agreed step). Before
        every worker has joined MPI, the signal is held for them (watch() passes it on once they have; a second
        one ends the job): sent on through mpiexec, it struck Pythons still starting up, whose tracebacks (or
        "Fatal Python error") and exit status 2 were all the user saw."""
        self.read_pids()
        self.interrupted = True
        if len(self.pids) < self.n:
            if self.held:  # a second one: mpiexec and its proxies go, and the workers starting under them
                self.cut_short = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.job.pid, signal.SIGKILL)
            self.held.append(signum)
            return
        for pid in self.pids.values():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def pass_held_signals(self):
        """The signals held by forward(), to the workers once all of them have joined MPI."""
        if self.held and len(self.pids) == self.n:
            held, self.held = self.held, []
            for signum in held:
                self.forward(signum)

    def stop_job(self):
        """Kill mpiexec and its proxies (its own process group) if it still runs."""
        if self.job.poll() is None:
            try:
                os.killpg(self.job.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.job.wait()

    def kill_workers(self):
        """Workers run in sessions of their own (MPI launchers start them so): kill any left by pid."""
        self.read_pids()
        for pid in self.pids.values():
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def ending(pid):
    """True when pid is gone or has begun to exit. A worker killed outright may still be tearing itself down
    (its memory freed, its threads ended) when mpiexec, which saw its sockets close, has already ended: on a
    busy machine it was not gone yet when the launcher looked, and another worker was named, or none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0] in ("Z", "X") or bool(int(fields[6]) & PF_EXITING)
    except (FileNotFoundError, ProcessLookupError):
        return True
    except (OSError, ValueError, IndexError):  # no /proc: ask the kernel
        return not alive(pid)


def join_or_launch(workers, args, after_loss, leftovers=()):
    """The communicator of this process under MPI (rank > 0 then prints nothing); or, with workers > 1 and
    no MPI launcher around, run this command as `workers` MPI processes here and exit with their status.

    args: the command line to run again (what the command was invoked with, not sys.argv: a script may call
    digitnet.cli.main itself); after_loss(): the rest of the line that names a lost or failed worker (the
    last checkpoint and how to resume); after_loss(failed=True) for a failure may return None (nothing to add);
    leftovers: as run_workers takes them."""
    from .comm import launched_by_mpi, quiet_unless_first, world

    if workers > 1 and not launched_by_mpi():
        try:
            status = run_workers(workers, args, leftovers=leftovers)
        except WorkerLost as e:
            raise ParallelError(f"{e}; {after_loss()}") from None
        except WorkerFailed as e:
            kept = after_loss(failed=True)
            line = f"{e}; {kept}" if kept else str(e)
            if e.exit_code == 130 and str(e) == "interrupted":  # a Ctrl-C, not an error: said as one process says it
                print(line, file=sys.stderr)
                sys.exit(130)
            raise WorkerFailed(line, e.exit_code) from None
        sys.exit(status)
    comm = world()
    quiet_unless_first(comm)
    return comm
