from .modules import *
from .runs import *
from .schedules import *
from .scripts import *
