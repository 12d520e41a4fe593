"""
The log is stored in chunks of lines (models/run_log.py). Each reader is checked against a plain list of the same
lines: every page, level filter, text search and `since` of the chunked store must give what filtering the list
gives, across chunk boundaries and batches of every size. A page deep in a 100,000-line log decodes no more of it
than the first page of a 10-line one. Text that JSON or COPY must escape comes back as it went in, and is found.
Logs written before the chunks (a row per line) are converted by the migration.
"""
import random
import re

import pytest
from django.core.management import call_command
from django.core.paginator import Paginator
from django.db import connection
from django.utils import timezone

from netbox_custom_scripts.models import LOG_CHUNK_SIZE, RunLog, RunLogChunk, Script, write_log_lines
from netbox_custom_scripts.models import run_log as run_log_module
from netbox_custom_scripts.scripting.log import LOG_LEVELS, LogEntry

from .security.helpers import api_client, make_run, ui_client
from .utils import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def script():
    from netbox_custom_scripts.execution import sync_directory

    sync_directory()
    return Script.objects.get(module__name='basic', class_name='Hello')


def new_run(script, user):
    run = make_run(script, user)
    RunLogChunk.objects.filter(run=run).delete()  # make_run's own line
    return run


def write_in_batches(run, entries, batch_sizes):
    """Write `entries` as a recorder would: in batches of the given sizes (cycled), numbered on from 1."""
    position, index = 0, 0
    while position < len(entries):
        size = batch_sizes[index % len(batch_sizes)]
        write_log_lines(run.pk, position + 1, entries[position:position + size])
        position += size
        index += 1


def reference(lines, min_level=None, query='', after=0):
    """What a reader must return: the plain list, filtered."""
    levels = LOG_LEVELS[LOG_LEVELS.index(min_level):] if min_level else LOG_LEVELS
    query = query.strip().casefold()
    return [
        (number, level, message) for number, (level, message) in enumerate(lines, start=1)
        if number > after and level in levels and (not query or query in message.casefold())
    ]


def seen(lines):
    return [(line.number, line.level, line.message) for line in lines]


def test_every_page_filter_and_since_matches_a_plain_list(script, admin):
    rng = random.Random(14)
    run = new_run(script, admin)
    now = timezone.now()
    # Mostly info, with warnings and failures sparse enough that some chunks hold none of them.
    levels = rng.choices(LOG_LEVELS, weights=(5, 60, 10, 3, 1), k=2345)
    lines = [(level, f'line {number} of the test') for number, level in enumerate(levels, start=1)]
    entries = [LogEntry(level, message, now) for level, message in lines]
    # Batches of 1, just under, at and over a chunk, and odd sizes: chunks of every shape.
    write_in_batches(run, entries, [1, LOG_CHUNK_SIZE - 1, LOG_CHUNK_SIZE, LOG_CHUNK_SIZE + 1, 7, 844])
    assert RunLogChunk.objects.filter(run=run).count() > len(lines) // LOG_CHUNK_SIZE

    for min_level in (None, 'info', 'warning', 'failure'):
        for query in ('', 'line 12', 'LINE 7 OF', 'no such text'):
            for after in (0, 1, LOG_CHUNK_SIZE - 1, LOG_CHUNK_SIZE, 1234, 2345):
                expected = reference(lines, min_level, query, after)
                log = RunLog(run.pk, min_level=min_level, query=query, after=after)
                assert log.count() == len(expected), (min_level, query, after)
                for start in (0, 1, 49, 450, len(expected) - 10, len(expected), len(expected) + 5):
                    start = max(start, 0)
                    assert seen(log[start:start + 50]) == expected[start:start + 50], (min_level, query, after,
                                                                                       start)
                assert seen(log) == expected


def test_a_deep_page_of_a_huge_log_reads_what_a_first_page_of_a_small_one_reads(script, admin, monkeypatch):
    now = timezone.now()
    small, big = new_run(script, admin), new_run(script, admin)
    write_log_lines(small.pk, 1, [LogEntry('info', f'small {n}', now) for n in range(10)])
    big_entries = [LogEntry('warning' if n % 997 == 0 else 'info', f'big {n}', now) for n in range(100_000)]
    write_in_batches(big, big_entries, [5000])

    decoded = []
    real_decoded = run_log_module._decoded
    monkeypatch.setattr(run_log_module, '_decoded', lambda first, text: decoded.append(first) or real_decoded(
        first, text))

    def page(run, number, **filters):
        decoded.clear()
        paginator = Paginator(RunLog(run.pk, **filters), 50)
        lines = seen(paginator.get_page(number).object_list)
        return lines, len(decoded)

    lines, chunks_read = page(small, 1)
    assert [message for _, _, message in lines] == [f'small {n}' for n in range(10)]
    assert chunks_read == 1
    lines, chunks_read = page(big, 1981)  # lines 99,001-99,050
    assert [number for number, _, _ in lines] == list(range(99_001, 99_051))
    assert chunks_read <= 2
    lines, chunks_read = page(big, 3, min_level='warning')  # the last: 101 warnings, at every 997th line
    assert lines == [(99_701, 'warning', 'big 99700')]
    assert chunks_read <= 2

    # The run page's log partial: the last page of the big log, as a browser that follows a run asks for it.
    response = ui_client(admin).get(f'/plugins/custom-scripts/runs/{big.pk}/log/?page=last',
                                     HTTP_HX_REQUEST='true')
    assert response.status_code == 200
    assert 'big 99999' in response.content.decode()


AWKWARD = (
    'a "quoted" word',
    'back\\slash and \\N and \\t literally',
    'tab\there',
    'line\nbreak and\rreturn',
    'nul\x00byte',
    'ünïcode ✓ 日本',
    'wild %_ cards',
    '',
)


def test_text_that_must_be_escaped_comes_back_and_is_found(script, admin):
    run = new_run(script, admin)
    now = timezone.now()
    write_log_lines(run.pk, 1, [LogEntry('info', message, now, object_repr=f'obj {index}')
                                for index, message in enumerate(AWKWARD)])
    assert [line.message for line in RunLog(run.pk)] == list(AWKWARD)
    for message in AWKWARD[:-1]:
        if message == 'nul\x00byte':
            continue  # a query cannot hold NUL (PostgreSQL text cannot): it is dropped from the query
        assert [line.message for line in RunLog(run.pk, query=message)] == [message]
    assert [line.message for line in RunLog(run.pk, query='ÜNÏCODE')] == ['ünïcode ✓ 日本']
    assert [line.message for line in RunLog(run.pk, query='%_')] == ['wild %_ cards']
    assert [line.object_repr for line in RunLog(run.pk, query='obj 3')] == ['obj 3']  # the object is searched too


def test_a_lone_surrogate_is_stored_as_its_escape_and_the_rest_of_its_chunk_stays_searchable(script, admin):
    run = new_run(script, admin)
    now = timezone.now()
    write_log_lines(run.pk, 1, [LogEntry('info', 'lone \ud800 surrogate', now), LogEntry('info', 'ünïcode', now)])
    assert [line.message for line in RunLog(run.pk)] == ['lone \\ud800 surrogate', 'ünïcode']
    assert [line.message for line in RunLog(run.pk, query='ÜNÏ')] == ['ünïcode']
    assert [line.message for line in RunLog(run.pk, query='lone \ud800')] == ['lone \\ud800 surrogate']


def test_the_api_follows_a_log_with_since_level_and_paging(script, admin):
    run = new_run(script, admin)
    now = timezone.now()
    entries = [LogEntry('warning' if n % 3 == 0 else 'info', f'n{n}', now) for n in range(1, 1201)]
    write_in_batches(run, entries, [333])
    client = api_client(make_user('apireader', is_superuser=True))
    url = f'/api/plugins/custom-scripts/runs/{run.pk}/log/'
    body = client.get(url, {'since': 1000, 'level': 'warning', 'limit': 20}).json()
    expected = [n for n in range(1001, 1201) if n % 3 == 0]
    assert body['count'] == len(expected)
    assert [line['id'] for line in body['results']] == expected[:20]
    assert all(line['level']['value'] == 'warning' for line in body['results'])
    body = client.get(url, {'since': 1000, 'level': 'warning', 'limit': 20, 'offset': 60}).json()
    assert [line['id'] for line in body['results']] == expected[60:80]
    assert client.get(url, {'since': 'x'}).status_code == 400
    assert client.get(url, {'level': 'loud'}).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_logs_written_a_row_per_line(script, admin):
    run = new_run(script, admin)
    call_command('migrate', 'netbox_custom_scripts', '0003_warnings_imported_runs', verbosity=0)
    try:
        with connection.cursor() as cursor:
            rows = [(run.pk, 'failure' if n == 700 else 'info', timezone.now(), f'old line {n}', 'obj' if n == 3
                     else '', 'https://example.com/x' if n == 3 else '', 'test_one' if n == 5 else '')
                    for n in range(1, 1203)]
            cursor.executemany(
                'INSERT INTO netbox_custom_scripts_runlogentry (run_id, level, time, message, object_repr, '
                'object_url, test) VALUES (%s, %s, %s, %s, %s, %s, %s)', rows)
    finally:
        call_command('migrate', 'netbox_custom_scripts', verbosity=0)
    lines = list(RunLog(run.pk))
    assert [line.message for line in lines] == [f'old line {n}' for n in range(1, 1203)]
    assert [line.number for line in lines] == list(range(1, 1203))
    assert (lines[2].object_repr, lines[2].object_url, lines[4].test) == ('obj', 'https://example.com/x', 'test_one')
    assert seen(RunLog(run.pk, min_level='failure')) == [(700, 'failure', 'old line 700')]
    assert RunLogChunk.objects.filter(run=run).count() == 3


def test_case_is_ignored_the_same_whatever_else_the_chunk_holds(script, admin):
    """The database narrows the chunks with ILIKE, Python matches the lines: a line matches or not on its own."""
    now = timezone.now()
    alone, mixed = new_run(script, admin), new_run(script, admin)
    write_log_lines(alone.pk, 1, [LogEntry('info', 'Straße', now)])
    write_log_lines(mixed.pk, 1, [LogEntry('info', 'Straße', now), LogEntry('info', 'class', now)])
    for run in (alone, mixed):
        assert [line.message for line in RunLog(run.pk, query='straße')] == ['Straße']
        assert [line.message for line in RunLog(run.pk, query='STRASSE')] == []
        assert [line.message for line in RunLog(run.pk, query='ß')] == ['Straße']
        assert 'Straße' not in [line.message for line in RunLog(run.pk, query='ss')]
    assert [line.message for line in RunLog(mixed.pk, query='SS')] == ['class']


def test_the_log_page_numbers_lines_as_the_log_does_when_filtered(script, admin):
    run = new_run(script, admin)
    now = timezone.now()
    write_log_lines(run.pk, 1, [LogEntry('failure' if n % 5 == 0 else 'info', f'n{n}', now) for n in range(1, 21)])
    page = ui_client(admin).get(f'/plugins/custom-scripts/runs/{run.pk}/log/?level=failure&per_page=3',
                                HTTP_HX_REQUEST='true').content.decode()
    numbers = re.findall(r'<td class="text-muted">(\d+)</td>', page)
    assert numbers == ['5', '10', '15']


@pytest.mark.django_db(transaction=True)
def test_long_lines_are_written_in_pieces_while_the_script_logs_and_a_fast_script_is_held_back(script, admin):
    """
    A script that logs long lines faster than the database takes them: the writer writes bounded pieces as they
    come (each committed: live, and a crash loses at most the backlog), and the script waits once the backlog is
    over its limit, so memory stays bounded.
    """
    from netbox_custom_scripts.execution.recorder import LiveRecorder

    run = new_run(script, admin)
    recorder = LiveRecorder(run.pk, backlog_chars=60_000)
    recorder.batch_chars = 20_000
    recorder.start()
    stored_while_logging = []
    try:
        for n in range(300):
            recorder.log(LogEntry('info', f'{n:04d}' + 'x' * 2_000, timezone.now()))
            if n % 50 == 49:
                stored_while_logging.append(RunLog(run.pk).count())
            # Never more than the limit (and a line) waits in memory.
            assert recorder._pending_chars <= 60_000 + 2_004
    finally:
        recorder.stop()
    assert stored_while_logging[-1] >= 300 - 60_000 // 2_004 - 20_000 // 2_004 - 1, stored_while_logging
    chunks = list(RunLogChunk.objects.filter(run=run).order_by('first').values_list('first', 'size'))
    assert max(size for _, size in chunks) <= 20_000 // 2_004 + 1  # no write bigger than a batch
    assert [line.message[:4] for line in RunLog(run.pk)] == [f'{n:04d}' for n in range(300)]
