from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    label = "notifications"

    def ready(self) -> None:
        from builds.signals import build_event
        from notifications import receivers
        from registry_api.signals import manifest_pushed
        from scanning.signals import vulnerability_found

        manifest_pushed.connect(receivers.manifest_pushed, dispatch_uid="notifications.manifest_pushed")
        build_event.connect(receivers.build_event, dispatch_uid="notifications.build_event")
        vulnerability_found.connect(receivers.vulnerability_found, dispatch_uid="notifications.vulnerability_found")
