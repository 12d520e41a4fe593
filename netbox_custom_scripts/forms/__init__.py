from .filtersets import *
from .model_forms import *
from .run import *
from .schedules import *
