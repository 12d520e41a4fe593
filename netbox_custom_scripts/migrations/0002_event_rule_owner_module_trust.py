import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


ACTION_TYPE = 'netbox_custom_scripts.run_script'


def record_owners(apps, schema_editor):
    """
    Existing rules that run a custom script get the user who last saved them (from the change log) as their owner;
    their runs need that user's rights from now on. A rule with no recorded author has no owner: its runs are refused
    until someone who may run the script saves it again.
    """
    EventRule = apps.get_model('extras', 'EventRule')
    EventRuleOwner = apps.get_model('netbox_custom_scripts', 'EventRuleOwner')
    ObjectChange = apps.get_model('core', 'ObjectChange')
    ContentType = apps.get_model('contenttypes', 'ContentType')
    rule_type = ContentType.objects.filter(app_label='extras', model='eventrule').first()
    if rule_type is None:
        return
    for rule in EventRule.objects.filter(action_type=ACTION_TYPE):
        change = ObjectChange.objects.filter(
            changed_object_type=rule_type, changed_object_id=rule.pk, action__in=('create', 'update'),
            user__isnull=False,
        ).order_by('-time').first()
        EventRuleOwner.objects.create(event_rule=rule, user_id=change.user_id if change else None)


def trust_current_data_sources(apps, schema_editor):
    """
    Data-source modules took every sync's code before this release: they go on trusting their data source as it is
    configured now (a later change of it by someone who may not change the module makes new code wait). The keyed
    hash is the one execution.sources.data_source_fingerprint() computes.
    """
    import hashlib
    import hmac
    import json

    from django.conf import settings
    from django.utils import timezone

    ScriptModule = apps.get_model('netbox_custom_scripts', 'ScriptModule')
    key = hashlib.sha256(b'netbox-custom-scripts:data-source:' + settings.SECRET_KEY.encode()).digest()
    now = timezone.now()
    for module in ScriptModule.objects.filter(data_source__isnull=False).select_related('data_source'):
        source = module.data_source
        payload = json.dumps({'type': source.type, 'url': source.source_url, 'parameters': source.parameters or {}},
                             sort_keys=True, default=str)
        module.source_trust = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
        module.source_trusted_since = now
        module.save(update_fields=('source_trust', 'source_trusted_since'))


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('core', '0026_populate_job_execution_time'),
        ('extras', '0144_customfield_status'),
        ('netbox_custom_scripts', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='scriptmodule',
            name='pending_revision',
            field=models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='netbox_custom_scripts.modulerevision'),
        ),
        migrations.AddField(
            model_name='scriptmodule',
            name='source_trust',
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='scriptmodule',
            name='source_trusted_since',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.CreateModel(
            name='EventRuleOwner',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ('saved', models.DateTimeField(auto_now=True)),
                ('event_rule', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='extras.eventrule')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'event rule owner',
                'verbose_name_plural': 'event rule owners',
            },
        ),
        migrations.RunPython(record_owners, migrations.RunPython.noop),
        migrations.RunPython(trust_current_data_sources, migrations.RunPython.noop),
    ]
