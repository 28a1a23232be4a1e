from django.urls import path

from notifications import views

urlpatterns = [
    path("notifications/confirm/<str:token>/", views.confirm, name="notification_confirm"),
]
