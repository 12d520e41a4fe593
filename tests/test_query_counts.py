"""
List pages and list endpoints make the same number of SQL queries whatever the number of rows they show (NetBox's
rule against per-row queries): each list is measured with 2 and with 20 rows of its model (after a warm-up request
at each size, so that one-off work such as importing a new module's code is not counted) and the counts must be
equal. A query added per row (a related object not prefetched, a property that reads the database) fails here.
"""
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from netbox_custom_scripts.choices import ModuleSourceChoices
from netbox_custom_scripts.execution import save_source, sync_directory, upload_path
from netbox_custom_scripts.models import Schedule, Script

from .security.helpers import make_run
from .utils import token_header

pytestmark = pytest.mark.django_db

MODULE = """\
from netbox_custom_scripts.scripts import Script


class Probe{index}(Script):
    class Meta:
        description = 'query count probe {index}'

    def run(self, data, commit):
        self.log_info('probe')
"""


def add_module(index, user):
    name = f'qc_probe_{index}'
    return save_source(name, MODULE.format(index=index), source=ModuleSourceChoices.UPLOAD,
                       file_path=upload_path(name), user=user, reject_invalid=True)


def add_script(index, user):
    return add_module(index, user).scripts.get()


def add_run(index, user):
    return make_run(Script.objects.get(module__name='basic', class_name='Hello'), user, marker=f'qc-{index}')


def add_schedule(index, user):
    return Schedule.objects.create(name=f'qc schedule {index}', script=Script.objects.get(
        module__name='basic', class_name='Hello'), user=user, inputs={}, cron=f'{index} 3 * * *')


# How to add one row to each list.
LISTS = {
    'scriptmodule': add_module,
    'script': add_script,
    'scriptrun': add_run,
    'schedule': add_schedule,
}


def shown(objects, response, is_api):
    """Every one of `objects` is a row of the list."""
    if is_api:
        return {row['id'] for row in response.json()['results']} >= {obj.pk for obj in objects}
    page = response.content.decode()
    return all(f'href="{obj.get_absolute_url()}"' in page for obj in objects)


def count_queries(get):
    get()  # warm-up: caches filled, new module code imported, the scripts directory synced
    with CaptureQueriesContext(connection) as context:
        response = get()
    assert response.status_code == 200, response.content[:2000]
    return len(context.captured_queries), response, context.captured_queries


@pytest.mark.parametrize('is_api', [False, True], ids=['page', 'endpoint'])
@pytest.mark.parametrize('kind', sorted(LISTS))
def test_a_list_makes_the_same_queries_for_2_and_for_20_rows(kind, is_api, admin):
    sync_directory()
    if is_api:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token_header(admin))
        url = reverse(f'plugins-api:netbox_custom_scripts-api:{kind}-list') + '?limit=1000'
    else:
        client = Client()
        client.force_login(admin)
        url = reverse(f'plugins:netbox_custom_scripts:{kind}_list') + '?per_page=1000'
    add = LISTS[kind]
    objects = [add(index, admin) for index in range(2)]
    few, response, _ = count_queries(lambda: client.get(url))
    assert shown(objects, response, is_api)
    objects += [add(index, admin) for index in range(2, 20)]
    many, response, queries = count_queries(lambda: client.get(url))
    assert shown(objects, response, is_api)
    assert many == few, (
        f'{kind} list: {few} queries with 2 rows added, {many} with 20:\n'
        + '\n'.join(query['sql'][:300] for query in queries)
    )
