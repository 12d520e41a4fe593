from netbox.api.routers import NetBoxRouter

from . import views
from .views.migrate_builtin import MigrateBuiltinViewSet

app_name = 'netbox_custom_scripts-api'

router = NetBoxRouter()
router.APIRootView = views.CustomScriptsRootView
router.register('modules', views.ScriptModuleViewSet)
router.register('scripts', views.ScriptViewSet)
router.register('runs', views.ScriptRunViewSet)
router.register('schedules', views.ScheduleViewSet)
router.register('migrate-builtin', MigrateBuiltinViewSet, basename='migrate_builtin')

urlpatterns = router.urls
