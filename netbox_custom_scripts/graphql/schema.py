import strawberry
import strawberry_django

from .types import CustomScriptModuleType, CustomScriptRunType, CustomScriptType


@strawberry.type(name='Query')
class CustomScriptsQuery:
    custom_script_module: CustomScriptModuleType = strawberry_django.field()
    custom_script_module_list: list[CustomScriptModuleType] = strawberry_django.field()
    custom_script: CustomScriptType = strawberry_django.field()
    custom_script_list: list[CustomScriptType] = strawberry_django.field()
    custom_script_run: CustomScriptRunType = strawberry_django.field()
    custom_script_run_list: list[CustomScriptRunType] = strawberry_django.field()


schema = [
    CustomScriptsQuery,
]
