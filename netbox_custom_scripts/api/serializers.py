from .serializers_.modules import *
from .serializers_.runs import *
from .serializers_.scripts import *
