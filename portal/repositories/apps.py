from django.apps import AppConfig


class RepositoriesConfig(AppConfig):
    name = "portal.repositories"
    label = "repositories"

    def ready(self) -> None:
        # The registry asks the people side its questions through one interface; this app answers them.
        from portal.repositories.gate import PortalGate
        from registry_api import gate

        gate.install(PortalGate())
