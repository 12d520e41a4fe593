import strawberry
import strawberry_django

from .bounds import QueryBounds
from .types import CustomScriptModuleType, CustomScriptRunType, CustomScriptType


def query_field():
    # Each query field checks the whole operation's depth and width before anything is loaded (see bounds.py).
    return strawberry_django.field(extensions=[QueryBounds()])


@strawberry.type(name='Query')
class CustomScriptsQuery:
    custom_script_module: CustomScriptModuleType = query_field()
    custom_script_module_list: list[CustomScriptModuleType] = query_field()
    custom_script: CustomScriptType = query_field()
    custom_script_list: list[CustomScriptType] = query_field()
    custom_script_run: CustomScriptRunType = query_field()
    custom_script_run_list: list[CustomScriptRunType] = query_field()


schema = [
    CustomScriptsQuery,
]
