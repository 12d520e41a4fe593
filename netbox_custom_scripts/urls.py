from django.urls import include, path
from utilities.urls import get_model_urls

from . import views  # noqa: F401  (registers the model views)

urlpatterns = (
    path('scripts/', include(get_model_urls('netbox_custom_scripts', 'script', detail=False))),
    path('scripts/<int:pk>/', include(get_model_urls('netbox_custom_scripts', 'script'))),
    path('runs/', include(get_model_urls('netbox_custom_scripts', 'scriptrun', detail=False))),
    path('runs/<int:pk>/', include(get_model_urls('netbox_custom_scripts', 'scriptrun'))),
    path('schedules/', include(get_model_urls('netbox_custom_scripts', 'schedule', detail=False))),
    path('schedules/<int:pk>/', include(get_model_urls('netbox_custom_scripts', 'schedule'))),
    path('modules/', include(get_model_urls('netbox_custom_scripts', 'scriptmodule', detail=False))),
    path('modules/<int:pk>/', include(get_model_urls('netbox_custom_scripts', 'scriptmodule'))),
)
