"""The link an e-mail notification's confirmation mail carries."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from notifications import services


@require_GET
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    confirmation = services.confirm_email(token)
    if confirmation is None:
        return HttpResponse("This confirmation link is not known (or its notification was removed).\n",
                            status=404, content_type="text/plain; charset=utf-8")
    return HttpResponse(f"{confirmation.address} is confirmed: it will get the notifications of "
                        f"{confirmation.notification.repository.full_name}.\n",
                        content_type="text/plain; charset=utf-8")
