from django.apps import AppConfig


class RegistryApiConfig(AppConfig):
    name = "registry_api"
    label = "registry_api"
