"""
Recording what a running script reports: log lines, progress, files, and the object changes it made.

A script runs inside one database transaction, which a dry run or a failure rolls back. Its log must survive that
and be visible while it runs, so the LiveRecorder writes from a thread of its own, on its own database connection
(autocommit), in batches: appending a log line costs the script a list append, and 100,000 lines are written as
200 rows of 500 lines each (models/run_log.py). The same thread keeps the run's heartbeat and notices a cancel request.

The BufferedRecorder keeps everything in memory and writes it when the run is over, on the caller's connection:
for runs inside a transaction someone else controls (the test helper), where a second connection could not see
the run's row.
"""
import logging
import threading
import time
from collections import Counter, deque

from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection
from django.utils import timezone

from ..models import RunChange, RunFile, ScriptRun, encode_log_chunks, store_log_chunks
from ..scripting.log import LOG_LEVELS

__all__ = (
    'BufferedRecorder',
    'LiveRecorder',
)

logger = logging.getLogger('netbox_custom_scripts.recorder')

# One write takes at most this many lines, or this much text: a backlog of long lines is written in pieces, each
# committed, with the heartbeat, the cancel check and the stopper between them (one COPY of all of it could last
# as long as the run, and a crash would lose all of it).
BATCH_LINES = 5000
BATCH_CHARS = 4_000_000
# A script that logs faster than the database takes it waits once this much text is waiting to be written.
BACKLOG_CHARS = 32_000_000


class _Recording:
    """What a run has reported and not yet written."""

    batch_size = BATCH_LINES
    batch_chars = BATCH_CHARS

    def __init__(self, run_id, max_file_size=None, max_line_length=None):
        self.run_id = run_id
        self.max_file_size = max_file_size
        self.max_line_length = max_line_length
        self.counts = Counter()
        self._lock = threading.Lock()
        # Appended by the script's thread and taken by the writer's without a lock (a deque's append and popleft
        # are atomic): logging a line costs the script one append.
        self._entries = deque()
        # Characters of the messages in _entries: added by the script's thread, taken off by the writer's (an
        # estimate when the two race; it only decides when to write and when the script must wait).
        self._pending_chars = 0
        self._files = []
        self._changes = []
        self._progress = None
        self._content_types = {}
        # What has been written so far; the final status update includes it (see outcome.finish_run)
        self.change_count = 0
        self.next_line = 1
        self.progress_written = None

    # The reporter interface a Script talks to

    def log(self, entry):
        if self.max_line_length and len(entry.message) > self.max_line_length:
            entry = self._cut(entry)
        self._entries.append(entry)
        self._pending_chars += len(entry.message)

    def _cut(self, entry):
        cut = len(entry.message) - self.max_line_length
        return entry._replace(message=f'{entry.message[:self.max_line_length]} [... {cut} more characters cut: '
                                      f'the line is longer than max_log_line_length]')

    def set_progress(self, done, total, message):
        with self._lock:
            self._progress = (done, total, (message or '')[:500])

    def save_file(self, name, content, content_type):
        data = content.encode('utf-8') if isinstance(content, str) else bytes(content)
        if self.max_file_size and len(data) > self.max_file_size:
            raise ValueError(f'save_file(): {name} is {len(data)} bytes; the limit is {self.max_file_size} bytes')
        if content_type is None:
            content_type = 'text/plain; charset=utf-8' if isinstance(content, str) else 'application/octet-stream'
        with self._lock:
            self._files.append((name, content_type, data))

    # Used by the runner

    def record_changes(self, changes):
        with self._lock:
            self._changes.extend(changes)

    def _take(self):
        """What to write next: at most a batch of lines (see BATCH_LINES), and everything else reported."""
        entries, pending, taken, chars = self._entries, len(self._entries), [], 0
        while pending and len(taken) < self.batch_size and chars < self.batch_chars:
            entry = entries.popleft()
            taken.append(entry)
            chars += len(entry.message)
            pending -= 1
        self._pending_chars = max(0, self._pending_chars - chars)
        with self._lock:
            rest = (self._files, self._changes, self._progress)
            self._files, self._changes, self._progress = [], [], None
        return (taken, *rest)

    def _write_all(self, update_run=False):
        """Write everything reported, a batch at a time."""
        self._write(update_run=update_run)
        while self._entries:
            self._write(update_run=update_run)

    def _content_type_id(self, label):
        if not label:
            return None
        if label not in self._content_types:
            app_label, model = label.split('.')
            try:
                self._content_types[label] = ContentType.objects.get_by_natural_key(app_label, model).pk
            except ContentType.DoesNotExist:
                self._content_types[label] = None
        return self._content_types[label]

    def _give_back(self, entries, files, changes, progress):
        """Put back what a failed write did not write, ahead of what was reported since."""
        with self._lock:
            self._entries.extendleft(reversed(entries))
            self._pending_chars += sum(len(entry.message) for entry in entries)
            self._files[:0] = files
            self._changes[:0] = changes
            if self._progress is None:
                self._progress = progress

    def _write(self, heartbeat=False, update_run=True):
        """
        Write what was reported since the last write, on this thread's database connection. When the write fails
        (the connection was lost), what it did not write is given back for the next attempt.
        """
        entries, files, changes, progress = self._take()
        update = {}
        try:
            if entries:
                type_ids = {label: self._content_type_id(label) for label in {entry.object_type for entry in entries}}
                chunks = encode_log_chunks(self.run_id, self.next_line, entries, type_ids)
                store_log_chunks(chunks)
                self.next_line += len(entries)
                entries = []
                for chunk in chunks:
                    self.counts.update({level: count for level in LOG_LEVELS if (count := getattr(chunk, level))})
                update['log_counts'] = dict(self.counts)
            while files:
                name, content_type, data = files[0]
                RunFile.objects.create(
                    run_id=self.run_id, name=name[:255], content_type=content_type[:255], size=len(data), content=data
                )
                files.pop(0)
            if changes:
                RunChange.objects.bulk_create([RunChange(run_id=self.run_id, **change) for change in changes])
                self.change_count += len(changes)
                changes = []
                update['change_count'] = self.change_count
            if progress is not None:
                update.update(progress_done=progress[0], progress_total=progress[1], progress_message=progress[2])
            if heartbeat:
                update['heartbeat'] = timezone.now()
            if update and update_run:
                ScriptRun.objects.filter(pk=self.run_id).update(**update)
            if progress is not None:
                self.progress_written = progress
        except BaseException:
            self._give_back(entries, files, changes, progress)
            raise


class BufferedRecorder(_Recording):
    """Keeps everything in memory until stop(), then writes it on the current connection."""

    def start(self):
        return self

    def stop(self):
        """Write everything; the run's own row is left to the caller's final update."""
        self._write_all()


class LiveRecorder(_Recording):
    """
    Writes from a thread of its own, every `flush_interval` seconds, and keeps the run's heartbeat. The thread
    touches the database only once the run has lasted `flush_interval` (or filled a batch): a short run never pays
    for a second connection, and whatever is left when the run ends is written by the caller in stop().
    """

    def __init__(self, run_id, *, on_cancel=None, on_tick=None, max_file_size=None, max_line_length=None,
                 flush_interval=0.2, heartbeat_interval=2.0, tick_interval=30.0, batch_size=BATCH_LINES,
                 backlog_chars=BACKLOG_CHARS, max_failures=10):
        super().__init__(run_id, max_file_size=max_file_size, max_line_length=max_line_length)
        self.on_cancel = on_cancel
        self.on_tick = on_tick
        self.flush_interval = flush_interval
        self.heartbeat_interval = heartbeat_interval
        self.tick_interval = tick_interval
        self.batch_size = batch_size
        self.backlog_chars = backlog_chars
        self.max_failures = max_failures
        self.cancel_seen = False
        # The runner's RunStopper (if any), asked on every wake whether the script must be stopped hard.
        self.stopper = None
        self.error = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Held by the thread while it works: stop() waits for a write in progress, not for the thread to end (a
        # thread that never woke up to work exits by itself; joining it cost a short run milliseconds).
        self._busy = threading.Lock()
        self._worked = False
        self._written = threading.Event()  # set after each write: a script held back by a backlog goes on
        self._thread = threading.Thread(target=self._loop, name=f'custom-script-run-{run_id}', daemon=True)

    def log(self, entry):
        # _Recording.log() inlined: this runs once per line the script logs.
        if self.max_line_length and len(entry.message) > self.max_line_length:
            entry = self._cut(entry)
        self._entries.append(entry)
        self._pending_chars += len(entry.message)
        if len(self._entries) >= self.batch_size or self._pending_chars >= self.batch_chars:
            self._wake.set()
            if self._pending_chars >= self.backlog_chars:
                self._hold_back()

    def _hold_back(self):
        """
        The script logs faster than the database takes it: it waits until the writer has caught up below the
        backlog limit, so that memory stays bounded and the log stays close to live (and a crash loses little).
        Never waits for a writer that has stopped.
        """
        while (self._pending_chars >= self.backlog_chars and self._thread.is_alive()
               and not self._stopping.is_set() and self.error is None):
            self._written.wait(0.5)
            self._written.clear()

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        """End the thread and write the rest here, including what the thread could not write. Raises if that fails."""
        self._stopping.set()
        self._wake.set()
        with self._busy:
            worked = self._worked
        if worked:
            self._thread.join(timeout=300)  # it has a database connection of its own to close
        if self.stopper is not None and self.stopper.hard_stopped:
            return  # the run was recorded when it was stopped; what its script did since is not its record
        self._write_all()

    def _loop(self):
        self._started = self._last_beat = self._last_tick = time.monotonic()
        failures = 0
        try:
            while True:
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                with self._busy:
                    if self._stopping.is_set():
                        return
                    self._worked = True
                    try:
                        if self._work():
                            return
                        failures = 0
                    except DatabaseError:
                        # The connection was lost (a failover, a terminated session): what was not written was
                        # given back; the next attempt opens a new connection.
                        failures += 1
                        if failures >= self.max_failures:
                            raise
                        logger.warning('Recording run %s: database error, reconnecting', self.run_id, exc_info=True)
                        try:
                            connection.close()
                        except DatabaseError:
                            pass
        except Exception as exc:  # reported by stop(); the run must not hang on its recorder
            logger.exception('Recording run %s failed', self.run_id)
            self.error = exc
        finally:
            connection.close()

    def _work(self):
        """One wake of the thread: write, beat, look for a cancel, tick, ask the stopper. True: the run was stopped."""
        now = time.monotonic()
        beat = now - self._last_beat >= self.heartbeat_interval
        if (now - self._started >= self.flush_interval or len(self._entries) >= self.batch_size
                or self._pending_chars >= self.batch_chars):
            self._write(heartbeat=beat)
            self._written.set()
            if len(self._entries) >= self.batch_size or self._pending_chars >= self.batch_chars:
                self._wake.set()  # more than a batch is waiting: the next one right away
        if beat:
            self._last_beat = now
            self._check_cancel()
        if self.on_tick and now - self._last_tick >= self.tick_interval:
            self._last_tick = now
            self.on_tick()
        if self.stopper is not None:
            self.stopper.check()
            return self.stopper.hard_stopped
        return False

    def _check_cancel(self):
        if self.cancel_seen or self.on_cancel is None:
            return
        if ScriptRun.objects.filter(pk=self.run_id, cancel_requested__isnull=False).exists():
            self.cancel_seen = True
            self.on_cancel()
