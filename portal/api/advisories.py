"""The vulnerability store, for superusers: /api/v1/superuser/advisories/ (its freshness) and …/imports/ (the
imports, and a new one from an uploaded OSV file or zip, or a URL, run by a worker: 202 with the run's id).

An upload is kept in blob storage until the worker has read it, so whichever node runs the task finds it
(scanning.tasks.import_advisories deletes it after).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.base import ApiView, ShallowJSONParser
from portal.api.permissions import require_superuser
from portal.broker import enqueue
from scanning import reports, tasks
from scanning.models import ImportRun

TAGS = ["superuser"]


class ImportRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField(help_text="The URL, or the uploaded file's name.")  # type: ignore[assignment]
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True, help_text="null while the import goes on.")
    records = serializers.IntegerField(help_text="Well-formed records read.")
    upserted = serializers.IntegerField(help_text="Records new or newer than the stored ones.")
    removed = serializers.IntegerField(help_text="Withdrawn records deleted.")
    errors = serializers.IntegerField(help_text="Malformed records skipped.")  # type: ignore[assignment]
    rematched = serializers.IntegerField(help_text="Images matched again.")
    ecosystems = serializers.DictField(child=serializers.IntegerField(), help_text="Records per ecosystem.")
    error = serializers.CharField(help_text="Why the import stopped, if it did.")


class StoreSerializer(serializers.Serializer):
    advisories = serializers.IntegerField()
    ecosystems = serializers.DictField(child=serializers.IntegerField(), help_text="Advisories per OSV ecosystem.")
    last_import = ImportRunSerializer(allow_null=True, help_text="The last import that finished.")


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="An OSV JSON file (one record or a list) or an "
                                                           "osv.dev ecosystem zip (multipart/form-data).")
    url = serializers.URLField(required=False, help_text="An http(s) URL of such a file (JSON body).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("file")) == bool(attrs.get("url")):
            raise serializers.ValidationError("Give either a file or a url.")
        if attrs.get("url") and not str(attrs["url"]).startswith(("http://", "https://")):
            raise serializers.ValidationError({"url": "Only http and https URLs are read."})
        return attrs


class AdvisoryStore(ApiView):
    @extend_schema(tags=TAGS, responses=StoreSerializer)
    def get(self, request: Request) -> Response:
        """How fresh the store is: advisories per ecosystem and the last import (superusers only)."""
        require_superuser(request, "see the advisory store")
        return Response(StoreSerializer(reports.freshness()).data)


class AdvisoryImports(ApiView):
    parser_classes = [ShallowJSONParser, MultiPartParser]

    @extend_schema(tags=TAGS, responses=ImportRunSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Imports, newest first (superusers only)."""
        require_superuser(request, "see advisory imports")
        return self.paginated(ImportRun.objects.order_by("-started_at", "-id"), ImportRunSerializer)

    @extend_schema(tags=TAGS, request={"multipart/form-data": ImportRequestSerializer,
                                       "application/json": ImportRequestSerializer},
                   responses={202: ImportRunSerializer})
    def post(self, request: Request) -> Response:
        """Import OSV advisories from an upload or a URL, in the background; the run's row says how it went."""
        require_superuser(request, "import advisories")
        serializer = ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload, url = serializer.validated_data.get("file"), serializer.validated_data.get("url")
        run = ImportRun.objects.create(source=(url or f"upload: {upload.name}")[:1024])
        source = url or tasks.keep_upload(upload.chunks(), run.pk)
        transaction.on_commit(lambda: _send(source, run.pk))
        return Response(ImportRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _send(source: str, run_id: int) -> None:
    if not enqueue(tasks.import_advisories, source, run_id):
        # The answer (202) is gone already; the run's row tells the superuser to try again.
        ImportRun.objects.filter(pk=run_id).update(error="the import could not be queued (the broker is down)",
                                                   finished_at=timezone.now())
