from typing import Annotated

import strawberry
import strawberry_django
from netbox.graphql.types import NetBoxObjectType, ObjectType, register_type

from .. import models

__all__ = (
    'CustomScriptModuleType',
    'CustomScriptRunType',
    'CustomScriptType',
)

# Named apart from NetBox's own ScriptType and ScriptModuleType.


@register_type(models.ScriptModule, fields='__all__', pagination=True)
class CustomScriptModuleType(NetBoxObjectType):
    scripts: list[Annotated['CustomScriptType', strawberry.lazy('netbox_custom_scripts.graphql.types')]]

    @strawberry_django.field
    def content_hash(self) -> str:
        return self.content_hash


@register_type(models.Script, fields='__all__', pagination=True)
class CustomScriptType(NetBoxObjectType):
    module: Annotated['CustomScriptModuleType', strawberry.lazy('netbox_custom_scripts.graphql.types')]

    @strawberry_django.field
    def full_name(self) -> str:
        return self.full_name


@register_type(models.ScriptRun, exclude=['traceback'], pagination=True)
class CustomScriptRunType(ObjectType):
    script: Annotated['CustomScriptType', strawberry.lazy('netbox_custom_scripts.graphql.types')] | None


