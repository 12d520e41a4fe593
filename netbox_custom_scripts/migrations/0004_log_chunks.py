"""The log moves from a row per line (RunLogEntry) to rows of up to 500 lines (RunLogChunk); existing logs are kept."""
import json

import django.db.models.deletion
from django.db import migrations, models

CHUNK_SIZE = 500
LEVELS = ('debug', 'info', 'success', 'warning', 'failure')


def _chunk(run_id, first, rows):
    counts = dict.fromkeys(LEVELS, 0)
    lines = []
    for level, time, message, type_id, object_id, object_repr, object_url, test in rows:
        counts[level] = counts.get(level, 0) + 1
        line = [level, time.isoformat(), message]
        extras = [type_id, object_id, object_repr, object_url, test]
        if any(extras):
            line.extend(extras)
            while not line[-1]:
                line.pop()
        lines.append(line)
    return {
        'run_id': run_id, 'first': first, 'size': len(rows),
        'lines': json.dumps(lines, ensure_ascii=False, separators=(',', ':')),
        **{level: counts[level] for level in LEVELS},
    }


def entries_to_chunks(apps, schema_editor):
    RunLogEntry = apps.get_model('netbox_custom_scripts', 'RunLogEntry')
    RunLogChunk = apps.get_model('netbox_custom_scripts', 'RunLogChunk')
    run_ids = RunLogEntry.objects.values_list('run_id', flat=True).distinct().order_by('run_id')
    for run_id in run_ids.iterator():
        entries = RunLogEntry.objects.filter(run_id=run_id).order_by('id').values_list(
            'level', 'time', 'message', 'object_type_id', 'object_id', 'object_repr', 'object_url', 'test')
        batch, chunks, first = [], [], 1
        for row in entries.iterator(chunk_size=CHUNK_SIZE * 4):
            batch.append(row)
            if len(batch) == CHUNK_SIZE:
                chunks.append(RunLogChunk(**_chunk(run_id, first, batch)))
                first += len(batch)
                batch = []
            if len(chunks) >= 20:
                RunLogChunk.objects.bulk_create(chunks)
                chunks = []
        if batch:
            chunks.append(RunLogChunk(**_chunk(run_id, first, batch)))
        RunLogChunk.objects.bulk_create(chunks)


class Migration(migrations.Migration):

    dependencies = [
        ('netbox_custom_scripts', '0003_warnings_imported_runs'),
    ]

    operations = [
        migrations.CreateModel(
            name='RunLogChunk',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('first', models.PositiveIntegerField()),
                ('size', models.PositiveIntegerField()),
                ('debug', models.PositiveIntegerField(default=0)),
                ('info', models.PositiveIntegerField(default=0)),
                ('success', models.PositiveIntegerField(default=0)),
                ('warning', models.PositiveIntegerField(default=0)),
                ('failure', models.PositiveIntegerField(default=0)),
                ('lines', models.TextField()),
                ('run', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                          related_name='log_chunks', to='netbox_custom_scripts.scriptrun')),
            ],
            options={
                'verbose_name': 'log chunk',
                'verbose_name_plural': 'log chunks',
                'ordering': ('run', 'first'),
                'constraints': [models.UniqueConstraint(fields=('run', 'first'), name='nbcs_log_chunk_run_first')],
            },
        ),
        migrations.RunPython(entries_to_chunks, migrations.RunPython.noop),
        migrations.DeleteModel(
            name='RunLogEntry',
        ),
    ]
