from .modules import *
from .root import *
from .runs import *
from .schedules import *
from .scripts import *
