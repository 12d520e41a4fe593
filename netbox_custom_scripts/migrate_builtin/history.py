"""
History (`--history`): each finished built-in job becomes a read-only ScriptRun started from 'imported', with the
job's status, user, times, log lines (the run's log chunks, report-style test logs with their test name), output and
error, and `imported_job_id` set to the job's ID (unique: a job is imported once). Stock NetBox keeps no inputs for
a finished job, so imported runs have none; whether it committed is read from the job's own log ("Executing script
(commit enabled)").
"""
from collections import Counter

from core.choices import JobStatusChoices
from core.models import Job, ObjectType
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from ..choices import LogLevelChoices, RunSourceChoices, RunStatusChoices
from ..models import Script, ScriptRun, write_log_lines
from ..scripting.log import LogEntry

__all__ = ('finished_jobs', 'import_jobs', 'plan_history')

FINISHED = {
    JobStatusChoices.STATUS_COMPLETED: RunStatusChoices.COMPLETED,
    JobStatusChoices.STATUS_FAILED: RunStatusChoices.FAILED,
    JobStatusChoices.STATUS_ERRORED: RunStatusChoices.ERRORED,
}
LEVELS = set(LogLevelChoices.values())
BATCH = 1000


def finished_jobs(builtin_module):
    from extras.models import Script as BuiltinScript

    return Job.objects.filter(
        object_type=ObjectType.objects.get_for_model(BuiltinScript, for_concrete_model=False),
        object_id__in=builtin_module.scripts.values_list('pk', flat=True),
        status__in=list(FINISHED),
    ).order_by('pk')


def plan_history(plan):
    jobs = finished_jobs(plan.builtin)
    total = jobs.count()
    if not total:
        return
    imported = set(ScriptRun.objects.filter(imported_job_id__in=jobs.values('pk')).values_list(
        'imported_job_id', flat=True))
    remaining = [job_id for job_id in jobs.values_list('pk', flat=True) if job_id not in imported]
    plan.add('history', _('{n} finished jobs of module {name}').format(n=total, name=plan.name), None,
             'copy' if remaining else 'already_done',
             _('{n} imported runs').format(n=total),
             _('{n} still to import; imported runs have no inputs (stock NetBox keeps none).').format(
                 n=len(remaining)) if remaining else '')
    plan.history = remaining


def _entries(job):
    """(level, time, message, object repr, url, test) for each line of a stock job's data."""
    data = job.data if isinstance(job.data, dict) else {}
    for line in data.get('log') or []:
        if isinstance(line, dict):
            yield (line.get('status'), line.get('time'), line.get('message'), line.get('obj'), line.get('url'), '')
    for test, result in (data.get('tests') or {}).items():
        for line in (result or {}).get('log') or []:
            if isinstance(line, (list, tuple)) and len(line) == 5:  # (time, status, obj, url, message)
                time, status, obj, url, message = line
                yield (status, time, message, obj, url, test)


def _committed(job):
    return any('commit enabled' in str(entry.get('message', '')) for entry in job.log_entries or []
               if isinstance(entry, dict))


def import_jobs(plan, job_ids):
    """Create the imported runs of `job_ids` (in the module's transaction). Returns how many."""
    from extras.models import Script as BuiltinScript

    names = dict(BuiltinScript.objects.filter(module=plan.builtin).values_list('pk', 'name'))
    scripts = {script.class_name: script for script in Script.objects.filter(module__name=plan.name)}
    count = 0
    for start in range(0, len(job_ids), BATCH):
        for job in Job.objects.filter(pk__in=job_ids[start:start + BATCH]).order_by('pk'):
            class_name = names.get(job.object_id, job.name)
            data = job.data if isinstance(job.data, dict) else {}
            output = data.get('output')
            run = ScriptRun.objects.create(
                script=scripts.get(class_name),
                script_name=f'{plan.name}.{class_name}',
                user=job.user,
                source=RunSourceChoices.IMPORTED,
                inputs={},
                commit=_committed(job),
                queue=job.queue_name or '',
                status=FINISHED[job.status],
                scheduled_at=job.scheduled,
                started=job.started,
                completed=job.completed,
                output='' if output is None else str(output),
                error=job.error or '',
                notifications=job.notifications or 'always',
                imported_job_id=job.pk,
            )
            lines = []
            for level, time, message, obj, url, test in _entries(job):
                lines.append(LogEntry(
                    level=level if level in LEVELS else LogLevelChoices.INFO,
                    time=(parse_datetime(time) if isinstance(time, str) else None) or job.completed or job.created,
                    message='' if message is None else str(message), object_repr=str(obj or '')[:200],
                    object_url=str(url or '')[:500], test=str(test)[:100],
                ))
            write_log_lines(run.pk, 1, lines)
            # The run's own dates are the job's, not the import's.
            ScriptRun.objects.filter(pk=run.pk).update(
                created=job.created, log_counts=dict(Counter(line.level for line in lines)),
            )
            count += 1
    return count
