from .modules import *
from .runs import *
from .scripts import *
