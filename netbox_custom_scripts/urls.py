from django.urls import include, path
from utilities.urls import get_model_urls

from . import views  # noqa: F401  (registers the model views)
from .views import migrate_builtin

urlpatterns = (
    path('scripts/', include(get_model_urls('netbox_custom_scripts', 'script', detail=False))),
    path('scripts/<int:pk>/', include(get_model_urls('netbox_custom_scripts', 'script'))),
    path('runs/', include(get_model_urls('netbox_custom_scripts', 'scriptrun', detail=False))),
    path('runs/<int:pk>/', include(get_model_urls('netbox_custom_scripts', 'scriptrun'))),
    path('schedules/', include(get_model_urls('netbox_custom_scripts', 'schedule', detail=False))),
    path('schedules/<int:pk>/', include(get_model_urls('netbox_custom_scripts', 'schedule'))),
    # Before the module list's own routes, so that "migrate-builtin" is never read as a module view.
    path('modules/migrate-builtin/', migrate_builtin.MigrateBuiltinView.as_view(), name='migrate_builtin'),
    path('modules/migrate-builtin/verify/', migrate_builtin.MigrateBuiltinVerifyView.as_view(),
         name='migrate_builtin_verify'),
    path('modules/migrate-builtin/cleanup/', migrate_builtin.MigrateBuiltinCleanupView.as_view(),
         name='migrate_builtin_cleanup'),
    path('modules/migrate-builtin/jobs/<int:pk>/', migrate_builtin.MigrateBuiltinJobView.as_view(),
         name='migrate_builtin_job'),
    path('modules/migrate-builtin/jobs/<int:pk>/status/', migrate_builtin.MigrateBuiltinJobStatusView.as_view(),
         name='migrate_builtin_job_status'),
    path('modules/', include(get_model_urls('netbox_custom_scripts', 'scriptmodule', detail=False))),
    path('modules/<int:pk>/', include(get_model_urls('netbox_custom_scripts', 'scriptmodule'))),
)
