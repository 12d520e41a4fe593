"""Runs and schedules name the netbox-branching branch they run in (an ID and a name: branching is optional)."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('netbox_custom_scripts', '0004_log_chunks'),
    ]

    operations = [
        migrations.AddField(
            model_name='scriptrun',
            name='branch_id',
            field=models.PositiveBigIntegerField(blank=True, db_index=True, null=True, verbose_name='branch ID'),
        ),
        migrations.AddField(
            model_name='scriptrun',
            name='branch_name',
            field=models.CharField(
                blank=True, help_text='The netbox-branching branch the run executed in (empty: main)', max_length=100,
                verbose_name='branch',
            ),
        ),
        migrations.AddField(
            model_name='scriptrun',
            name='branch_staged',
            field=models.BooleanField(
                default=False,
                help_text='The run provisioned its branch and committed its changes there, for review and merge',
                verbose_name='staged in a new branch',
            ),
        ),
        migrations.AddField(
            model_name='schedule',
            name='branch_id',
            field=models.PositiveBigIntegerField(blank=True, null=True, verbose_name='branch ID'),
        ),
        migrations.AddField(
            model_name='schedule',
            name='branch_name',
            field=models.CharField(
                blank=True, help_text='Run in this netbox-branching branch (empty: main)', max_length=100,
                verbose_name='branch',
            ),
        ),
    ]
