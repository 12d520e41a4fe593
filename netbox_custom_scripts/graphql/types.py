from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from django.db.models import CharField, F, Value
from django.db.models.functions import Concat
from graphql import GraphQLError
from netbox.graphql.types import NetBoxObjectType, ObjectType, register_type
from strawberry.scalars import JSON

from .. import models
from ..execution import summarised_inputs

if TYPE_CHECKING:
    from core.graphql.types import DataFileType, DataSourceType
    from users.graphql.types import UserType

__all__ = (
    'CustomScriptModuleType',
    'CustomScriptRunType',
    'CustomScriptType',
)

# Named apart from NetBox's own ScriptType and ScriptModuleType.


# The data source trust of a module is internal state (a keyed hash and its time), not for clients. Its revisions have
# no GraphQL type (their source is read through the REST API's revisions endpoint): `content_hash` says which one runs.
@register_type(
    models.ScriptModule, exclude=['source_trust', 'source_trusted_since', 'current_revision', 'pending_revision'],
    pagination=True,
)
class CustomScriptModuleType(NetBoxObjectType):
    scripts: list[Annotated['CustomScriptType', strawberry.lazy('netbox_custom_scripts.graphql.types')]]
    # NetBox's own types (each restricted to what the user may view, as on NetBox).
    data_source: Annotated['DataSourceType', strawberry.lazy('core.graphql.types')] | None
    data_file: Annotated['DataFileType', strawberry.lazy('core.graphql.types')] | None

    @strawberry_django.field(annotate={'graphql_content_hash': F('current_revision__content_hash')})
    def content_hash(self) -> str:
        # Annotated: read row by row, the revision would cost a query per module.
        if hasattr(self, 'graphql_content_hash'):
            return self.graphql_content_hash or ''
        return self.content_hash


@register_type(models.Script, fields='__all__', pagination=True)
class CustomScriptType(NetBoxObjectType):
    # Null when the user may not view the module (its prefetch is restricted like any NetBox relation).
    module: Annotated['CustomScriptModuleType', strawberry.lazy('netbox_custom_scripts.graphql.types')] | None

    @strawberry_django.field(annotate={
        'graphql_full_name': Concat(F('module__name'), Value('.'), F('class_name'), output_field=CharField()),
    })
    def full_name(self) -> str:
        # The script's identity, shown (as in the REST API) whether or not the user may view its module: it is
        # annotated in the query, since `module` may have been prefetched as null for this user.
        if hasattr(self, 'graphql_full_name'):
            return self.graphql_full_name
        module_name = models.ScriptModule.objects.filter(pk=self.module_id).values_list('name', flat=True).first()
        return f'{module_name}.{self.class_name}'


def _in_a_list(info):
    path = info.path
    while path is not None:
        if isinstance(path.key, int):  # an item of a list
            return True
        path = path.prev
    return False


# Revisions, schedules and NetBox's jobs have no GraphQL type (a run's content_hash names the code it ran), and a run
# leading to another run would be a loop (graphql/bounds.py refuses those): the REST API has all of them.
@register_type(
    models.ScriptRun, pagination=True,
    exclude=['traceback', 'output', 'inputs', 'revision', 'schedule', 'job', 'rerun_of', 'approval_of'],
)
class CustomScriptRunType(ObjectType):
    script: Annotated['CustomScriptType', strawberry.lazy('netbox_custom_scripts.graphql.types')] | None
    # NetBox's own types (each restricted to what the user may view, as on NetBox).
    user: Annotated['UserType', strawberry.lazy('users.graphql.types')] | None
    reviewed_by: Annotated['UserType', strawberry.lazy('users.graphql.types')] | None

    @strawberry_django.field(only=['output'])
    def output(self, info: strawberry.Info) -> str | None:
        # Up to max_output_size per run: a list of runs (with aliases) would return that many times over.
        if _in_a_list(info):
            raise GraphQLError("A run's output is returned for one run at a time: custom_script_run(id: ...).")
        return self.output

    @strawberry_django.field(only=['inputs'])
    def inputs(self, info: strawberry.Info) -> JSON:
        # As in the REST API's run list: long values summarised in lists, whole for one run.
        return summarised_inputs(self.inputs) if _in_a_list(info) else self.inputs
