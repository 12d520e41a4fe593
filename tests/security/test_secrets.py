"""
Secret inputs (SecretVar, and any variable named in Meta.sensitive_variables) reach the script and nothing else.

Contract: a secret given through the web form, the REST API (run and re-run), the CLI (in this process and queued)
or nbshell, and executed by a real `netbox rqworker`, is received by the script (it logs the value's SHA-256 prefix
and, committing, creates a site named after it), and the value itself appears nowhere persistent or visible: not in
a pg_dump of the database (run records, log lines, core Job data and logs, change-log entries, sessions), not in
any key or value of the test Redis databases (queued RQ job payloads decompressed, the RunScriptJob `request`
included: only the sealed, encrypted token travels), not in the worker's log, not in any API response or page
about the run, and not in the CLI's output. The re-run form asks for it again and never pre-fills it; an invalid
submission (form, API or CLI) does not echo it back.

Already covered elsewhere: masking of stored inputs and the password widget (tests/test_variables.py), an
in-process run's record (tests/test_runs.py::test_secret_is_never_stored), secrets refused for schedules
(tests/test_api_runs.py::test_secret_inputs_cannot_be_scheduled), the re-run pre-fill of stored inputs
(tests/test_inputs.py::test_rerun_form_is_prefilled_without_secrets_or_files).
"""
import hashlib
import json
import os
import re
import secrets
import subprocess
import zlib
from urllib.parse import urlencode

import pytest
from core.models import Job, ObjectChange
from dcim.models import Site
from django.conf import settings

from netbox_custom_scripts.choices import RunStatusChoices
from netbox_custom_scripts.execution import SECRET_MASK
from netbox_custom_scripts.execution.secrets import unseal
from netbox_custom_scripts.management.commands.custom_scripts import EXIT_REFUSED
from netbox_custom_scripts.models import Script, ScriptRun

from ..utils import REPO, cli, finished, make_user
from .helpers import API, api_client, register_fixture, ui_client

PROBE = 'secret_probe.SecretProbe'


def new_secrets(channel):
    """Distinctive random values: where one turns up says which entry point let it out."""
    return {
        'password': f'PW-{channel}-{secrets.token_hex(12)}',
        'api_key': f'key-{secrets.token_hex(16)}',  # the probe's regex: key-<hex>
    }


def digest(value):
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def needles(values):
    """The encodings a value could be stored in: as text, and as PostgreSQL's hex form of bytea columns."""
    return {value: (value.encode(), value.encode().hex().encode()) for value in values}


def find_leaks(values, haystacks):
    """[(value, where)] for every secret value found in any of the named haystacks (str or bytes)."""
    leaks = []
    for value, forms in needles(values).items():
        for where, haystack in haystacks.items():
            data = haystack.encode(errors='replace') if isinstance(haystack, str) else haystack
            if any(form in data for form in forms):
                leaks.append((value, where))
    return leaks



def pg_dump():
    """A plain-text dump of the whole test database, made the way settings.DATABASES connects."""
    db = settings.DATABASES['default']
    env = dict(os.environ, PGPASSWORD=db['PASSWORD'] or '')
    result = subprocess.run(
        ['pg_dump', '--no-owner', '--no-privileges', '-h', db['HOST'] or '127.0.0.1', '-p', str(db['PORT'] or 5432),
         '-U', db['USER'], '-d', db['NAME']],
        env=env, capture_output=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def redis_connections():
    """The test Redis databases (tasks: RQ; caching: Django's cache), never any other."""
    import django_rq
    from django_redis import get_redis_connection

    tasks, caching = django_rq.get_connection('default'), get_redis_connection('default')
    numbers = {conn.connection_pool.connection_kwargs['db'] for conn in (tasks, caching)}
    assert numbers == {settings.REDIS['tasks']['DATABASE'], settings.REDIS['caching']['DATABASE']}
    return {'tasks': tasks, 'caching': caching}


def _values(conn, key):
    kind = conn.type(key).decode()
    if kind == 'string':
        return [conn.get(key)]
    if kind == 'hash':
        return [part for pair in conn.hgetall(key).items() for part in pair]
    if kind == 'list':
        return conn.lrange(key, 0, -1)
    if kind == 'set':
        return list(conn.smembers(key))
    if kind == 'zset':
        return [member for member, __ in conn.zrange(key, 0, -1, withscores=True)]
    if kind == 'stream':
        return [part for __, fields in conn.xrange(key) for pair in fields.items() for part in pair]
    return []


def redis_dump():
    """Every key and value of the test Redis databases, with zlib-compressed values (RQ job payloads) inflated."""
    dump = {}
    for name, conn in redis_connections().items():
        for key in conn.scan_iter(count=1000):
            values = [key, *(value for value in _values(conn, key) if value is not None)]
            blob = []
            for value in values:
                blob.append(value)
                try:
                    blob.append(zlib.decompress(value))
                except zlib.error:
                    pass
            dump[f'redis {name} {key.decode(errors="replace")}'] = b'\n'.join(blob)
    return dump


def worker_log():
    try:
        with open(os.path.join(REPO, '.netbox', 'test-rqworker.log'), 'rb') as f:
            return f.read()
    except OSError:
        return b''


def rq_job(run):
    import django_rq
    from rq.job import Job as RQJob

    return RQJob.fetch(str(run.job.job_id), connection=django_rq.get_connection('default'))


@pytest.fixture
def probe():
    return register_fixture('secret_probe', 'secret_probe.py').scripts.get()


def assert_received(run, values, committed):
    """The script got the values: its log has their digests, and a committed run created the site named by one."""
    assert run.status == RunStatusChoices.COMPLETED, (run.error, run.traceback)
    messages = [line.message for line in run.log_entries]
    assert f'password sha256 {digest(values["password"])} length {len(values["password"])}' in messages, messages
    assert f'api_key sha256 {digest(values["api_key"])} length {len(values["api_key"])}' in messages, messages
    assert Site.objects.filter(name=f'probe-{digest(values["password"])}').exists() is committed
    assert run.inputs['password'] == SECRET_MASK and run.inputs['api_key'] == SECRET_MASK


@pytest.mark.django_db(transaction=True)
def test_secrets_reach_the_script_and_nothing_else(rq_worker, probe, admin):
    from netbox_custom_scripts import run_script

    ui, api = ui_client(admin), api_client(admin)
    given, runs, outputs = {}, {}, {}

    given['ui'] = new_secrets('ui')
    response = ui.post(probe.get_absolute_url(), {'label': 'ui', '_commit': 'on', **given['ui']})
    assert response.status_code == 302, response.content.decode()[:2000]
    runs['ui'] = ScriptRun.objects.filter(script=probe).latest('pk')

    given['api'] = new_secrets('api')
    response = api.post(f'{API}/scripts/{PROBE}/run/', {'data': {'label': 'api', **given['api']}, 'commit': True},
                        format='json')
    assert response.status_code == 201, response.content
    runs['api'] = ScriptRun.objects.get(pk=response.json()['id'])
    outputs['api run response'] = response.content

    given['api_rerun'] = new_secrets('rerun')
    response = api.post(f'{API}/runs/{runs["api"].pk}/rerun/', {'data': given['api_rerun']}, format='json')
    assert response.status_code == 201, response.content
    runs['api_rerun'] = ScriptRun.objects.get(pk=response.json()['id'])
    outputs['api rerun response'] = response.content

    given['cli_background'] = new_secrets('clibg')
    status, out, err = cli('run', PROBE, '--user', admin.username, '--commit', '--background', '--wait',
                           '--data', json.dumps({'label': 'cli-bg', **given['cli_background']}))
    assert status == 0, err
    runs['cli_background'] = ScriptRun.objects.filter(script=probe).latest('pk')
    outputs['cli background output'] = out + err

    given['nbshell'] = new_secrets('shell')
    runs['nbshell'] = run_script(PROBE, data={'label': 'shell', **given['nbshell']}, user=admin, commit=True,
                                 background=True)

    # In this process: no RQ job, the CLI follows its log as it is written.
    given['cli'] = new_secrets('cli')
    status, out, err = cli('run', PROBE, '--user', admin.username, '--commit', '--json',
                           '--data', json.dumps({'label': 'cli', **given['cli']}))
    assert status == 0, err
    runs['cli'] = ScriptRun.objects.filter(script=probe).latest('pk')
    outputs['cli output'] = out + err

    for channel, run in runs.items():
        runs[channel] = finished(run.pk)
        assert_received(runs[channel], given[channel], committed=True)
    every_value = [value for values in given.values() for value in values.values()]

    # What queued runs carried to the worker: only a sealed token (which does hold the values), and a request
    # without them.
    for channel in ('ui', 'api', 'api_rerun', 'cli_background', 'nbshell'):
        job = rq_job(runs[channel])
        assert unseal(job.kwargs['sealed_secrets']) == given[channel]
        request = job.kwargs['request'] or {}
        # Plain data only: no user (with its password hash), cookies or files travel in the queued job.
        assert isinstance(request, dict) and not {'user', 'COOKIES', 'FILES'} & set(request), request
        assert not set(given[channel]) & set(request.get('POST') or {}), request.get('POST')
        outputs[f'{channel} RunScriptJob request'] = repr(request)
        outputs[f'{channel} RunScriptJob description'] = job.description or ''

    # Everything a user or client can read about the runs.
    for run in runs.values():
        for path in ('', 'log/', 'changes/', 'files/', 'output/'):
            response = api.get(f'{API}/runs/{run.pk}/{path}')
            assert response.status_code == 200
            outputs[f'API runs/{run.pk}/{path}'] = response.content
        for path in ('', 'log/', 'changes/', 'output/', 'status/'):
            response = ui.get(f'{run.get_absolute_url()}{path}')
            assert response.status_code == 200
            outputs[f'page runs/{run.pk}/{path}'] = response.content
    outputs['API runs list'] = api.get(f'{API}/runs/').content
    outputs['page runs list'] = ui.get('/plugins/custom-scripts/runs/').content
    outputs['page script'] = ui.get(probe.get_absolute_url()).content
    outputs['GraphQL runs'] = api.post('/graphql/', {'query': '{ custom_script_run_list { inputs output error } }'},
                                       format='json').content

    # Core jobs (their data, error and log) and the change log of what the runs changed.
    jobs = Job.objects.filter(pk__in=[run.job_id for run in runs.values()])
    assert jobs.count() == len(runs)
    for job in jobs:
        outputs[f'core Job {job.pk}'] = json.dumps([job.data, job.error, job.log_entries], default=str)
    changes = ObjectChange.objects.filter(request_id__in=[run.request_id for run in runs.values()])
    assert changes.filter(changed_object_type__model='site').count() == len(runs)  # each run's site
    for change in changes:
        outputs[f'ObjectChange {change.pk}'] = json.dumps(
            [change.object_repr, change.prechange_data, change.postchange_data, change.message], default=str,
        )

    leaks = find_leaks(every_value, outputs)
    assert not leaks, leaks

    # The re-run form: the other inputs pre-filled, the secrets asked for again.
    page = ui.get(f'{probe.get_absolute_url()}?rerun={runs["ui"].pk}').content.decode()
    assert re.search(r'<input[^>]*name="label"[^>]*value="ui"', page)
    for name in ('password', 'api_key'):
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        assert 'value=' not in field, field
    assert not find_leaks(every_value, {'re-run form': page})

    # Everything persistent: the database, both test Redis databases (RQ jobs inflated), the worker's log.
    dump = pg_dump()
    assert digest(given['ui']['password']).encode() in dump  # the dump holds the runs' log lines
    store = redis_dump()
    job_key = f'redis tasks rq:job:{runs["api"].job.job_id}'
    assert job_key in store and b'sealed_secrets' in store[job_key]  # queued payloads are searched, inflated
    leaks = find_leaks(every_value, {'pg_dump': dump, **store, 'worker log': worker_log()})
    assert not leaks, leaks


@pytest.mark.parametrize('encoding', ['multipart', 'urlencoded'])
@pytest.mark.django_db
def test_secrets_in_an_api_form_body_stay_out_of_the_queued_job(probe, admin, encoding,
                                                                django_capture_on_commit_callbacks):
    """What a form-encoded API run queues in Redis (RQ enqueues on commit: the callbacks are executed here)."""
    values = new_secrets(encoding)
    fields = {'data': json.dumps({'label': encoding, **values}), 'commit': 'true'}
    api = api_client(admin)
    with django_capture_on_commit_callbacks(execute=True):
        if encoding == 'multipart':
            response = api.post(f'{API}/scripts/{PROBE}/run/', fields, format='multipart')
        else:
            response = api.generic('POST', f'{API}/scripts/{PROBE}/run/', urlencode(fields),
                                   content_type='application/x-www-form-urlencoded')
    assert response.status_code == 201, response.content
    job = rq_job(ScriptRun.objects.get(pk=response.json()['id']))
    assert unseal(job.kwargs['sealed_secrets']) == values  # the values did travel, sealed
    request = job.kwargs['request'] or {}
    leaks = find_leaks(values.values(), {
        'RunScriptJob request': repr(request), **redis_dump(),
    })
    assert not leaks, leaks


#
# Refused submissions do not echo secrets back
#

def invalid_ui_submission(probe, user, values):
    # The label is too long: the form comes back with its errors.
    return ui_client(user).post(probe.get_absolute_url(), {'label': 'x' * 30, **values})


@pytest.mark.django_db
@pytest.mark.parametrize('name', [
    'password',
    'api_key',
])
def test_an_invalid_form_does_not_echo_the_secret(probe, admin, name):
    values = new_secrets('form')
    response = invalid_ui_submission(probe, admin, values)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'at most 20 characters' in page  # the form came back with its error
    assert not ScriptRun.objects.exists()
    assert not find_leaks([values[name]], {'form page': page})


@pytest.mark.django_db
def test_invalid_api_and_cli_submissions_do_not_echo_secrets(probe, admin):
    values = new_secrets('invalid')
    short = f'PW{secrets.token_hex(4)}x'  # 11 characters: below the probe's min_length of 12
    client = api_client(admin)
    for payload in (
        {'data': {'label': 'x' * 30, **values}},
        {'data': {'label': 'ok', 'password': short, 'api_key': values['api_key']}},
        {'data': {'label': 'ok', 'password': values['password'], 'api_key': values['api_key'] + '-not-hex'}},
        {'data': {'label': 'ok', **values, 'unknown': values['password']}},
    ):
        response = client.post(f'{API}/scripts/{PROBE}/run/', payload, format='json')
        assert response.status_code == 400, response.content
        leaks = find_leaks([values['password'], values['api_key'], short, values['api_key'] + '-not-hex'],
                           {'API 400': response.content})
        assert not leaks, (payload, response.content)
    status, out, err = cli('run', PROBE, '--user', admin.username, '--data',
                           json.dumps({'label': 'x' * 30, **values}))
    assert status == EXIT_REFUSED and 'at most 20 characters' in err
    assert not find_leaks(values.values(), {'CLI': out + err})
    assert not ScriptRun.objects.exists()


@pytest.mark.django_db
def test_a_rerun_asks_for_the_secrets_again(probe, admin):
    from .helpers import make_run

    run = make_run(probe, admin, inputs={'label': 'again', 'password': SECRET_MASK, 'api_key': SECRET_MASK},
                   marker='again')
    # "Run again" from the run page sends the user to the form, which asks for them.
    response = ui_client(admin).post(f'{run.get_absolute_url()}rerun/')
    assert response.status_code == 302 and response['Location'] == f'{probe.get_absolute_url()}?rerun={run.pk}'
    response = api_client(admin).post(f'{API}/runs/{run.pk}/rerun/', {}, format='json')
    assert response.status_code == 400
    assert set(response.json()['data']) == {'password', 'api_key'}
    assert ScriptRun.objects.count() == 1


def test_find_leaks_sees_every_encoding():
    value = 'PW-x-0123'
    assert find_leaks([value], {'text': f'a {value} b'}) == [(value, 'text')]
    assert find_leaks([value], {'bytea': b'\\x' + value.encode().hex().encode()}) == [(value, 'bytea')]
    assert find_leaks([value], {'zlib': zlib.compress(value.encode())}) == []  # hence redis_dump() inflates


@pytest.mark.django_db
def test_a_queued_job_carries_identities_only(probe, django_capture_on_commit_callbacks):
    # RQ keeps a failed job in Redis for a year: its payload must hold no password hash and no module source.
    user = make_user('sec-payload-user', (Script, ['view', 'run']))
    user.set_password('a-password-whose-hash-must-not-travel')
    user.save()
    with django_capture_on_commit_callbacks(execute=True):  # the job reaches Redis when the run is committed
        response = api_client(user).post(f'{API}/scripts/{probe.pk}/run/', {'data': {
            'label': 'payload', 'password': 'correct-horse-battery', 'api_key': 'key-00ff',
        }}, format='json')
    assert response.status_code == 201, response.content
    job = rq_job(ScriptRun.objects.get(pk=response.json()['id']))
    payload = zlib.decompress(job.connection.hget(job.key, 'data'))
    assert user.password.encode() not in payload and user.password.split('$')[-1].encode() not in payload
    assert probe.module.current_revision.source_code.encode()[:200] not in payload
    core_job = job.kwargs['job']
    assert core_job.user.password == '' and core_job.user_id == user.pk  # a stand-in with the user's ID and name
    assert core_job.object_id == probe.pk


@pytest.mark.django_db
def test_secrets_pre_filled_in_the_url_stay_out_of_the_queued_job(probe, admin, django_capture_on_commit_callbacks):
    # The run form is posted back to its own URL, which may pre-fill inputs: ?password=... must not travel to Redis.
    url = f'{probe.get_absolute_url()}?label=prefill&password=url-secret-0x1234&api_key=key-0badf00d'
    client = ui_client(admin)
    page = client.get(url).content.decode()
    assert 'url-secret-0x1234' not in page and 'key-0badf00d' not in page  # secrets are never pre-filled
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {'label': 'prefill', 'password': 'form-secret-0x5678', 'api_key': 'key-00ff'},
                               HTTP_REFERER=f'http://testserver{url}')
    assert response.status_code == 302
    run = ScriptRun.objects.get()
    job = rq_job(run)
    payload = zlib.decompress(job.connection.hget(job.key, 'data'))
    for secret in (b'url-secret-0x1234', b'key-0badf00d', b'form-secret-0x5678', b'key-00ff'):
        assert secret not in payload, secret
    request = job.kwargs['request']
    assert request['GET'] == {'label': ['prefill']} and request['META']['QUERY_STRING'] == 'label=prefill'
    assert '?' not in request['META']['HTTP_REFERER']
