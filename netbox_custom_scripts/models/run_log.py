"""
A run's log, stored as chunks: rows of up to LOG_CHUNK_SIZE consecutive lines, each with its line range and a count
per level. Writing 10,000 lines costs a few dozen rows instead of 10,000 rows and their index entries; a page of
the log (filtered by minimum level or not) reads the chunks' counts, then decodes only the chunks the page covers,
so page 1,000 of a 100,000-line log costs what page 1 of a 10-line one does. Text search narrows the chunks in the
database and matches the lines in Python.

Lines are numbered from 1 in the order they were logged; the number is a line's ID in the API and the CLI.
"""
import json
from collections import Counter
from datetime import UTC, datetime

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.utils.translation import gettext_lazy as _
from utilities.querysets import RestrictedQuerySet

from ..choices import LogLevelChoices
from ..scripting.log import LOG_LEVELS, safe_link
from .run_records import object_url

__all__ = (
    'LOG_CHUNK_SIZE',
    'LogLine',
    'RunLog',
    'RunLogChunk',
    'encode_log_chunks',
    'store_log_chunks',
    'write_log_lines',
)

LOG_CHUNK_SIZE = 500

# A line in a chunk's JSON: [level, time, message] and, only when set, the rest in this order.
_LINE_FIELDS = ('level', 'time', 'message', 'object_type_id', 'object_id', 'object_repr', 'object_url', 'test')
_LEVEL_INDEX = {level: index for index, level in enumerate(LOG_LEVELS)}


class RunLogChunk(models.Model):
    """Lines `first` to `first + size - 1` of a run's log, as one JSON array (see the module's docstring)."""
    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(
        to='netbox_custom_scripts.ScriptRun',
        on_delete=models.CASCADE,
        related_name='log_chunks',
        db_index=False,  # the unique (run, first) index serves every query
    )
    first = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    debug = models.PositiveIntegerField(default=0)
    info = models.PositiveIntegerField(default=0)
    success = models.PositiveIntegerField(default=0)
    warning = models.PositiveIntegerField(default=0)
    failure = models.PositiveIntegerField(default=0)
    lines = models.TextField()

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ('run', 'first')
        constraints = (
            models.UniqueConstraint(fields=('run', 'first'), name='nbcs_log_chunk_run_first'),
        )
        verbose_name = _('log chunk')
        verbose_name_plural = _('log chunks')

    def __str__(self):
        return f'{self.run_id}: lines {self.first}-{self.first + self.size - 1}'


# A LogEntry's fields after level, message and time, for a line without an object or a test.
_NO_EXTRAS = ('', '', '', None, '')
_EXTRAS = slice(3, 8)


def _encoded_line(entry, type_id):
    line = [entry.level, entry.iso_time, entry.message]
    extras = (type_id, entry.object_id, entry.object_repr[:200], entry.object_url[:500], entry.test[:100])
    if any(extras):
        line.extend(extras)
        while not line[-1]:
            line.pop()
    return line


def _storable(value):
    """Text as PostgreSQL can store it: a lone surrogate (not valid UTF-8) becomes its escape, \\ud800."""
    return value.encode('utf-8', 'backslashreplace').decode() if isinstance(value, str) else value


def encode_log_chunks(run_id, first, entries, type_ids):
    """
    Unsaved RunLogChunks for `entries` (LogEntry tuples), numbered from line `first`. `type_ids` maps each entry's
    "app_label.model" to its content type ID (or None).
    """
    chunks = []
    for start in range(0, len(entries), LOG_CHUNK_SIZE):
        batch = entries[start:start + LOG_CHUNK_SIZE]
        counts = Counter(entry[0] for entry in batch)
        # Most lines carry no object or test: [level, time, message] straight from the tuple.
        lines = [
            [entry[0], entry[8] or entry[2].isoformat(), entry[1]] if entry[_EXTRAS] == _NO_EXTRAS
            else _encoded_line(entry, type_ids.get(entry.object_type) if entry.object_type else None)
            for entry in batch
        ]
        text = json.dumps(lines, ensure_ascii=False, separators=(',', ':'))
        try:
            text.encode()
        except UnicodeEncodeError:  # a lone surrogate, which PostgreSQL text cannot hold: kept as its escape
            text = json.dumps([[_storable(value) for value in line] for line in lines], ensure_ascii=False,
                              separators=(',', ':'))
        chunks.append(RunLogChunk(
            run_id=run_id, first=first + start, size=len(batch), lines=text,
            **{level: counts.get(level, 0) for level in LOG_LEVELS},
        ))
    return chunks


_COPY_COLUMNS = ('run_id', 'first', 'size', *LOG_LEVELS, 'lines')
# COPY's text format: backslash, tab and line breaks escaped (JSON text has no raw tab or line break, only its own
# backslash escapes).
_COPY_ESCAPES = str.maketrans({'\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r'})


def store_log_chunks(chunks):
    """Write unsaved RunLogChunks with one COPY on the current connection: no quoting of their text, no RETURNING."""
    if not chunks:
        return
    rows = []
    for chunk in chunks:
        values = [str(getattr(chunk, column)) for column in _COPY_COLUMNS[:-1]]
        text = chunk.lines
        values.append(text.translate(_COPY_ESCAPES) if '\\' in text else text)
        rows.append('\t'.join(values))
    rows.append('')
    with connection.cursor() as cursor:
        columns = ', '.join(f'"{column}"' for column in _COPY_COLUMNS)
        with cursor.cursor.copy(f'COPY {RunLogChunk._meta.db_table} ({columns}) FROM STDIN') as copy:
            copy.write('\n'.join(rows))


def write_log_lines(run_id, first, entries):
    """Store `entries` as lines `first`... of the run's log, on the current connection. Returns the next number."""
    labels = {entry.object_type for entry in entries if entry.object_type}
    type_ids = {}
    for label in labels:
        app_label, model = label.split('.')
        type_ids[label] = ContentType.objects.filter(app_label=app_label, model=model).values_list(
            'pk', flat=True).first()
    store_log_chunks(encode_log_chunks(run_id, first, entries, type_ids))
    return first + len(entries)


class LogLine:
    """One line of a run's log, as read back."""
    __slots__ = ('number', 'level', 'time', 'message', 'object_type_id', 'object_id', 'object_repr', 'object_url',
                 'test')

    def __init__(self, number, level, time, message, object_type_id=None, object_id=None, object_repr='',
                 object_url='', test=''):
        self.number = number
        self.level = level
        self.time = datetime.fromisoformat(time)
        if self.time.tzinfo is None:  # a naive time (an imported job's) was UTC
            self.time = self.time.replace(tzinfo=UTC)
        self.message = message
        self.object_type_id = object_type_id
        self.object_id = object_id
        self.object_repr = object_repr
        self.object_url = object_url
        self.test = test

    def __repr__(self):
        return f'<LogLine {self.number} [{self.level}] {self.message[:50]}>'

    @property
    def id(self):
        return self.number

    @property
    def object_type(self):
        return ContentType.objects.get_for_id(self.object_type_id) if self.object_type_id else None

    def get_level_color(self):
        return LogLevelChoices.colors.get(self.level)

    def get_level_display(self):
        return dict(LogLevelChoices).get(self.level, self.level)

    @property
    def link_key(self):
        return (self.object_type_id, self.object_id)

    @property
    def url(self):
        """The related object's page: resolved when shown, not when logged (logging must stay cheap)."""
        if self.object_url or self.object_type_id is None or self.object_id is None:
            return safe_link(self.object_url)
        return object_url(self.object_type, self.object_id)


def _decoded(chunk_first, text):
    return [LogLine(chunk_first + index, *line) for index, line in enumerate(json.loads(text))]


class RunLog:
    """
    A run's log lines, oldest first, optionally only those of `min_level` and above, after line number `after`, and
    containing `query` (case-insensitive, in the message or the object). A sequence Django's Paginator and REST
    framework's paginators take as they take a QuerySet: count() and slices, each a query or two.
    """

    def __init__(self, run_id, min_level=None, query=None, after=0):
        self.run_id = run_id
        self.levels = LOG_LEVELS[_LEVEL_INDEX[min_level]:] if min_level in _LEVEL_INDEX else LOG_LEVELS
        self.query = _storable((query or '').replace('\x00', '').strip())
        # Case is ignored as PostgreSQL's ILIKE (which narrows the chunks) ignores it in every locale: for ASCII
        # letters. A query with other letters is matched in Python alone, with Python's lowercase.
        self._ascii_query = self.query.isascii()
        self._needle = self.query.encode().lower() if self._ascii_query else self.query.lower()
        self.after = after or 0
        self._table = None
        self._matches = None

    def _chunks(self):
        chunks = RunLogChunk.objects.filter(run_id=self.run_id)
        if self.after:
            chunks = chunks.filter(first__gt=self.after - LOG_CHUNK_SIZE)
        if len(self.levels) != len(LOG_LEVELS):
            wanted = models.Q()
            for level in self.levels:
                wanted |= models.Q(**{f'{level}__gt': 0})
            chunks = chunks.filter(wanted)
        return chunks.order_by('first')

    def _filtered(self, lines):
        if self.after:
            lines = [line for line in lines if line.number > self.after]
        if len(self.levels) != len(LOG_LEVELS):
            lines = [line for line in lines if line.level in self.levels]
        if self.query:
            matches = self._matches_query
            lines = [line for line in lines if matches(line.message) or matches(line.object_repr)]
        return lines

    def _matches_query(self, text):
        if self._ascii_query:
            return self._needle in text.encode('utf-8', 'surrogatepass').lower()  # bytes.lower(): ASCII only
        return self._needle in text.lower()

    def _read(self, firsts):
        rows = RunLogChunk.objects.filter(run_id=self.run_id, first__in=firsts).order_by('first')
        lines = []
        for first, text in rows.values_list('first', 'lines'):
            lines.extend(self._filtered(_decoded(first, text)))
        return lines

    def _chunk_table(self):
        """(first, number of wanted lines) of each chunk holding wanted lines, from the counts (no text search)."""
        if self._table is None:
            self._table = []
            for first, size, *counts in self._chunks().values_list('first', 'size', *self.levels):
                if first + size - 1 <= self.after:
                    continue
                # At most one chunk is cut by `after`; its counts include lines before it.
                wanted = sum(counts) if first > self.after else len(self._read([first]))
                if wanted:
                    self._table.append((first, wanted))
        return self._table

    def _searched(self):
        """Every wanted line (text search): the database narrows the chunks, Python matches the lines."""
        if self._matches is None:
            chunks = self._chunks()
            if self._ascii_query:
                chunks = chunks.filter(lines__icontains=json.dumps(self.query)[1:-1])
            rows = chunks.values_list('first', 'lines')
            self._matches = []
            for first, text in rows.iterator():
                self._matches.extend(self._filtered(_decoded(first, text)))
        return self._matches

    def count(self):
        if self.query:
            return len(self._searched())
        return sum(wanted for _, wanted in self._chunk_table())

    def __len__(self):
        return self.count()

    def __getitem__(self, index):
        if isinstance(index, int):
            lines = self[index:index + 1] if index >= 0 else list(self)[index:index + 1]
            if not lines:
                raise IndexError('log line index out of range')
            return lines[0]
        start, stop, step = index.start or 0, index.stop, index.step
        if start < 0 or (stop is not None and stop < 0) or step not in (None, 1):
            return list(self)[index]
        if self.query:
            return self._searched()[start:stop]
        # The chunks that hold wanted lines start..stop-1, found from their counts; only those are read.
        firsts, offset, position = [], None, 0
        for first, wanted in self._chunk_table():
            if stop is not None and position >= stop:
                break
            if position + wanted > start:
                firsts.append(first)
                offset = position if offset is None else offset
            position += wanted
        if not firsts:
            return []
        lines = self._read(firsts)
        return lines[start - offset:None if stop is None else stop - offset]

    def __iter__(self):
        if self.query:
            yield from self._searched()
            return
        for first, text in self._chunks().values_list('first', 'lines').iterator():
            yield from self._filtered(_decoded(first, text))

    def __bool__(self):
        return bool(self[:1])

    def all(self):
        """Every line, as a list (what `run.log_entries.all()` gave before the log was stored in chunks)."""
        return list(self)

    def first(self):
        lines = self[:1]
        return lines[0] if lines else None

    def last(self):
        count = self.count()  # the counts, then the last chunk: not the whole log
        return self[count - 1] if count else None
