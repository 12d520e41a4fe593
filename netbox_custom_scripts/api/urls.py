from netbox.api.routers import NetBoxRouter

from . import views

app_name = 'netbox_custom_scripts-api'

router = NetBoxRouter()
router.APIRootView = views.CustomScriptsRootView
router.register('modules', views.ScriptModuleViewSet)
router.register('scripts', views.ScriptViewSet)
router.register('runs', views.ScriptRunViewSet)
router.register('schedules', views.ScheduleViewSet)

urlpatterns = router.urls
