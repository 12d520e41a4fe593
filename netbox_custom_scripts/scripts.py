"""`from netbox_custom_scripts.scripts import *`: the authoring API under the name NetBox users know."""
from .scripting import *  # noqa: F403
from .scripting import __all__  # noqa: F401
