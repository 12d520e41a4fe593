from .modules import *
from .root import *
from .runs import *
from .scripts import *
