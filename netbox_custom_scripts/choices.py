from django.utils.translation import gettext_lazy as _
from utilities.choices import ChoiceSet


class ModuleSourceChoices(ChoiceSet):
    """Where a script module's source comes from."""
    UPLOAD = 'upload'
    DIRECTORY = 'directory'
    DATA_SOURCE = 'data-source'

    CHOICES = (
        (UPLOAD, _('Upload'), 'blue'),
        (DIRECTORY, _('Directory'), 'purple'),
        (DATA_SOURCE, _('Data source'), 'cyan'),
    )


class ModuleStatusChoices(ChoiceSet):
    """Whether a module's current revision imported cleanly."""
    OK = 'ok'
    ERROR = 'error'
    MISSING = 'missing'

    CHOICES = (
        (OK, _('OK'), 'green'),
        (ERROR, _('Error'), 'red'),
        (MISSING, _('Missing'), 'gray'),
    )
