from .filtersets import *
from .schedules import *
