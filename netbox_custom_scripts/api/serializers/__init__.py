"""The REST API serializers, one module per resource; NetBox finds them here by model name."""
from .migrate_builtin import *
from .modules import *
from .runs import *
from .schedules import *
from .scripts import *
