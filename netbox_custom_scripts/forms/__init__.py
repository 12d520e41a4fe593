from .filtersets import *
