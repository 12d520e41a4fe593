"""
Helpers for script authors' own tests (pytest with pytest-django, or Django's TestCase):

    from netbox_custom_scripts.testing import run_script_in_transaction

    def test_new_branch(db):
        run = run_script_in_transaction(NewBranchScript, {'site_name': 'x', 'switch_count': 2, ...}, commit=True)
        assert run.status == 'completed'
        assert Device.objects.filter(site__name='x').count() == 2
"""
from .execution import run_script_in_transaction

__all__ = (
    'run_script_in_transaction',
)
