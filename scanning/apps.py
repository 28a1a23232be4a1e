from django.apps import AppConfig


class ScanningConfig(AppConfig):
    name = "scanning"
    label = "scanning"

    def ready(self) -> None:
        from registry_api.signals import manifest_pushed
        from scanning import receivers

        manifest_pushed.connect(receivers.manifest_pushed, dispatch_uid="scanning.manifest_pushed")
