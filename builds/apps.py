from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"
    label = "builds"

    def ready(self) -> None:
        from builds import metrics as build_metrics
        from portal import metrics

        metrics.on_scrape(build_metrics.collect)
