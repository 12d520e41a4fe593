"""
NetBox's own standard test cases (utilities.testing), aimed at the plugin: its URLs live under the `plugins:` and
`plugins-api:` namespaces, which NetBox's cases do not know. Each test module picks the mixins that apply to a model
and writes only the data.

The two list tests that NetBox ties to a query-count baseline file (`<package>/tests/query_counts.json`, which this
package does not ship) run here without that baseline; tests/test_query_counts.py checks instead that a list's
queries do not grow with its rows.
"""
import unittest

from core.models import ObjectType
from users.models import ObjectPermission
from utilities.testing import APIViewTestCases, ViewTestCases
from utilities.testing.api import APITestCase as NetBoxAPITestCase
from utilities.testing.views import ModelViewTestCase as NetBoxModelViewTestCase

APP_LABEL = 'netbox_custom_scripts'


def expected_failure(test):
    """A standard case that is known to fail here (a finding), as an expected failure of one test class only."""
    def method(self):
        return test(self)
    method.__name__, method.__doc__ = test.__name__, test.__doc__
    return unittest.expectedFailure(method)


class PluginViewTestCase(NetBoxModelViewTestCase):
    """The plugin's web views: `plugins:netbox_custom_scripts:<model>_<action>`."""

    def _get_base_url(self):
        return f'plugins:{APP_LABEL}:{self.model._meta.model_name}_{{}}'


class PluginAPITestCase(NetBoxAPITestCase):
    """The plugin's REST API: `plugins-api:netbox_custom_scripts-api:<model>-<list|detail>`."""

    view_namespace = f'plugins-api:{APP_LABEL}'


def _grant_view(test_case, **constraints):
    permission = ObjectPermission(name='Test permission', actions=['view'], constraints=constraints or None)
    permission.save()
    permission.users.add(test_case.user)
    permission.object_types.add(ObjectType.objects.get_for_model(test_case.model))


class ListObjectsViewTestCase(ViewTestCases.ListObjectsViewTestCase):
    def test_list_objects_with_permission(self):
        # NetBox's case, without its query-count baseline (see the module docstring).
        _grant_view(self)
        self.assertHttpStatus(self.client.get(self._get_url('list')), 200)


class APIListObjectsViewTestCase(APIViewTestCases.ListObjectsViewTestCase):
    def test_list_objects(self):
        # NetBox's case, without its query-count baseline (see the module docstring).
        self.assertGreaterEqual(self._get_queryset().count(), 3,
                                f'Test requires the creation of at least three {self.model} instances')
        instance1, instance2 = self._get_queryset()[:2]
        _grant_view(self, pk__in=[instance1.pk, instance2.pk])
        response = self.client.get(self._get_list_url(), **self.header)
        self.assertHttpStatus(response, 200)
        self.assertEqual(len(response.data['results']), 2)
