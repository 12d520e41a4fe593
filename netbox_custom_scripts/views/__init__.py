from .modules import *
from .scripts import *
