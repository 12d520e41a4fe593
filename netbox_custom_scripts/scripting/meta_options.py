"""
The Meta options of a Script as its author reads them (`Script.name`, `Script.commit_default`, ...), with NetBox's
names and values: a mixin of BaseScript. A variable of the same name shadows one, as on NetBox; the plugin itself
reads options with meta.script_options(), which no variable can shadow.
"""
from django.core.exceptions import ValidationError
from django.utils.functional import classproperty
from django.utils.translation import gettext as _

from .meta import meta_value, parse_duration, script_options
from .vocabulary import NOTIFICATION_CHOICES

__all__ = (
    'MetaOptions',
)

# Tells an argument left out from an explicit None (validate_meta, as NetBox's).
_UNSET = object()


class MetaOptions:
    # Meta options, for script authors as on NetBox (a variable of the same name shadows them, as on NetBox). The
    # plugin reads them with script_options().

    @classmethod
    def _meta_option(cls, option):
        return meta_value(cls, option)

    @classproperty
    def name(cls):
        return script_options(cls).name

    @classproperty
    def description(cls):
        return script_options(cls).description

    @classproperty
    def field_order(cls):
        return meta_value(cls, 'field_order')

    @classproperty
    def fieldsets(cls):
        return meta_value(cls, 'fieldsets')

    @classproperty
    def commit_default(cls):
        return meta_value(cls, 'commit_default')

    @classproperty
    def scheduling_enabled(cls):
        return meta_value(cls, 'scheduling_enabled')

    @classproperty
    def job_timeout(cls):
        return meta_value(cls, 'job_timeout')

    @classproperty
    def notifications_default(cls):
        return meta_value(cls, 'notifications_default')

    @classproperty
    def hidden(cls):
        return meta_value(cls, 'hidden')

    @classproperty
    def singleton(cls):
        return meta_value(cls, 'singleton')

    @classproperty
    def queue(cls):
        return meta_value(cls, 'queue')

    @classproperty
    def sensitive_variables(cls):
        return script_options(cls).sensitive_variables

    @classproperty
    def object_types(cls):
        return script_options(cls).object_types

    @classproperty
    def approval_required(cls):
        return meta_value(cls, 'approval_required')

    @classproperty
    def commit_requires_permission(cls):
        return meta_value(cls, 'commit_requires_permission')

    @classproperty
    def run_mode(cls):
        return meta_value(cls, 'run_mode')

    @classproperty
    def allowed_queues(cls):
        return script_options(cls).allowed_queues

    @classmethod
    def job_timeout_seconds(cls):
        """Meta.job_timeout as seconds (it may be given as an RQ duration string such as '1h'), or None."""
        return script_options(cls).job_timeout_seconds

    @classmethod
    def max_runtime_seconds(cls):
        """Meta.max_runtime as seconds, or None."""
        return script_options(cls).max_runtime_seconds

    @classmethod
    def rate_limit(cls):
        """Meta.rate_limit as (count, period in seconds), or None when unset or malformed."""
        return script_options(cls).rate_limit

    @classmethod
    def validate_meta(cls, job_timeout=_UNSET, notifications=_UNSET):
        """
        As NetBox's: raise django.core.exceptions.ValidationError when the run about to be queued cannot use the
        job_timeout (the given one, or Meta's) or notifications (likewise).
        """
        errors = {}
        timeout = meta_value(cls, 'job_timeout') if job_timeout is _UNSET else job_timeout
        if timeout is not None and parse_duration(timeout) is None:
            errors['job_timeout'] = _(
                "Invalid job_timeout value {value!r}: must be a positive number of seconds or a duration such as "
                "'1h' or '30m'."
            ).format(value=timeout)
        if notifications is _UNSET or notifications is None:
            notifications = meta_value(cls, 'notifications_default')
        if notifications not in NOTIFICATION_CHOICES:
            errors['notifications_default'] = _('Invalid notifications value {value!r}: must be one of {choices}.'
                                                ).format(value=notifications, choices=', '.join(NOTIFICATION_CHOICES))
        if errors:
            raise ValidationError(errors)
