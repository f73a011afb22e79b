"""The output of a `--workers N` job, passed through to this process's own: stdout line by line without the MPI
launcher's banners (noting the first worker its BAD TERMINATION box names), stderr as it comes without
MPI_Abort's notes; and once the reader of either has gone (`| head`), read on and dropped, for a job blocked on
a full pipe would never end."""
import codecs
import re

# The MPI launcher's own messages: hydra's BAD TERMINATION box and its Ctrl-C notes, Open MPI's dashes.
LAUNCHER_NOISE = re.compile(r"^(={5,}|=   |-{20,}|YOUR APPLICATION TERMINATED|This typically refers to|"
                            r"Please see the FAQ page|\[mpiexec@|\[proxy:|mpirun noticed|Primary job|"
                            r"prterun noticed)")
# What MPICH's MPI_Abort prints on stderr (comm.fail_alone calls it, having recorded its own line), and the error
# stack MPICH prints for a worker whose collective failed because another worker was lost (the launcher names it).
ABORT_NOISE = re.compile(r"^Abort\(\d+\) on node \d+|^application called MPI_Abort|^[A-Za-z_]\w*\(\d+\)\.*: |"
                         r"^(Other MPI error|Fatal error in \w+), error stack:|^Other MPI error, error stack")


class Output:
    """Where a pump writes: once its reader has gone (`digitnet train --workers 2 | head -1`), writing stops but
    the pump goes on reading, for mpiexec blocked on a full pipe would never end."""

    def __init__(self, out):
        self.out, self.gone = out, False

    def write(self, text):
        if self.gone or not text:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the file was closed
            self.gone = True


def pass_through(stream, out):
    """Copy the job's stderr as it comes, a progress bar's carriage returns included, less MPI_Abort's notes."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a chunk may end mid-character
    held = ""
    for chunk in iter(lambda: stream.read1(4096), b""):
        held += decoder.decode(chunk)
        *lines, held = held.split("\n")
        text = "".join(line + "\n" for line in lines if not ABORT_NOISE.match(line.rsplit("\r", 1)[-1]))
        if held and not ("Abort(".startswith(held[:6]) or held.startswith(("Abort(", "applic"))):
            text, held = text + held, ""  # a progress bar's line, shown now; a line that may be a note waits
        out.write(text)
    if held and not ABORT_NOISE.match(held):
        out.write(held)


def pump(stream, out, watcher):
    """Copy the job's output line by line, keeping the MPI launcher's own messages out (but noting the pid
    and exit code its BAD TERMINATION box names: the first worker to end badly)."""
    blank = False  # a blank line is held back: the launcher's box starts with one
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        pid, code = re.search(r"PID (\d+) RUNNING AT", line), re.search(r"EXIT CODE: (\d+)", line)
        if pid and watcher.reported_pid is None:
            watcher.reported_pid = int(pid.group(1))
        if code and watcher.reported_code is None:
            watcher.reported_code = int(code.group(1))
        if LAUNCHER_NOISE.match(line):
            blank = False
            continue
        if blank:
            out.write("\n")
        blank = not line.strip()
        if not blank:
            out.write(line)
    if blank:
        out.write("\n")
