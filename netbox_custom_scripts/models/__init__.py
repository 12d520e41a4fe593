from .event_rules import *
from .modules import *
from .run_log import *
from .run_records import *
from .runs import *
from .schedules import *
from .scripts import *
