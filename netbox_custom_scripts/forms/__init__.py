from .filtersets import *
from .run import *
from .schedules import *
